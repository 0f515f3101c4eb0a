package downward

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// FieldValue resolves a downward-API fieldRef. podIP and hostIP come from
// the agent: the pod's status may not carry them yet when its first
// container is created.
func FieldValue(pod *corev1.Pod, path, podIP, hostIP string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP":
		return podIP, nil
	case "status.podIPs":
		return podIP, nil
	case "status.hostIP", "status.hostIPs":
		return hostIP, nil
	}
	if k, ok := cutBracket(path, "metadata.labels"); ok {
		return pod.Labels[k], nil
	}
	if k, ok := cutBracket(path, "metadata.annotations"); ok {
		return pod.Annotations[k], nil
	}
	return "", fmt.Errorf("unsupported fieldRef %q", path)
}

func cutBracket(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok || len(rest) < 2 || rest[len(rest)-2:] != "']" {
		return "", false
	}
	return rest[:len(rest)-2], true
}

// ResourceValue is a container's request or limit as the downward API
// shows it: a limit the container leaves unset is the node's allocatable
// (as the kubelet does), and values are rounded up to the divisor. skip
// is always false; it keeps the shape of the other env sources.
func ResourceValue(c *corev1.Container, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (value string, skip bool, err error) {
	q := ref.Divisor
	divisor := q.Value()
	if q.IsZero() {
		divisor = 1
	}
	name, kind, _ := strings.Cut(ref.Resource, ".")
	list := c.Resources.Requests
	if name == "limits" {
		list = c.Resources.Limits
	}
	v, ok := list[corev1.ResourceName(kind)]
	if !ok && name == "limits" {
		switch corev1.ResourceName(kind) {
		case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
			v, ok = allocatable[corev1.ResourceName(kind)]
		}
	}
	if !ok {
		return "0", false, nil
	}
	if kind == "cpu" {
		milli := v.MilliValue()
		d := q.MilliValue()
		if d == 0 {
			d = 1000
		}
		return fmt.Sprint((milli + d - 1) / d), false, nil
	}
	return fmt.Sprint((v.Value() + divisor - 1) / divisor), false, nil
}

// Files resolves downward-API volume items, keyed by their path.
func Files(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, allocatable corev1.ResourceList) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, it := range items {
		var v string
		switch {
		case it.FieldRef != nil:
			switch it.FieldRef.FieldPath {
			case "metadata.labels":
				v = formatMap(pod.Labels)
			case "metadata.annotations":
				v = formatMap(pod.Annotations)
			default:
				var err error
				if v, err = FieldValue(pod, it.FieldRef.FieldPath, pod.Status.PodIP, pod.Status.HostIP); err != nil {
					return nil, err
				}
			}
		case it.ResourceFieldRef != nil:
			c := containerNamed(pod, it.ResourceFieldRef.ContainerName)
			if c == nil {
				return nil, fmt.Errorf("container %q not found for %s", it.ResourceFieldRef.ContainerName, it.Path)
			}
			var err error
			if v, _, err = ResourceValue(c, it.ResourceFieldRef, allocatable); err != nil {
				return nil, err
			}
		}
		out[it.Path] = []byte(v)
	}
	return out, nil
}

// Keys maps downward-API items onto key-to-path items (key = path), the
// shape the volume writer takes.
func Keys(items []corev1.DownwardAPIVolumeFile) []corev1.KeyToPath {
	out := make([]corev1.KeyToPath, len(items))
	for i, it := range items {
		out[i] = corev1.KeyToPath{Key: it.Path, Path: it.Path, Mode: it.Mode}
	}
	return out
}

// containerNamed finds a container by name; "" names the only app
// container of a pod that has one.
func containerNamed(pod *corev1.Pod, name string) *corev1.Container {
	for _, l := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range l {
			if l[i].Name == name || (name == "" && len(pod.Spec.Containers) == 1) {
				return &l[i]
			}
		}
	}
	return nil
}

// formatMap renders labels or annotations as the downward API does:
// key="value" lines, sorted.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	return b.String()
}
