package volumes

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// refreshEvery is how often a running pod's API-backed volumes are
// rewritten from the current ConfigMaps, Secrets and pod metadata (the
// kubelet syncs them about once a minute).
const refreshEvery = 10 * time.Second

// refresher remembers when each pod's volumes were last written and which
// service account tokens it holds, so tokens are renewed at 80 % of their
// lifetime rather than at every refresh.
type refresher struct {
	mu     sync.Mutex
	last   map[string]time.Time   // pod UID -> last refresh
	tokens map[string]cachedToken // pod UID/volume/source -> token
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

func (r *refresher) keep(key string, token []byte, ttl time.Duration, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tokens == nil {
		r.tokens = map[string]cachedToken{}
	}
	r.tokens[key] = cachedToken{token: token, renewAt: now.Add(ttl * 8 / 10)}
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
	if !m.refresh.due(pod, time.Now()) {
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
