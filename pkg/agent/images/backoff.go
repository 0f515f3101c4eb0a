package images

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/flowcontrol"
)

// Image pull back-off as the kubelet's: after a failed pull the next one
// waits 10 s, doubling to at most 5 min; until then the container reads
// ImagePullBackOff and the registry is not asked.
const (
	pullBackoffInitial = 10 * time.Second
	pullBackoffMax     = 300 * time.Second
)

// Waiting reasons of a container whose image is not there, as upstream.
const (
	ReasonErrImagePull     = "ErrImagePull"
	ReasonImagePullBackOff = "ImagePullBackOff"
	// ReasonErrImageNeverPull: pull policy Never and the image is missing.
	ReasonErrImageNeverPull = "ErrImageNeverPull"
)

// PullError is why a container's image is not there: Reason is the
// container's waiting reason, Message its waiting message.
type PullError struct {
	Reason  string
	Message string
}

func (e *PullError) Error() string { return e.Message }

// ReasonOf is err's waiting reason (ErrImagePull for errors that are not
// a PullError).
func ReasonOf(err error) string {
	var pe *PullError
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return ReasonErrImagePull
}

// pullBackoff remembers failed pulls by pod and image, with the error
// of the last one for the waiting message.
type pullBackoff struct {
	backoff *flowcontrol.Backoff

	mu      sync.Mutex
	lastErr map[string]string
}

func newPullBackoff(b *flowcontrol.Backoff) *pullBackoff {
	return &pullBackoff{backoff: b, lastErr: map[string]string{}}
}

func pullKey(pod *corev1.Pod, image string) string { return string(pod.UID) + "_" + image }

// waiting returns the back-off error when key may not be pulled yet.
func (b *pullBackoff) waiting(key, image string) *PullError {
	if !b.backoff.IsInBackOffSinceUpdate(key, b.backoff.Clock.Now()) {
		return nil
	}
	msg := fmt.Sprintf("Back-off pulling image %q", image)
	b.mu.Lock()
	prev, ok := b.lastErr[key]
	b.mu.Unlock()
	if ok {
		msg += ": " + prev
	}
	return &PullError{Reason: ReasonImagePullBackOff, Message: msg}
}

// failed records a failed pull of key: the next waits longer.
func (b *pullBackoff) failed(key string, err error) {
	now := b.backoff.Clock.Now()
	b.backoff.Next(key, now)
	b.mu.Lock()
	b.lastErr[key] = err.Error()
	b.mu.Unlock()
	b.gc()
}

// succeeded forgets key's failures.
func (b *pullBackoff) succeeded(key string) {
	b.backoff.Reset(key)
	b.mu.Lock()
	delete(b.lastErr, key)
	b.mu.Unlock()
}

// gc drops the back-offs (and errors) of keys that have not failed for
// twice the longest delay: pods that went or images that came.
func (b *pullBackoff) gc() {
	b.backoff.GC()
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.lastErr {
		if b.backoff.Get(k) == 0 {
			delete(b.lastErr, k)
		}
	}
}

// RetainPods drops the pull back-offs of every pod live says is gone
// and returns how many pods it dropped.
func (p *Puller) RetainPods(live func(types.UID) bool) int {
	return p.backoff.retain(live)
}

// PodCount is how many pods have a pull back-off or a remembered error.
func (p *Puller) PodCount() int { return len(p.backoff.pods()) }

// pods are the keys by pod UID. Every back-off entry has its error in
// lastErr: failed writes both, succeeded and gc drop both.
func (b *pullBackoff) pods() map[types.UID][]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[types.UID][]string{}
	for k := range b.lastErr {
		uid, _, _ := strings.Cut(k, "_")
		out[types.UID(uid)] = append(out[types.UID(uid)], k)
	}
	return out
}

func (b *pullBackoff) retain(live func(types.UID) bool) int {
	n := 0
	for uid, keys := range b.pods() {
		if live(uid) {
			continue
		}
		for _, k := range keys {
			b.succeeded(k)
		}
		n++
	}
	return n
}
