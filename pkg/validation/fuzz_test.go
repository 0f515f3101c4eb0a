package validation

import (
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// FuzzValidatePod feeds arbitrary JSON, decoded as a Pod and as a
// Deployment, through every entry point: validation must never panic.
func FuzzValidatePod(f *testing.F) {
	for _, o := range []any{validPod(), validDeployment()} {
		data, _ := json.Marshal(o)
		f.Add(data)
	}
	f.Add([]byte(`{"metadata":{"name":"p"},"spec":{"containers":[{}],"volumes":[{}],"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{}}}}}`))
	f.Add([]byte(`{"spec":{"selector":{},"strategy":{"rollingUpdate":{"maxSurge":"x%","maxUnavailable":"%"}},"template":{"spec":{"containers":[{"ports":[{"hostPort":-1}]}]}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var pod corev1.Pod
		if json.Unmarshal(data, &pod) == nil {
			old := validPod()
			ValidateCreate(&pod)
			ValidateUpdate(&pod, old)
			ValidateUpdate(old, &pod)
			ValidateStatusUpdate(&pod, old)
		}
		var d appsv1.Deployment
		if json.Unmarshal(data, &d) == nil {
			old := validDeployment()
			ValidateCreate(&d)
			ValidateUpdate(&d, old)
			ValidateStatusUpdate(&d, old)
		}
	})
}
