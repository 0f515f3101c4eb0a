package volumes

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/downward"
)

// projectedData merges a projected volume's sources into one key space.
// Service-account tokens come from the TokenRequest API, bound to the
// pod, and are renewed as the refresher decides.
func (m *Manager) projectedData(ctx context.Context, pod *corev1.Pod, p *corev1.ProjectedVolumeSource) (map[string][]byte, []corev1.KeyToPath, error) {
	data := map[string][]byte{}
	var items []corev1.KeyToPath
	add := func(prefix string, src map[string][]byte, sel []corev1.KeyToPath) error {
		if len(sel) == 0 {
			for k := range src {
				sel = append(sel, corev1.KeyToPath{Key: k, Path: k})
			}
		}
		for _, it := range sel {
			b, ok := src[it.Key]
			if !ok {
				return fmt.Errorf("key %q not found", it.Key)
			}
			key := prefix + "/" + it.Key
			data[key] = b
			items = append(items, corev1.KeyToPath{Key: key, Path: it.Path, Mode: it.Mode})
		}
		return nil
	}
	for i, src := range p.Sources {
		prefix := fmt.Sprint(i)
		switch {
		case src.ConfigMap != nil:
			m, found, err := m.cfg.Objects.ConfigMapData(ctx, pod.Namespace, src.ConfigMap.Name, src.ConfigMap.Optional)
			if err != nil {
				return nil, nil, err
			}
			if found {
				if err := add(prefix, m, src.ConfigMap.Items); err != nil {
					return nil, nil, err
				}
			}
		case src.Secret != nil:
			m, found, err := m.cfg.Objects.SecretData(ctx, pod.Namespace, src.Secret.Name, src.Secret.Optional)
			if err != nil {
				return nil, nil, err
			}
			if found {
				if err := add(prefix, m, src.Secret.Items); err != nil {
					return nil, nil, err
				}
			}
		case src.DownwardAPI != nil:
			m, err := downward.Files(pod, src.DownwardAPI.Items, m.cfg.Allocatable())
			if err != nil {
				return nil, nil, err
			}
			var sel []corev1.KeyToPath
			for _, it := range src.DownwardAPI.Items {
				sel = append(sel, corev1.KeyToPath{Key: it.Path, Path: it.Path, Mode: it.Mode})
			}
			if err := add(prefix, m, sel); err != nil {
				return nil, nil, err
			}
		case src.ServiceAccountToken != nil:
			key := string(pod.UID) + "/" + prefix + "/" + src.ServiceAccountToken.Path + "/" + src.ServiceAccountToken.Audience
			token, ok := m.refresh.token(key, m.refresh.clock())
			if !ok {
				tr, err := m.serviceAccountToken(ctx, pod, src.ServiceAccountToken)
				if err != nil {
					return nil, nil, err
				}
				// The lifetime the API granted, which may be shorter than
				// asked for (--service-account-max-token-expiration).
				expires := tr.Status.ExpirationTimestamp.Time
				issued := expires.Add(-time.Duration(*tr.Spec.ExpirationSeconds) * time.Second)
				token = []byte(tr.Status.Token)
				m.refresh.keep(key, token, issued, expires)
			}
			if err := add(prefix, map[string][]byte{"token": token}, []corev1.KeyToPath{{Key: "token", Path: src.ServiceAccountToken.Path}}); err != nil {
				return nil, nil, err
			}
		}
	}
	return data, items, nil
}

// serviceAccountToken asks the API for a token of the pod's service
// account, bound to the pod so it dies with it.
func (m *Manager) serviceAccountToken(ctx context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) (*authenticationv1.TokenRequest, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: p.ExpirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if p.Audience != "" {
		req.Spec.Audiences = []string{p.Audience}
	}
	tr, err := m.cfg.Client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("token for service account %q: %w", sa, err)
	}
	if tr.Spec.ExpirationSeconds == nil || tr.Status.Token == "" {
		return nil, fmt.Errorf("token for service account %q: the API answered no token or lifetime", sa)
	}
	return tr, nil
}
