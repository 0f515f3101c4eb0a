package printers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestAge follows upstream's translateTimestampSince, i.e. HumanDuration.
func TestAge(t *testing.T) {
	tests := []struct {
		created time.Time
		want    string
	}{
		{time.Time{}, "<unknown>"},
		{testNow, "0s"},
		{testNow.Add(time.Second), "0s"}, // clock skew never prints negatives
		{testNow.Add(-59 * time.Second), "59s"},
		{testNow.Add(-119 * time.Second), "119s"},
		{testNow.Add(-5*time.Minute - 30*time.Second), "5m30s"},
		{testNow.Add(-15 * time.Minute), "15m"},
		{testNow.Add(-3*time.Hour - 20*time.Minute), "3h20m"},
		{testNow.Add(-26 * time.Hour), "26h"},
		{testNow.Add(-3*24*time.Hour - 4*time.Hour), "3d4h"},
		{testNow.Add(-40 * 24 * time.Hour), "40d"},
		{testNow.Add(-3 * 365 * 24 * time.Hour), "3y"},
	}
	for _, tt := range tests {
		if got := age(metav1.NewTime(tt.created), testNow); got != tt.want {
			t.Errorf("age(%v before) = %q, want %q", testNow.Sub(tt.created), got, tt.want)
		}
	}
	if got := microAge(metav1.MicroTime{}, testNow); got != "<unknown>" {
		t.Errorf("zero micro time: %q", got)
	}
}

func TestAgeColumnUsesNow(t *testing.T) {
	rows, err := Rows(kindCases()["ConfigMap"].list, testNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got := rows[0].Cells[2]; got != "65m" {
		t.Fatalf("AGE an hour later = %v, want 65m", got)
	}
}
