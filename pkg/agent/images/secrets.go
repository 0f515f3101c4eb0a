package images

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// dockerConfigEntry is one registry's credentials in a dockerconfigjson
// or dockercfg Secret.
type dockerConfigEntry struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

// pullCredentials are the pod's image pull secrets' credentials that
// apply to image, most specific registry key first. Secrets that are
// missing or malformed are skipped, as the kubelet does: the pull may
// still work anonymously.
func (p *Puller) pullCredentials(ctx context.Context, pod *corev1.Pod, image string) []*runtimeapi.AuthConfig {
	var out []*runtimeapi.AuthConfig
	for _, ref := range pod.Spec.ImagePullSecrets {
		if ref.Name == "" {
			continue
		}
		data, found, err := p.secrets.SecretData(ctx, pod.Namespace, ref.Name, nil)
		if err != nil || !found {
			p.log.Warn("image pull secret unavailable", "pod", pod.Namespace+"/"+pod.Name, "secret", ref.Name, "err", err)
			continue
		}
		entries, err := parseDockerConfig(data)
		if err != nil {
			p.log.Warn("image pull secret unreadable", "pod", pod.Namespace+"/"+pod.Name, "secret", ref.Name, "err", err)
			continue
		}
		out = append(out, matchCredentials(entries, image)...)
	}
	return out
}

// parseDockerConfig reads a kubernetes.io/dockerconfigjson (.dockerconfigjson)
// or legacy kubernetes.io/dockercfg (.dockercfg) Secret's data.
func parseDockerConfig(data map[string][]byte) (map[string]dockerConfigEntry, error) {
	if b, ok := data[corev1.DockerConfigJsonKey]; ok {
		var cfg struct {
			Auths map[string]dockerConfigEntry `json:"auths"`
		}
		if err := json.Unmarshal(b, &cfg); err != nil {
			return nil, fmt.Errorf("%s: %w", corev1.DockerConfigJsonKey, err)
		}
		return cfg.Auths, nil
	}
	if b, ok := data[corev1.DockerConfigKey]; ok {
		var auths map[string]dockerConfigEntry
		if err := json.Unmarshal(b, &auths); err != nil {
			return nil, fmt.Errorf("%s: %w", corev1.DockerConfigKey, err)
		}
		return auths, nil
	}
	return nil, fmt.Errorf("neither %s nor %s is set", corev1.DockerConfigJsonKey, corev1.DockerConfigKey)
}

// matchCredentials picks the entries whose key matches the image's
// registry (host, port, path prefix; `*` globs in host labels), longest
// key first.
func matchCredentials(entries map[string]dockerConfigEntry, image string) []*runtimeapi.AuthConfig {
	host, repo := splitImage(normalizeImage(image))
	keys := make([]string, 0, len(entries))
	for k := range entries {
		if keyMatches(k, host, repo) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if len(keys[i]) != len(keys[j]) {
			return len(keys[i]) > len(keys[j])
		}
		return keys[i] < keys[j]
	})
	out := make([]*runtimeapi.AuthConfig, 0, len(keys))
	for _, k := range keys {
		e := entries[k]
		// ServerAddress stays empty: the entry matched already, and
		// containerd 1.6 cannot parse a host:port without a scheme there.
		ac := &runtimeapi.AuthConfig{Username: e.Username, Password: e.Password, IdentityToken: e.IdentityToken, RegistryToken: e.RegistryToken}
		if e.Auth != "" && e.Username == "" {
			if dec, err := base64.StdEncoding.DecodeString(e.Auth); err == nil {
				ac.Username, ac.Password, _ = strings.Cut(string(dec), ":")
			}
		}
		out = append(out, ac)
	}
	return out
}

// splitImage splits a normalized reference into registry host and
// repository path (tag and digest dropped).
func splitImage(ref string) (host, repo string) {
	name, _, _ := strings.Cut(ref, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	host, repo, _ = strings.Cut(name, "/")
	return host, repo
}

// dockerHubAliases are the names Docker Hub credentials are filed under.
var dockerHubAliases = map[string]bool{"docker.io": true, "index.docker.io": true, "registry-1.docker.io": true}

func keyMatches(key, host, repo string) bool {
	if !strings.Contains(key, "://") {
		key = "https://" + key
	}
	u, err := url.Parse(key)
	if err != nil || u.Host == "" {
		return false
	}
	keyHost := u.Host
	if dockerHubAliases[keyHost] && dockerHubAliases[host] {
		keyHost = host
	}
	if !hostMatches(keyHost, host) {
		return false
	}
	p := strings.Trim(u.Path, "/")
	if p == "" || (dockerHubAliases[host] && p == "v1") {
		return true
	}
	return repo == p || strings.HasPrefix(repo, p+"/")
}

// hostMatches compares host[:port] label by label; a key label may be a
// glob (`*.example.com`).
func hostMatches(pattern, host string) bool {
	pHost, pPort, _ := strings.Cut(pattern, ":")
	hHost, hPort, _ := strings.Cut(host, ":")
	if pPort != hPort {
		return false
	}
	pl, hl := strings.Split(pHost, "."), strings.Split(hHost, ".")
	if len(pl) != len(hl) {
		return false
	}
	for i := range pl {
		if ok, err := path.Match(pl[i], hl[i]); err != nil || !ok {
			return false
		}
	}
	return true
}
