package printers

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	settingsv1alpha1 "github.com/flotilla-io/flotilla/pkg/apis/settings/v1alpha1"
)

// PodPresets print as upstream 1.19 printed them: NAME and AGE.
func TestPodPresetTable(t *testing.T) {
	t.Parallel()
	list := &settingsv1alpha1.PodPresetList{Items: []settingsv1alpha1.PodPreset{
		{ObjectMeta: metav1.ObjectMeta{Name: "allow-database", CreationTimestamp: *ago(90 * time.Second)}},
	}}
	cols, ok := Columns(list)
	if !ok || len(cols) != 2 || cols[0].Name != "Name" || cols[1].Name != "Age" {
		t.Fatalf("columns %+v", cols)
	}
	rows, err := Rows(list, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{"allow-database", "90s"}; len(rows) != 1 || !reflect.DeepEqual(rows[0].Cells, want) {
		t.Errorf("rows %+v, want cells %v", rows, want)
	}
}
