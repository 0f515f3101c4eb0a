package history

import (
	"encoding/json"
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
)

// TemplatePatch is the revision data of tmpl, byte for byte what a v1.32
// client computes for an object with that template.
func TemplatePatch(tmpl *corev1.PodTemplateSpec) ([]byte, error) {
	b, err := json.Marshal(tmpl)
	if err != nil {
		return nil, fmt.Errorf("encode template: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode template: %w", err)
	}
	meta, _ := m["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		m["metadata"] = meta
	}
	if _, ok := meta["creationTimestamp"]; !ok {
		meta["creationTimestamp"] = nil // as v1.32's ObjectMeta encodes a zero time
	}
	m["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": m}})
}

// Same reports whether two revision data hold the same template, whatever
// their encoding (key order, spacing, a null creationTimestamp or none).
func Same(a, b []byte) bool {
	if string(a) == string(b) {
		return true
	}
	x, errA := normalized(a)
	y, errB := normalized(b)
	return errA == nil && errB == nil && reflect.DeepEqual(x, y)
}

func normalized(data []byte) (any, error) {
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	spec, _ := v["spec"].(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	if meta, ok := tmpl["metadata"].(map[string]any); ok && meta["creationTimestamp"] == nil {
		delete(meta, "creationTimestamp")
		if len(meta) == 0 {
			delete(tmpl, "metadata")
		}
	}
	return v, nil
}
