package sim

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/flotilla-io/flotilla/pkg/extensions"
)

// Annotations understood by simulated nodes.
const (
	// AnnotationSimulated marks the nodes this package registers.
	AnnotationSimulated = extensions.SimulatedNodeAnnotation
	// AnnotationExitAfter (a Go duration) makes a pod's containers exit
	// that long after they start.
	AnnotationExitAfter = "flotilla.io/sim-exit-after"
	// AnnotationExitCode is their exit code (default 0).
	AnnotationExitCode = "flotilla.io/sim-exit-code"
)

// exitPlan is when and how a pod's containers exit.
type exitPlan struct {
	after time.Duration
	code  int32
}

// exitPlanOf reads a pod's exit annotations; ok is false when the pod
// runs until deleted.
func exitPlanOf(pod *corev1.Pod) (plan exitPlan, ok bool, err error) {
	after, found := pod.Annotations[AnnotationExitAfter]
	if !found {
		return exitPlan{}, false, nil
	}
	if plan.after, err = time.ParseDuration(after); err != nil || plan.after < 0 {
		return exitPlan{}, false, fmt.Errorf("annotation %s=%q: want a non-negative Go duration such as 2s", AnnotationExitAfter, after)
	}
	if code, found := pod.Annotations[AnnotationExitCode]; found {
		n, err := strconv.ParseInt(code, 10, 32)
		if err != nil || n < 0 || n > 255 {
			return exitPlan{}, false, fmt.Errorf("annotation %s=%q: want an exit code from 0 to 255", AnnotationExitCode, code)
		}
		plan.code = int32(n)
	}
	return plan, true, nil
}

// afterExit is what follows the exit of a pod's containers.
type afterExit int

const (
	restartContainers afterExit = iota
	podSucceeds
	podFails
)

// outcome applies the pod's restart policy to an exit code, as the
// kubelet does for a pod whose containers all exited with it.
func outcome(policy corev1.RestartPolicy, code int32) afterExit {
	switch {
	case policy == corev1.RestartPolicyNever && code == 0,
		policy == corev1.RestartPolicyOnFailure && code == 0:
		return podSucceeds
	case policy == corev1.RestartPolicyNever:
		return podFails
	default: // Always, or OnFailure with a failure
		return restartContainers
	}
}

// terminationReason is the reason a terminated container shows.
func terminationReason(code int32) string {
	if code == 0 {
		return "Completed"
	}
	return "Error"
}
