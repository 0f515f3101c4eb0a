package podworker

import (
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
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
}

// backoffs are the restart back-offs of a node's containers, by pod UID and container name.
type backoffs struct {
	mu    sync.Mutex
	byKey map[string]*restartBackoff
}

func backoffKey(pod *corev1.Pod, container string) string {
	return string(pod.UID) + "/" + container
}

// mayRestart reports whether container may start again now; otherwise it
// records CrashLoopBackOff as its waiting reason.
func (bs *backoffs) mayRestart(pod *corev1.Pod, container string, last *runtimeapi.ContainerStatus, run *podrun.Run) bool {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	key := backoffKey(pod, container)
	if bs.byKey == nil {
		bs.byKey = map[string]*restartBackoff{}
	}
	b := bs.byKey[key]
	finished := time.Unix(0, last.FinishedAt)
	started := time.Unix(0, last.StartedAt)
	if b == nil || finished.Sub(started) >= backoffReset {
		b = &restartBackoff{}
		bs.byKey[key] = b
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

// forget drops the back-offs of a pod that went.
func (bs *backoffs) forget(uid types.UID) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	for k := range bs.byKey {
		if strings.HasPrefix(k, string(uid)+"/") {
			delete(bs.byKey, k)
		}
	}
}

// RetainPods drops the back-offs of every pod live says is gone and
// returns how many pods it dropped.
func (bs *backoffs) RetainPods(live func(types.UID) bool) int {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	gone := map[string]bool{}
	for k := range bs.byKey {
		uid, _, _ := strings.Cut(k, "/")
		if gone[uid] || !live(types.UID(uid)) {
			gone[uid] = true
			delete(bs.byKey, k)
		}
	}
	return len(gone)
}

// PodCount is how many pods have a restart back-off.
func (bs *backoffs) PodCount() int {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	pods := map[string]bool{}
	for k := range bs.byKey {
		uid, _, _ := strings.Cut(k, "/")
		pods[uid] = true
	}
	return len(pods)
}
