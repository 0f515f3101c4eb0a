package replicaset

import (
	"context"
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// computeStatus is w's status given its active pods (owned), the
// namespace's pods (all) and how managing them went. managed says whether
// this sync created or deleted pods (or found nothing to do).
func (c *Controller) computeStatus(w *workload, owned, all []*corev1.Pod, managed bool, manageErr error) status {
	now := c.now()
	st := status{replicas: int32(len(owned)), observedGeneration: w.meta.Generation}
	var template labels.Selector
	if w.template != nil && len(w.template.Labels) > 0 {
		template = labels.SelectorFromSet(w.template.Labels)
	}
	for _, p := range owned {
		if template != nil && template.Matches(labels.Set(p.Labels)) {
			st.fullyLabeled++
		}
		if podutil.IsPodReady(p) {
			st.ready++
		}
		if podutil.IsPodAvailable(p, w.minReadySeconds, now) {
			st.available++
		}
	}
	if c.kind.countsTerminating() {
		var n int32
		for _, p := range all {
			if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == w.meta.UID && isTerminating(p) && w.selector.Matches(labels.Set(p.Labels)) {
				n++
			}
		}
		st.terminating = &n
	}

	st.conditions = append([]condition(nil), w.status.conditions...)
	i := findCondition(st.conditions, replicaFailure)
	switch {
	case manageErr != nil && i < 0:
		reason := "FailedCreate"
		if len(owned) > int(w.replicas) {
			reason = "FailedDelete"
		}
		st.conditions = append(st.conditions, condition{
			typ: replicaFailure, status: corev1.ConditionTrue, lastTransitionTime: metav1.NewTime(now), reason: reason, message: manageErr.Error(),
		})
	case managed && manageErr == nil && i >= 0:
		// Cleared only by a sync that managed pods successfully, not by
		// one that waited on expectations.
		st.conditions = append(st.conditions[:i], st.conditions[i+1:]...)
	}
	if len(st.conditions) == 0 {
		st.conditions = nil
	}
	return st
}

func findCondition(cs []condition, typ string) int {
	for i, c := range cs {
		if c.typ == typ {
			return i
		}
	}
	return -1
}

// writeStatus writes st if it differs from w's.
func (c *Controller) writeStatus(ctx context.Context, w *workload, st status) error {
	if sameStatus(w.status, st) {
		return nil
	}
	if err := c.kind.writeStatus(ctx, w, st); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("update status: %w", err)
	}
	return nil
}

func sameStatus(a, b status) bool {
	if (a.terminating == nil) != (b.terminating == nil) || (a.terminating != nil && *a.terminating != *b.terminating) {
		return false
	}
	a.terminating, b.terminating = nil, nil
	if len(a.conditions) == 0 && len(b.conditions) == 0 {
		a.conditions, b.conditions = nil, nil
	}
	return reflect.DeepEqual(a, b)
}
