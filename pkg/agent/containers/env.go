package containers

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/downward"
	"github.com/flotilla-io/flotilla/pkg/agent/internal/expansion"
)

// envFor resolves a container's environment as the kubelet does: envFrom
// first, then env in order, each value able to refer to earlier ones and
// to the Service variables as $(NAME); then the Service variables the
// container does not set itself.
func (b *Builder) envFor(ctx context.Context, pod *corev1.Pod, c *corev1.Container, podIP string) ([]*runtimeapi.KeyValue, error) {
	services, err := b.serviceEnv(pod)
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	// refs is what $(NAME) may name: the container's variables, else a
	// Service's.
	refs := maps.Clone(services)
	if refs == nil {
		refs = map[string]string{}
	}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
		refs[k] = v
	}
	for _, from := range c.EnvFrom {
		data, err := b.sourceData(ctx, pod.Namespace, from.ConfigMapRef, from.SecretRef)
		if err != nil {
			return nil, err
		}
		for k, v := range data {
			set(from.Prefix+k, v)
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expansion.Expand(e.Value, refs))
			continue
		}
		v, skip, err := b.valueFrom(ctx, pod, c, e.ValueFrom, podIP)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if !skip {
			set(e.Name, v)
		}
	}
	for _, k := range sortedKeys(services) {
		if _, own := vars[k]; !own {
			order = append(order, k)
			vars[k] = services[k]
		}
	}
	out := make([]*runtimeapi.KeyValue, 0, len(order))
	for _, k := range order {
		out = append(out, &runtimeapi.KeyValue{Key: k, Value: []byte(vars[k])})
	}
	return out, nil
}

func (b *Builder) sourceData(ctx context.Context, ns string, cm *corev1.ConfigMapEnvSource, sec *corev1.SecretEnvSource) (map[string]string, error) {
	var data map[string][]byte
	var err error
	switch {
	case cm != nil:
		data, _, err = b.cfg.Objects.ConfigMapData(ctx, ns, cm.Name, cm.Optional)
	case sec != nil:
		data, _, err = b.cfg.Objects.SecretData(ctx, ns, sec.Name, sec.Optional)
	}
	out := make(map[string]string, len(data))
	for k, v := range data {
		out[k] = string(v)
	}
	return out, err
}

// valueFrom resolves one env source; skip says an optional key is absent.
func (b *Builder) valueFrom(ctx context.Context, pod *corev1.Pod, c *corev1.Container, src *corev1.EnvVarSource, podIP string) (string, bool, error) {
	switch {
	case src.FieldRef != nil:
		v, err := downward.FieldValue(pod, src.FieldRef.FieldPath, podIP, b.cfg.NodeIP)
		return v, false, err
	case src.ResourceFieldRef != nil:
		return downward.ResourceValue(c, src.ResourceFieldRef, b.cfg.Allocatable())
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		data, found, err := b.cfg.Objects.ConfigMapData(ctx, pod.Namespace, ref.Name, ref.Optional)
		return keyValue(data, found, err, ref.Key, ref.Optional, "ConfigMap", pod.Namespace, ref.Name)
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		data, found, err := b.cfg.Objects.SecretData(ctx, pod.Namespace, ref.Name, ref.Optional)
		return keyValue(data, found, err, ref.Key, ref.Optional, "Secret", pod.Namespace, ref.Name)
	}
	return "", true, nil
}

// keyValue picks one key of a read ConfigMap or Secret for an env var;
// skip says an optional object or key is absent.
func keyValue(data map[string][]byte, found bool, err error, key string, optional *bool, kind, ns, name string) (string, bool, error) {
	if err != nil {
		return "", false, err
	}
	v, ok := data[key]
	if !ok {
		if !found || (optional != nil && *optional) {
			return "", true, nil
		}
		return "", false, fmt.Errorf("couldn't find key %s in %s %s/%s", key, kind, ns, name)
	}
	return string(v), false, nil
}
