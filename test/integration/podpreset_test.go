package integration

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	settingsv1alpha1 "github.com/flotilla-io/flotilla/pkg/apis/settings/v1alpha1"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
	"github.com/flotilla-io/flotilla/pkg/settingsclient"
)

func allowDatabasePreset() *settingsv1alpha1.PodPreset {
	return &settingsv1alpha1.PodPreset{
		ObjectMeta: metav1.ObjectMeta{Name: "allow-database"},
		Spec: settingsv1alpha1.PodPresetSpec{
			Selector:     metav1.LabelSelector{MatchLabels: map[string]string{"role": "frontend"}},
			Env:          []corev1.EnvVar{{Name: "DB_PORT", Value: "6379"}},
			Volumes:      []corev1.Volume{{Name: "cache-volume", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			VolumeMounts: []corev1.VolumeMount{{Name: "cache-volume", MountPath: "/cache"}},
		},
	}
}

// settings.k8s.io/v1alpha1 PodPresets are served like any other kind:
// discovery, CRUD, watch, table, server-side apply; stored in protobuf and
// served in JSON and protobuf; validated as upstream 1.19 did.
func TestPodPresetAPI(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{DisableControllers: []string{"scheduler"}})
	cs := srv.Clientset(t)
	ctx := context.Background()
	ns := "presets"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	exerciseKind(t, srv, apiKind{
		gvr: schema.GroupVersionResource{Group: "settings.k8s.io", Version: "v1alpha1", Resource: "podpresets"}, kind: "PodPreset", namespaced: true,
		new: func(string) map[string]any {
			return map[string]any{"spec": map[string]any{
				"selector": map[string]any{"matchLabels": map[string]any{"role": "frontend"}},
				"env":      []any{map[string]any{"name": "DB_PORT", "value": "6379"}},
			}}
		},
		columns: []string{"Name", "Age"},
	}, ns)

	for _, contentType := range []string{"application/json", "application/vnd.kubernetes.protobuf"} {
		cfg := srv.RESTConfig()
		cfg.ContentType, cfg.AcceptContentTypes = contentType, contentType
		sc, err := settingsclient.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		presets := sc.PodPresets(ns)
		name := "allow-database-" + strings.ReplaceAll(strings.TrimPrefix(contentType, "application/"), ".", "-")
		p := allowDatabasePreset()
		p.Name = name
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}})
		created, err := presets.Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("%s create: %v", contentType, err)
		}
		// Volumes are defaulted as a pod's are.
		if m := created.Spec.Volumes[1].Secret.DefaultMode; m == nil || *m != 0o644 {
			t.Errorf("%s secret volume defaultMode %v", contentType, m)
		}
		got, err := presets.Get(ctx, name, metav1.GetOptions{})
		if err != nil || got.Spec.Env[0].Value != "6379" || got.Spec.Selector.MatchLabels["role"] != "frontend" || got.ResourceVersion != created.ResourceVersion {
			t.Fatalf("%s get: %+v %v", contentType, got, err)
		}
		got.Spec.Env[0].Value = "6380"
		updated, err := presets.Update(ctx, got, metav1.UpdateOptions{})
		if err != nil || updated.Spec.Env[0].Value != "6380" {
			t.Fatalf("%s update: %v", contentType, err)
		}
		list, err := presets.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("%s list: %v", contentType, err)
		}
		found := false
		for _, item := range list.Items {
			found = found || item.Name == name
		}
		if !found {
			t.Errorf("%s list lacks %s: %d items", contentType, name, len(list.Items))
		}
		patched, err := presets.Patch(ctx, name, types.MergePatchType, []byte(`{"spec":{"env":[{"name":"X","value":"y"}]}}`), metav1.PatchOptions{})
		if err != nil || len(patched.Spec.Env) != 1 || patched.Spec.Env[0].Name != "X" {
			t.Fatalf("%s patch: %+v %v", contentType, patched, err)
		}
		if err := presets.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("%s delete: %v", contentType, err)
		}
		if _, err := presets.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), `podpresets.settings.k8s.io "`+name+`" not found`) {
			t.Fatalf("%s get after delete: %v", contentType, err)
		}
	}

	// Server-side apply keeps field ownership like any kind's.
	sc, err := settingsclient.NewForConfig(srv.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	applied, err := sc.PodPresets(ns).Patch(ctx, "applied", types.ApplyPatchType, []byte(`{"apiVersion":"settings.k8s.io/v1alpha1","kind":"PodPreset","metadata":{"name":"applied"},"spec":{"selector":{"matchLabels":{"a":"b"}},"env":[{"name":"A","value":"1"}]}}`), metav1.PatchOptions{FieldManager: "tester"})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if len(applied.ManagedFields) != 1 || applied.ManagedFields[0].Manager != "tester" || applied.ManagedFields[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Errorf("managedFields %+v", applied.ManagedFields)
	}

	invalid := []struct {
		edit func(*settingsv1alpha1.PodPreset)
		want string
	}{
		{func(p *settingsv1alpha1.PodPreset) { p.Spec.Env, p.Spec.Volumes, p.Spec.VolumeMounts = nil, nil, nil },
			`spec.volumes.env.envFrom.volumeMounts: Required value: must specify at least one`},
		{func(p *settingsv1alpha1.PodPreset) { p.Spec.VolumeMounts[0].Name = "missing" },
			`spec.volumeMounts[0].name: Not found: "missing"`},
		{func(p *settingsv1alpha1.PodPreset) { p.Spec.Env[0].Name = "" },
			`spec.env[0].name: Required value`},
		{func(p *settingsv1alpha1.PodPreset) {
			p.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "role", Operator: "Bogus"}}
		}, `spec.selector.matchExpressions[0].operator: Invalid value: "Bogus"`},
		{func(p *settingsv1alpha1.PodPreset) { p.Spec.Volumes[0].Name = "Bad_Name" },
			`spec.volumes[0].name: Invalid value: "Bad_Name"`},
		{func(p *settingsv1alpha1.PodPreset) { p.Spec.VolumeMounts[0].MountPath = "" },
			`spec.volumeMounts[0].mountPath: Required value`},
	}
	for _, tc := range invalid {
		p := allowDatabasePreset()
		tc.edit(p)
		_, err := sc.PodPresets(ns).Create(ctx, p, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `PodPreset.settings.k8s.io "allow-database" is invalid: `) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("create invalid: got %v, want %q", err, tc.want)
		}
	}
	// An invalid update changes nothing.
	good, err := sc.PodPresets(ns).Create(ctx, allowDatabasePreset(), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bad := good.DeepCopy()
	bad.Spec.VolumeMounts[0].Name = "missing"
	if _, err := sc.PodPresets(ns).Update(ctx, bad, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("invalid update: %v", err)
	}
	if again, _ := sc.PodPresets(ns).Get(ctx, good.Name, metav1.GetOptions{}); again == nil || again.ResourceVersion != good.ResourceVersion {
		t.Errorf("invalid update changed the preset: %+v", again)
	}

	// kubectl explain reads the OpenAPI v3 document of the group.
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/openapi/v3/apis/settings.k8s.io/v1alpha1").DoRaw(ctx)
	if err != nil {
		t.Fatalf("openapi: %v", err)
	}
	for _, want := range []string{`"io.k8s.api.settings.v1alpha1.PodPreset"`, `"io.k8s.api.settings.v1alpha1.PodPresetSpec"`, "PodPreset is a policy resource that defines additional runtime requirements for a Pod."} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("openapi document lacks %s", want)
		}
	}
}
