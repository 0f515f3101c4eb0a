package sim

import (
	"math"
	"testing"
	"time"
)

func TestParseUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want usageSpec
		err  bool
	}{
		{in: "250m", want: usageSpec{from: 0.25, to: 0.25}},
		{in: "2", want: usageSpec{from: 2, to: 2}},
		{in: "64Mi", want: usageSpec{from: 64 << 20, to: 64 << 20}},
		{in: " 100m->900m/60s ", want: usageSpec{from: 0.1, to: 0.9, ramp: time.Minute}},
		{in: "1Gi->256Mi/1m30s", want: usageSpec{from: 1 << 30, to: 256 << 20, ramp: 90 * time.Second}},
		{in: "", err: true},
		{in: "lots", err: true},
		{in: "-1", err: true},
		{in: "100m->900m", err: true},
		{in: "100m->900m/0s", err: true},
		{in: "100m->900m/-5s", err: true},
		{in: "100m->x/5s", err: true},
		{in: "->1/5s", err: true},
		{in: "1->2/soon", err: true},
	} {
		got, err := parseUsage(tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("%q: want an error, got %+v", tc.in, got)
			}
			continue
		}
		if err != nil || math.Abs(got.from-tc.want.from) > 1e-9 || math.Abs(got.to-tc.want.to) > 1e-9 || got.ramp != tc.want.ramp {
			t.Errorf("%q = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestUsageRamp(t *testing.T) {
	t.Parallel()
	u := usageSpec{from: 0.1, to: 0.9, ramp: time.Minute}
	for _, tc := range []struct {
		d         time.Duration
		at, total float64
	}{
		{d: -time.Second, at: 0, total: 0},
		{d: 0, at: 0.1, total: 0},
		{d: 30 * time.Second, at: 0.5, total: 0.1*30 + 0.8*30*30/120},
		{d: time.Minute, at: 0.9, total: 30},
		{d: 2 * time.Minute, at: 0.9, total: 30 + 54},
	} {
		if got := u.at(tc.d); math.Abs(got-tc.at) > 1e-9 {
			t.Errorf("at(%s) = %v, want %v", tc.d, got, tc.at)
		}
		if got := u.total(tc.d); math.Abs(got-tc.total) > 1e-9 {
			t.Errorf("total(%s) = %v, want %v", tc.d, got, tc.total)
		}
	}
	flat := usageSpec{from: 0.25, to: 0.25}
	if flat.at(time.Hour) != 0.25 || math.Abs(flat.total(10*time.Second)-2.5) > 1e-9 {
		t.Errorf("flat: %v %v", flat.at(time.Hour), flat.total(10*time.Second))
	}
}
