package defaults

import (
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
)

// FuzzApply decodes arbitrary JSON into a few kinds and checks Apply never
// panics and that a second Apply changes nothing.
func FuzzApply(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"spec":{"containers":[{"name":"c","image":"nginx","ports":[{"containerPort":80}],"resources":{"limits":{"cpu":"1"}}}]}}`,
		`{"spec":{"volumes":[{"name":"v"},{"name":"s","secret":{}}],"initContainers":[{"restartPolicy":"Always","resources":{"limits":{"memory":"1Gi"}}}],"resources":{"requests":{"cpu":"1"}}}}`,
		`{"spec":{"hostNetwork":true,"tolerations":[{"operator":"Exists"}],"containers":[{"livenessProbe":{"httpGet":{"port":80}},"lifecycle":{"preStop":{"httpGet":{}}}}]}}`,
		`{"spec":{"template":{"spec":{"containers":[{"image":"a:latest"}]}},"strategy":{"type":"RollingUpdate"}}}`,
		`{"spec":{"type":"LoadBalancer","sessionAffinity":"ClientIP","ports":[{"port":80}]},"status":{"loadBalancer":{"ingress":[{"ip":"1.2.3.4"}]}}}`,
		`{"spec":{"podFailurePolicy":{"rules":[{"onPodConditions":[{}]}]},"backoffLimitPerIndex":1}}`,
		`{"spec":{"resources":{"limits":{"hugepages-2Mi":"2Mi"}},"containers":[{"resources":{"limits":{"hugepages-2Mi":"2Mi","cpu":"1"}}}]}}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data string) {
		for _, obj := range []runtime.Object{&corev1.Pod{}, &appsv1.Deployment{}, &batchv1.Job{}, &corev1.Service{}} {
			if err := json.Unmarshal([]byte(data), obj); err != nil {
				return
			}
			Apply(obj)
			// Compare through JSON too, as a round trip through storage would.
			once := obj.DeepCopyObject()
			Apply(obj)
			if !equality.Semantic.DeepEqual(once, obj) {
				t.Fatalf("%T: second Apply changed the object:\n%#v\n%#v", obj, once, obj)
			}
			_ = PodQOSClass(podOf(obj))
		}
	})
}

func podOf(obj runtime.Object) *corev1.Pod {
	if p, ok := obj.(*corev1.Pod); ok {
		return p
	}
	return &corev1.Pod{}
}
