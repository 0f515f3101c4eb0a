package job

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	batchv1 "k8s.io/api/batch/v1"
)

// noIndex is the index of a pod without a valid completion index.
const noIndex = -1

// interval is a closed range of completion indexes.
type interval struct{ first, last int }

// intervals is a sorted, disjoint, non-adjacent list of index ranges: the
// form of status.completedIndexes and status.failedIndexes.
type intervals []interval

// parseIntervals reads "1,3-5"; indexes at or beyond limit are dropped,
// malformed parts are skipped (as upstream, which logs them).
func parseIntervals(s string, limit int) intervals {
	var out intervals
	if s == "" {
		return out
	}
	var idx []int
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(lo)
		if err != nil || first < 0 {
			continue
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(hi); err != nil || last < first {
				continue
			}
		}
		for i := first; i <= last && i < limit; i++ {
			idx = append(idx, i)
		}
	}
	return out.with(idx...)
}

// with returns the union of v and the given indexes.
func (v intervals) with(idx ...int) intervals {
	if len(idx) == 0 {
		return v
	}
	all := slices.Clone(idx)
	for _, r := range v {
		for i := r.first; i <= r.last; i++ {
			all = append(all, i)
		}
	}
	slices.Sort(all)
	all = slices.Compact(all)
	var out intervals
	for _, i := range all {
		if n := len(out); n > 0 && out[n-1].last+1 == i {
			out[n-1].last = i
			continue
		}
		out = append(out, interval{i, i})
	}
	return out
}

func (v intervals) has(i int) bool {
	for _, r := range v {
		if i >= r.first && i <= r.last {
			return true
		}
	}
	return false
}

func (v intervals) total() int {
	n := 0
	for _, r := range v {
		n += r.last - r.first + 1
	}
	return n
}

func (v intervals) String() string {
	var b strings.Builder
	for i, r := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(r.first))
		switch {
		case r.last == r.first+1:
			fmt.Fprintf(&b, ",%d", r.last)
		case r.last > r.first:
			fmt.Fprintf(&b, "-%d", r.last)
		}
	}
	return b.String()
}

// completionIndex is the index a pod's annotation names, or noIndex.
func completionIndex(p *corev1.Pod) int {
	s, ok := p.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		return noIndex
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 {
		return noIndex
	}
	return i
}

// indexFailureCount is how many earlier pods of the pod's index failed.
func indexFailureCount(p *corev1.Pod) int {
	n, err := strconv.Atoi(p.Annotations[batchv1.JobIndexFailureCountAnnotation])
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func isIndexed(j *batchv1.Job) bool {
	return j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion
}

func hasBackoffLimitPerIndex(j *batchv1.Job) bool {
	return isIndexed(j) && j.Spec.BackoffLimitPerIndex != nil
}
