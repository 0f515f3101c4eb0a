package agent

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// refreshEvery is how often a running pod's API-backed volumes are
// rewritten from the current ConfigMaps, Secrets and pod metadata (the
// kubelet syncs them about once a minute).
const refreshEvery = 10 * time.Second

// volumeRefresher remembers when each pod's volumes were last written and
// which service account tokens it holds, so tokens are renewed at 80 % of
// their lifetime rather than at every refresh.
type volumeRefresher struct {
	mu     sync.Mutex
	last   map[string]time.Time   // pod UID -> last refresh
	tokens map[string]cachedToken // pod UID/volume/source -> token
}

type cachedToken struct {
	token   []byte
	renewAt time.Time
}

func (r *volumeRefresher) due(pod *corev1.Pod, now time.Time) bool {
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

func (r *volumeRefresher) token(key string, now time.Time) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.tokens[key]
	if !ok || now.After(t.renewAt) {
		return nil, false
	}
	return t.token, true
}

func (r *volumeRefresher) keep(key string, token []byte, ttl time.Duration, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tokens == nil {
		r.tokens = map[string]cachedToken{}
	}
	r.tokens[key] = cachedToken{token: token, renewAt: now.Add(ttl * 8 / 10)}
}

// forget drops what is remembered of a pod that went.
func (r *volumeRefresher) forget(uid string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.last, uid)
	for k := range r.tokens {
		if len(k) > len(uid) && k[:len(uid)] == uid && k[len(uid)] == '/' {
			delete(r.tokens, k)
		}
	}
}

// refreshVolumes rewrites a running pod's configMap, secret, downwardAPI
// and projected volumes in place, so changed objects (and renewed tokens)
// reach the containers without a restart.
func (a *Agent) refreshVolumes(ctx context.Context, pod *corev1.Pod) {
	if !a.volumes.due(pod, time.Now()) {
		return
	}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.ConfigMap == nil && v.Secret == nil && v.DownwardAPI == nil && v.Projected == nil {
			continue
		}
		if _, _, err := a.prepareVolume(ctx, pod, v); err != nil {
			a.log.Debug("refresh volume", "pod", pod.Namespace+"/"+pod.Name, "volume", v.Name, "err", err)
		}
	}
}
