package containers

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// maxWarned bounds the warnings remembered; past it the memory starts
// over (a pod may then see a repeated warning once more).
const maxWarned = 4096

// eventTimeout bounds recording one warning: Sandbox, which finds most of
// them, is given no context by the pod worker.
const eventTimeout = 10 * time.Second

// warnedSet remembers the warnings recorded per pod. A pod's configs are
// built at every sync, and the same cut resolv.conf must not add an Event
// each time (the kubelet's event correlator folds such repeats into one).
type warnedSet struct {
	mu   sync.Mutex
	seen map[string]struct{}
}

// first says whether key is new, and remembers it.
func (w *warnedSet) first(key string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.seen[key]; ok {
		return false
	}
	if w.seen == nil || len(w.seen) >= maxWarned {
		w.seen = map[string]struct{}{}
	}
	w.seen[key] = struct{}{}
	return true
}

// warner records a warning Event about pod, once per pod and message.
func (b *Builder) warner(pod *corev1.Pod) func(reason, msg string) {
	return func(reason, msg string) {
		if b.cfg.Events == nil || !b.warned.first(string(pod.UID)+"\x00"+reason+"\x00"+msg) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
		defer cancel()
		b.cfg.Events.Event(ctx, pod, corev1.EventTypeWarning, reason, msg)
	}
}
