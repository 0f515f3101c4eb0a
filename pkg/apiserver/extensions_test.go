package apiserver

import (
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/flotilla-io/flotilla/pkg/extensions"
)

func TestLiftExtensions(t *testing.T) {
	sel := `{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"In","values":["a"]}]}]}`
	podYAML := `apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingRequiredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - {key: zone, operator: In, values: [a]}
  containers:
  - {name: c, image: busybox}
`
	var pod corev1.Pod
	if err := json.Unmarshal(liftExtensions("Pod", []byte(podYAML)), &pod); err != nil {
		t.Fatal(err)
	}
	if got := pod.Annotations[extensions.RequiredDuringExecutionAnnotation]; got != sel {
		t.Fatalf("pod annotation %q, want %q", got, sel)
	}
	if pod.Spec.Affinity.NodeAffinity == nil || pod.Spec.Containers[0].Image != "busybox" {
		t.Fatalf("rest of the pod changed: %+v", pod.Spec)
	}
	if s, err := extensions.RequiredDuringExecution(pod.Annotations); err != nil || s.NodeSelectorTerms[0].MatchExpressions[0].Key != "zone" {
		t.Fatalf("selector read back: %v %v", s, err)
	}

	deploy := `{"kind":"Deployment","spec":{"template":{"metadata":{"labels":{"a":"b"}},"spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingRequiredDuringExecution":` + sel + `}}}}}}`
	var d appsv1.Deployment
	if err := json.Unmarshal(liftExtensions("Deployment", []byte(deploy)), &d); err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Annotations[extensions.RequiredDuringExecutionAnnotation]; got != sel || d.Spec.Template.Labels["a"] != "b" {
		t.Fatalf("template annotation %q labels %v", got, d.Spec.Template.Labels)
	}

	// Bodies without the field, and kinds without pods, pass unchanged.
	for _, c := range []struct{ kind, body string }{
		{"Pod", `{"kind":"Pod","metadata":{"name":"x"}}`},
		{"ConfigMap", `{"data":{"requiredDuringSchedulingRequiredDuringExecution":"x"}}`},
		{"Pod", `not json {requiredDuringSchedulingRequiredDuringExecution`},
	} {
		if got := string(liftExtensions(c.kind, []byte(c.body))); got != c.body {
			t.Errorf("%s %q changed to %q", c.kind, c.body, got)
		}
	}
	if strings.Contains(string(liftExtensions("Pod", []byte(podYAML))), extensions.RequiredDuringExecutionField+`":`) {
		t.Fatal("field left in place")
	}
}
