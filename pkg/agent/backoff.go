package agent

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

// Restart back-off as upstream: 10 s doubling to 5 min, forgotten after
// a container ran 10 min.
const (
	backoffInitial = 10 * time.Second
	backoffMax     = 5 * time.Minute
	backoffReset   = 10 * time.Minute
)

type restartBackoff struct {
	delay     time.Duration
	notBefore time.Time
	pullFails int
}

func backoffKey(pod *corev1.Pod, container string) string {
	return string(pod.UID) + "/" + container
}

// mayRestart reports whether container may start again now; otherwise it
// records CrashLoopBackOff as its waiting reason.
func (a *Agent) mayRestart(pod *corev1.Pod, container string, last *runtimeapi.ContainerStatus, run *podrun.Run) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	key := backoffKey(pod, container)
	b := a.backoffs[key]
	finished := time.Unix(0, last.FinishedAt)
	started := time.Unix(0, last.StartedAt)
	if b == nil || finished.Sub(started) >= backoffReset {
		b = &restartBackoff{}
		a.backoffs[key] = b
	}
	now := time.Now()
	if b.notBefore.IsZero() {
		// The first restart is immediate; the next wait 10 s, 20 s, ...
		b.delay = backoffInitial / 2
		b.notBefore = finished
	}
	if now.Before(b.notBefore) {
		run.Waiting[container] = podrun.Waiting{Reason: "CrashLoopBackOff", Message: "back-off " + b.delay.String() + " restarting failed container=" + container + " pod=" + pod.Name + "_" + pod.Namespace + "(" + string(pod.UID) + ")"}
		return false
	}
	b.delay = min(b.delay*2, backoffMax)
	b.notBefore = now.Add(b.delay)
	return true
}

// pullFailedBefore counts image pull failures so the second one reads
// ImagePullBackOff, as upstream.
func (a *Agent) pullFailedBefore(pod *corev1.Pod, container string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	key := backoffKey(pod, container) + "/pull"
	b := a.backoffs[key]
	if b == nil {
		b = &restartBackoff{}
		a.backoffs[key] = b
	}
	b.pullFails++
	return b.pullFails > 1
}

func (a *Agent) forgetBackoffs(pod *corev1.Pod) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k := range a.backoffs {
		if strings.HasPrefix(k, string(pod.UID)+"/") {
			delete(a.backoffs, k)
		}
	}
}
