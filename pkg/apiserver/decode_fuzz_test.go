package apiserver

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
)

// FuzzDecodeObject feeds arbitrary bodies in every accepted media type
// through the request decoder: it must never panic, and whatever it
// refuses it refuses with a 4xx Status.
func FuzzDecodeObject(f *testing.F) {
	s, err := New(Config{Scheme: scheme.Scheme})
	if err != nil {
		f.Fatal(err)
	}
	media := []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf", "text/plain"}
	modes := []string{"Strict", "Warn", "Ignore"}
	f.Add([]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"containers":[{"name":"c","image":"i"}]}}`), uint8(0), uint8(0), false)
	f.Add([]byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nbogus: 1\n"), uint8(1), uint8(1), false)
	f.Add([]byte("k8s\x00\x0a\x0c\x0a\x02v1\x12\x06Pod"), uint8(2), uint8(0), false)
	f.Add([]byte(`{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":"x"}}`), uint8(0), uint8(2), true)
	f.Add([]byte(`{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a","name":"b"}}`), uint8(0), uint8(0), false)
	f.Fuzz(func(t *testing.T, body []byte, mi, vi uint8, deployment bool) {
		var into runtime.Object = &corev1.Pod{}
		gvk := corev1.SchemeGroupVersion.WithKind("Pod")
		if deployment {
			into, gvk = &appsv1.Deployment{}, appsv1.SchemeGroupVersion.WithKind("Deployment")
		}
		obj, _, err := s.decodeInto(media[int(mi)%len(media)], body, gvk, into, modes[int(vi)%len(modes)])
		if err != nil {
			st, ok := err.(apierrors.APIStatus)
			if !ok {
				t.Fatalf("non-Status error %T: %v", err, err)
			}
			if c := st.Status().Code; c < 400 || c >= 500 {
				t.Fatalf("decode error with code %d: %v", c, err)
			}
			return
		}
		if obj != into {
			t.Fatalf("decoded into another object %T", obj)
		}
	})
}
