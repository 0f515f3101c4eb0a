package sim

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/flotilla-io/flotilla/pkg/extensions"
)

// The usage annotations of pods on simulated nodes (package extensions
// describes them).
const (
	AnnotationCPU    = extensions.SimCPUAnnotation
	AnnotationMemory = extensions.SimMemoryAnnotation
)

// usageSpec is one usage annotation: from at the start, moving linearly
// to to over ramp, then holding (ramp 0: to from the start). Values are
// in cores or bytes.
type usageSpec struct {
	from, to float64
	ramp     time.Duration
}

// parseUsage reads "QUANTITY" or "FROM->TO/DURATION", e.g. "250m",
// "64Mi", "100m->900m/60s".
func parseUsage(s string) (usageSpec, error) {
	s = strings.TrimSpace(s)
	from, rest, isRamp := strings.Cut(s, "->")
	if !isRamp {
		v, err := parseAmount(s)
		return usageSpec{from: v, to: v}, err
	}
	i := strings.LastIndex(rest, "/")
	if i < 0 {
		return usageSpec{}, fmt.Errorf("%q: a ramp is FROM->TO/DURATION, e.g. 100m->900m/60s", s)
	}
	var u usageSpec
	var err error
	if u.from, err = parseAmount(from); err != nil {
		return u, err
	}
	if u.to, err = parseAmount(rest[:i]); err != nil {
		return u, err
	}
	if u.ramp, err = time.ParseDuration(strings.TrimSpace(rest[i+1:])); err != nil {
		return u, fmt.Errorf("%q: ramp duration: %w", s, err)
	}
	if u.ramp <= 0 {
		return u, fmt.Errorf("%q: the ramp duration must be positive", s)
	}
	return u, nil
}

func parseAmount(s string) (float64, error) {
	q, err := resource.ParseQuantity(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	if q.Sign() < 0 {
		return 0, fmt.Errorf("%q: usage must not be negative", s)
	}
	return q.AsApproximateFloat64(), nil
}

// at is the usage d after the start (nothing before it).
func (u usageSpec) at(d time.Duration) float64 {
	switch {
	case d < 0:
		return 0
	case d >= u.ramp:
		return u.to
	}
	return u.from + (u.to-u.from)*d.Seconds()/u.ramp.Seconds()
}

// total is the usage integrated over the first d after the start: for
// CPU, the core-seconds spent.
func (u usageSpec) total(d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	r, t := u.ramp.Seconds(), d.Seconds()
	if d < u.ramp {
		return u.from*t + (u.to-u.from)*t*t/(2*r)
	}
	return (u.from+u.to)*r/2 + u.to*(t-r)
}
