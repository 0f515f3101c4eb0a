package job

import (
	"testing"
	"time"
)

func TestIntervals(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit int
		add   []int
		want  string
		total int
	}{
		{"", 10, nil, "", 0},
		{"", 10, []int{0, 1, 2}, "0-2", 3},
		{"1,3-5", 10, nil, "1,3-5", 4},
		{"1,3-5", 10, []int{2}, "1-5", 5},
		{"1", 10, []int{2}, "1,2", 2},
		{"1,3-5", 4, nil, "1,3", 2},
		{"0-2,x,7-5,9", 10, []int{4}, "0-2,4,9", 5},
		{"5", 10, []int{7, 6, 5}, "5-7", 3},
	} {
		got := parseIntervals(tc.in, tc.limit).with(tc.add...)
		if got.String() != tc.want || got.total() != tc.total {
			t.Errorf("%q+%v: got %q (%d), want %q (%d)", tc.in, tc.add, got.String(), got.total(), tc.want, tc.total)
		}
	}
	v := parseIntervals("1,3-5", 10)
	for i, want := range []bool{false, true, false, true, true, true, false} {
		if v.has(i) != want {
			t.Errorf("has(%d) = %v", i, !want)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	base, max := 10*time.Second, 6*time.Minute
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{
		{0, 0}, {1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second},
		{6, 320 * time.Second}, {7, 6 * time.Minute}, {60, 6 * time.Minute},
	} {
		if got := backoffDelay(tc.failures, base, max); got != tc.want {
			t.Errorf("%d failures: %v, want %v", tc.failures, got, tc.want)
		}
	}
	var s backoffStore
	now := time.Now()
	s.record("k", false, 2, now)
	if r := s.get("k").remaining(now.Add(5*time.Second), base, max); r != 15*time.Second {
		t.Errorf("remaining %v", r)
	}
	s.record("k", true, 0, now)
	if r := s.get("k").remaining(now, base, max); r != 0 {
		t.Errorf("after success: %v", r)
	}
}
