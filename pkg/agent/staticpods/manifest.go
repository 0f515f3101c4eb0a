package staticpods

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/flotilla-io/flotilla/pkg/defaults"
	"github.com/flotilla-io/flotilla/pkg/validation"
)

// rejection is a pod the agent refuses to run, kept for its event.
type rejection struct {
	pod *corev1.Pod
	err error
}

func (r *rejection) Error() string { return r.err.Error() }

func rejected(errs []error) []*rejection {
	var out []*rejection
	for _, err := range errs {
		var r *rejection
		if errors.As(err, &r) {
			out = append(out, r)
		}
	}
	return out
}

// parseManifest reads every Pod document of a YAML or JSON manifest and
// turns each into the static pod the node runs.
func parseManifest(data []byte, source, origin, node string) ([]*corev1.Pod, []error) {
	var pods []*corev1.Pod
	var errs []error
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for i := 0; ; i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			break
		} else if err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: %w", origin, i, err))
			break
		}
		if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
			continue
		}
		var tm metav1.TypeMeta
		if err := json.Unmarshal(raw, &tm); err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: %w", origin, i, err))
			continue
		}
		if tm.Kind != "Pod" || tm.APIVersion != "v1" {
			errs = append(errs, fmt.Errorf("%s: document %d: want a v1 Pod, got %s %s", origin, i, tm.APIVersion, tm.Kind))
			continue
		}
		pod := &corev1.Pod{}
		if err := json.Unmarshal(raw, pod); err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: %w", origin, i, err))
			continue
		}
		if err := staticDefaults(pod, raw, source, origin, node); err != nil {
			errs = append(errs, &rejection{pod: pod, err: fmt.Errorf("%s: pod %s/%s: %w", origin, pod.Namespace, pod.Name, err)})
			continue
		}
		pods = append(pods, pod)
	}
	return pods, errs
}

// staticHash is the UID of a static pod: the same manifest on the same
// node gives the same pod, a changed one a new pod (so it restarts).
func staticHash(raw []byte, source, origin, node string) types.UID {
	h := sha256.New()
	h.Write(raw)
	if source == sourceFile {
		fmt.Fprintf(h, "host:%s", node)
		fmt.Fprintf(h, "file:%s", origin)
	} else {
		fmt.Fprintf(h, "url:%s", origin)
	}
	return types.UID(hex.EncodeToString(h.Sum(nil))[:32])
}

// staticDefaults does what the kubelet does to a manifest's pod, then the
// API server's defaulting and validation.
func staticDefaults(pod *corev1.Pod, raw []byte, source, origin, node string) error {
	if pod.Name == "" {
		return errors.New("metadata.name is required")
	}
	if pod.UID == "" {
		pod.UID = staticHash(raw, source, origin, node)
	}
	pod.Name = pod.Name + "-" + strings.ToLower(node)
	if pod.Namespace == "" {
		pod.Namespace = metav1.NamespaceDefault
	}
	pod.Spec.NodeName = node
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[annConfigHash] = string(pod.UID)
	pod.Annotations[annConfigSource] = source
	pod.Annotations[annConfigSeen] = time.Now().Format(time.RFC3339Nano)
	// A static pod stays on its node whatever the node's taints.
	pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})
	sa := pod.Spec.ServiceAccountName
	defaults.Apply(pod)
	// Mirror pods are exempt from the service account default.
	if sa == "" {
		pod.Spec.ServiceAccountName, pod.Spec.DeprecatedServiceAccount = "", ""
	}
	if errs := validation.ValidateCreate(pod); len(errs) > 0 {
		return errs.ToAggregate()
	}
	return staticRefs(pod)
}

// staticRefs rejects what the API server's mirror pod admission rejects:
// a static pod may not depend on API objects.
func staticRefs(pod *corev1.Pod) error {
	var cms, secrets bool
	for _, v := range pod.Spec.Volumes {
		cms = cms || v.ConfigMap != nil
		secrets = secrets || v.Secret != nil
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				cms = cms || s.ConfigMap != nil
				secrets = secrets || s.Secret != nil
			}
		}
	}
	cs := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range cs {
		for _, e := range c.EnvFrom {
			cms = cms || e.ConfigMapRef != nil
			secrets = secrets || e.SecretRef != nil
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil {
				cms = cms || e.ValueFrom.ConfigMapKeyRef != nil
				secrets = secrets || e.ValueFrom.SecretKeyRef != nil
			}
		}
	}
	var kinds []string
	if cms {
		kinds = append(kinds, "configmaps")
	}
	if secrets || len(pod.Spec.ImagePullSecrets) > 0 {
		kinds = append(kinds, "secrets")
	}
	if len(kinds) > 0 {
		sort.Strings(kinds)
		return fmt.Errorf("static pods may not reference %s", strings.Join(kinds, " or "))
	}
	return nil
}
