package volumes

import (
	"context"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// refreshEvery is how often a running pod's API-backed volumes are
// rewritten from the current ConfigMaps, Secrets and pod metadata (the
// kubelet syncs them about once a minute).
const refreshEvery = 10 * time.Second

// maxTokenAge is the age at which a token is renewed however long it
// still has (the kubelet's token manager renews after a day too).
const maxTokenAge = 24 * time.Hour

// refresher remembers when each pod's volumes were last written and which
// service account tokens it holds, so tokens are renewed once 80 % of
// their lifetime has passed (or a day), as the kubelet's token manager
// does, rather than at every refresh.
type refresher struct {
	mu     sync.Mutex
	last   map[string]time.Time   // pod UID -> last refresh
	tokens map[string]cachedToken // pod UID/volume/source -> token
	now    func() time.Time       // time.Now if nil; tests move it
}

func (r *refresher) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now()
}

// renewAt is when a token valid from issued until expires is renewed.
func renewAt(issued, expires time.Time) time.Time {
	at := issued.Add(expires.Sub(issued) * 8 / 10)
	if day := issued.Add(maxTokenAge); day.Before(at) {
		at = day
	}
	return at
}

type cachedToken struct {
	token   []byte
	renewAt time.Time
}

func (r *refresher) due(pod *corev1.Pod, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		r.last = map[string]time.Time{}
	}
	if now.Sub(r.last[string(pod.UID)]) < refreshEvery {
		return false
	}
	r.last[string(pod.UID)] = now
	return true
}

func (r *refresher) token(key string, now time.Time) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.tokens[key]
	if !ok || now.After(t.renewAt) {
		return nil, false
	}
	return t.token, true
}

// keep remembers a token valid from issued until expires.
func (r *refresher) keep(key string, token []byte, issued, expires time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tokens == nil {
		r.tokens = map[string]cachedToken{}
	}
	r.tokens[key] = cachedToken{token: token, renewAt: renewAt(issued, expires)}
}

// Forget drops what is remembered of a pod that went.
func (m *Manager) Forget(uid types.UID) { m.refresh.forget(string(uid)) }

func (r *refresher) forget(uid string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.last, uid)
	for k := range r.tokens {
		if len(k) > len(uid) && k[:len(uid)] == uid && k[len(uid)] == '/' {
			delete(r.tokens, k)
		}
	}
}

// Refresh rewrites a running pod's configMap, secret, downwardAPI and
// projected volumes in place, so changed objects (and renewed tokens)
// reach the containers without a restart.
func (m *Manager) Refresh(ctx context.Context, pod *corev1.Pod) {
	if !m.refresh.due(pod, m.refresh.clock()) {
		return
	}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.ConfigMap == nil && v.Secret == nil && v.DownwardAPI == nil && v.Projected == nil {
			continue
		}
		if _, _, err := m.prepare(ctx, pod, v); err != nil {
			m.cfg.Log.Debug("refresh volume", "pod", pod.Namespace+"/"+pod.Name, "volume", v.Name, "err", err)
		}
	}
}

// RetainPods drops the refresh times and tokens of every pod live says
// is gone and returns how many pods it dropped.
func (m *Manager) RetainPods(live func(types.UID) bool) int {
	return m.refresh.retain(live)
}

// PodCount is how many pods refresh times or tokens are kept for.
func (m *Manager) PodCount() int { return len(m.refresh.pods()) }

func (r *refresher) retain(live func(types.UID) bool) int {
	n := 0
	for uid := range r.pods() {
		if !live(types.UID(uid)) {
			r.forget(uid)
			n++
		}
	}
	return n
}

// pods are the UIDs the refresher remembers something of.
func (r *refresher) pods() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]bool{}
	for uid := range r.last {
		out[uid] = true
	}
	for k := range r.tokens {
		if uid, _, ok := strings.Cut(k, "/"); ok {
			out[uid] = true
		}
	}
	return out
}
