package history

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The golden file is what Kubernetes v1.32's own code computes for
// testdata/template.json (test/conformance/cmd/revisiongolden, checked
// there with upstream's daemon.Match).
func TestTemplatePatchMatchesV132Clients(t *testing.T) {
	in, err := os.ReadFile("testdata/template.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/template.v1.32.golden")
	if err != nil {
		t.Fatal(err)
	}
	var tmpl corev1.PodTemplateSpec
	if err := json.Unmarshal(in, &tmpl); err != nil {
		t.Fatal(err)
	}
	got, err := TemplatePatch(&tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.TrimSpace(want)) {
		t.Fatalf("revision data differs from v1.32's\n got: %s\nwant: %s", got, want)
	}
}

func TestSame(t *testing.T) {
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	data, err := TemplatePatch(&tmpl)
	if err != nil {
		t.Fatal(err)
	}
	// Written by an earlier version: no creationTimestamp, other order.
	older := []byte(`{"spec": {"template": {"spec": {"containers": [{"image": "busybox", "name": "c", "resources": {}}]}, "$patch": "replace", "metadata": {}}}}`)
	if !Same(data, older) {
		t.Fatalf("%s and %s should be the same template", data, older)
	}
	other := tmpl.DeepCopy()
	other.Spec.Containers[0].Image = "nginx"
	otherData, _ := TemplatePatch(other)
	if Same(data, otherData) {
		t.Fatal("different images compared the same")
	}
	if Same(data, []byte("not json")) {
		t.Fatal("garbage compared the same")
	}
}
