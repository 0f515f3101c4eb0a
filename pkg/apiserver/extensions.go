package apiserver

import (
	"bytes"
	"encoding/json"

	"sigs.k8s.io/yaml"

	"github.com/flotilla-io/flotilla/pkg/extensions"
)

// podTemplatePaths are where kinds carry a pod (or pod template): the
// object holding metadata and spec.
var podTemplatePaths = map[string][]string{
	"Pod":                   nil,
	"PodTemplate":           {"template"},
	"ReplicationController": {"spec", "template"},
	"ReplicaSet":            {"spec", "template"},
	"Deployment":            {"spec", "template"},
	"DaemonSet":             {"spec", "template"},
	"StatefulSet":           {"spec", "template"},
	"Job":                   {"spec", "template"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template"},
}

// liftExtensions rewrites (see package extensions) a JSON or YAML body so the extension field
// becomes an annotation; bodies without it are returned as they are.
func liftExtensions(kind string, body []byte) []byte {
	path, ok := podTemplatePaths[kind]
	if !ok || !bytes.Contains(body, []byte(extensions.RequiredDuringExecutionField)) {
		return body
	}
	jsonBody, err := yaml.YAMLToJSON(body)
	if err != nil {
		return body // the decoder reports the error
	}
	var obj map[string]any
	if err := json.Unmarshal(jsonBody, &obj); err != nil {
		return body
	}
	holder := obj
	for _, key := range path {
		next, ok := holder[key].(map[string]any)
		if !ok {
			return body
		}
		holder = next
	}
	spec, _ := holder["spec"].(map[string]any)
	affinity, _ := spec["affinity"].(map[string]any)
	nodeAffinity, _ := affinity["nodeAffinity"].(map[string]any)
	value, ok := nodeAffinity[extensions.RequiredDuringExecutionField]
	if !ok {
		return body
	}
	delete(nodeAffinity, extensions.RequiredDuringExecutionField)
	encoded, err := json.Marshal(value)
	if err != nil {
		return body
	}
	meta, _ := holder["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		holder["metadata"] = meta
	}
	annotations, _ := meta["annotations"].(map[string]any)
	if annotations == nil {
		annotations = map[string]any{}
		meta["annotations"] = annotations
	}
	if value == nil {
		delete(annotations, extensions.RequiredDuringExecutionAnnotation)
	} else {
		annotations[extensions.RequiredDuringExecutionAnnotation] = string(encoded)
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return body
	}
	return out
}
