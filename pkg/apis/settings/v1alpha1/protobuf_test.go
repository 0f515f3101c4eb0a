package v1alpha1

import (
	"bytes"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
)

func samplePreset() *PodPreset {
	return &PodPreset{
		TypeMeta:   metav1.TypeMeta{APIVersion: "settings.k8s.io/v1alpha1", Kind: "PodPreset"},
		ObjectMeta: metav1.ObjectMeta{Name: "allow-database", Namespace: "default", ResourceVersion: "42", Labels: map[string]string{"a": "b"}},
		Spec: PodPresetSpec{
			Selector:     metav1.LabelSelector{MatchLabels: map[string]string{"role": "frontend"}},
			Env:          []corev1.EnvVar{{Name: "DB_PORT", Value: "6379"}, {Name: "EMPTY"}},
			EnvFrom:      []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "etcd-env-config"}}}},
			Volumes:      []corev1.Volume{{Name: "cache-volume", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			VolumeMounts: []corev1.VolumeMount{{Name: "cache-volume", MountPath: "/cache"}},
		},
	}
}

// The kinds go through the Kubernetes protobuf envelope, as the API
// server's storage and protobuf responses use it, and come back equal.
func TestProtobufRoundTrip(t *testing.T) {
	t.Parallel()
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	codec := protobuf.NewSerializer(s, s)
	item := samplePreset()
	item.TypeMeta = metav1.TypeMeta{} // items carry no kind on the wire, as upstream
	list := &PodPresetList{
		TypeMeta: metav1.TypeMeta{APIVersion: "settings.k8s.io/v1alpha1", Kind: "PodPresetList"},
		ListMeta: metav1.ListMeta{ResourceVersion: "7"},
		Items:    []PodPreset{*item, {ObjectMeta: metav1.ObjectMeta{Name: "empty"}}},
	}
	emptyPreset := &PodPreset{TypeMeta: metav1.TypeMeta{APIVersion: "settings.k8s.io/v1alpha1", Kind: "PodPreset"}}
	emptyList := &PodPresetList{TypeMeta: metav1.TypeMeta{APIVersion: "settings.k8s.io/v1alpha1", Kind: "PodPresetList"}}
	for _, obj := range []runtime.Object{samplePreset(), emptyPreset, list, emptyList} {
		var buf bytes.Buffer
		if err := codec.Encode(obj, &buf); err != nil {
			t.Fatalf("encode %T: %v", obj, err)
		}
		got, _, err := codec.Decode(buf.Bytes(), nil, nil)
		if err != nil {
			t.Fatalf("decode %T: %v", obj, err)
		}
		got.GetObjectKind().SetGroupVersionKind(obj.GetObjectKind().GroupVersionKind())
		if !apiequality.Semantic.DeepEqual(obj, got) {
			t.Errorf("round trip of %T:\n got %#v\nwant %#v", obj, got, obj)
		}
	}
}

// Fields a later version might add are skipped, and bad input is an
// error rather than a panic.
func TestProtobufUnknownAndTruncated(t *testing.T) {
	t.Parallel()
	data, err := samplePreset().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	extended := append(append([]byte{}, data...), 0x4a, 0x01, 'x', 0x50, 0x05) // field 9 bytes, field 10 varint
	var p PodPreset
	if err := p.Unmarshal(extended); err != nil {
		t.Fatalf("unknown fields: %v", err)
	}
	if !apiequality.Semantic.DeepEqual(p.Spec, samplePreset().Spec) {
		t.Errorf("spec after unknown fields = %#v", p.Spec)
	}
	for i := 1; i < len(data); i += 7 {
		var q PodPreset
		_ = q.Unmarshal(data[:i]) // must not panic
	}
}

func FuzzPodPresetUnmarshal(f *testing.F) {
	data, _ := samplePreset().Marshal()
	f.Add(data)
	f.Fuzz(func(t *testing.T, b []byte) {
		var p PodPreset
		if p.Unmarshal(b) != nil {
			return
		}
		again, err := p.Marshal()
		if err != nil {
			t.Fatalf("re-marshal: %v", err)
		}
		var q PodPreset
		if err := q.Unmarshal(again); err != nil {
			t.Fatalf("re-unmarshal: %v", err)
		}
	})
}

func TestDeepCopyIndependent(t *testing.T) {
	t.Parallel()
	p := samplePreset()
	c := p.DeepCopy()
	c.Spec.Env[0].Value = "changed"
	c.Spec.Selector.MatchLabels["role"] = "x"
	c.Spec.Volumes[0].EmptyDir.Medium = corev1.StorageMediumMemory
	if !apiequality.Semantic.DeepEqual(p, samplePreset()) {
		t.Errorf("copy shares memory with the original")
	}
	if (&PodPresetList{}).DeepCopy().Items != nil {
		t.Errorf("nil items became non-nil")
	}
}
