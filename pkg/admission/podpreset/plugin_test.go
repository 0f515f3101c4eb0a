package podpreset

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	settingsv1alpha1 "github.com/flotilla-io/flotilla/pkg/apis/settings/v1alpha1"
)

// fakePresets is the namespace's presets as a lister would return them.
type fakePresets struct {
	items []*settingsv1alpha1.PodPreset
	err   error
}

func (f fakePresets) List(ns string) ([]*settingsv1alpha1.PodPreset, error) {
	var out []*settingsv1alpha1.PodPreset
	for _, p := range f.items {
		if p.Namespace == ns {
			out = append(out, p)
		}
	}
	return out, f.err
}

func preset(name string, match map[string]string, spec settingsv1alpha1.PodPresetSpec) *settingsv1alpha1.PodPreset {
	spec.Selector = metav1.LabelSelector{MatchLabels: match}
	return &settingsv1alpha1.PodPreset{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", ResourceVersion: "rv-" + name}, Spec: spec}
}

// allowDatabase is the preset of upstream's walkthrough.
func allowDatabase() *settingsv1alpha1.PodPreset {
	return preset("allow-database", map[string]string{"role": "frontend"}, settingsv1alpha1.PodPresetSpec{
		Env:          []corev1.EnvVar{{Name: "DB_PORT", Value: "6379"}},
		Volumes:      []corev1.Volume{{Name: "cache-volume", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		VolumeMounts: []corev1.VolumeMount{{Name: "cache-volume", MountPath: "/cache"}},
	})
}

func website() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "website", Namespace: "ns", Labels: map[string]string{"app": "website", "role": "frontend"}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}},
			Containers:     []corev1.Container{{Name: "website", Image: "nginx", Ports: []corev1.ContainerPort{{ContainerPort: 80}}}},
		},
	}
}

func attrs(pod *corev1.Pod, op admission.Operation, sub string) admission.Attributes {
	return admission.NewAttributesRecord(pod, nil, corev1.SchemeGroupVersion.WithKind("Pod"), pod.Namespace, pod.Name,
		corev1.SchemeGroupVersion.WithResource("pods"), sub, op, &metav1.CreateOptions{}, false, &user.DefaultInfo{Name: "alice"})
}

func newPlugin(presets Presets, rec record.EventRecorder) *Plugin {
	return New(presets, rec, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func admit(t *testing.T, p *Plugin, pod *corev1.Pod) {
	t.Helper()
	if err := p.Admit(context.Background(), attrs(pod, admission.Create, ""), nil); err != nil {
		t.Fatalf("Admit: %v", err)
	}
}

func TestAppliesMatchingPreset(t *testing.T) {
	t.Parallel()
	rec := record.NewFakeRecorder(10)
	p := newPlugin(fakePresets{items: []*settingsv1alpha1.PodPreset{allowDatabase()}}, rec)
	pod := website()
	admit(t, p, pod)
	if got := pod.Annotations["podpreset.admission.kubernetes.io/podpreset-allow-database"]; got != "rv-allow-database" {
		t.Errorf("annotation = %q, annotations %v", got, pod.Annotations)
	}
	for _, c := range append(pod.Spec.Containers, pod.Spec.InitContainers...) {
		if !apiequality.Semantic.DeepEqual(c.Env, []corev1.EnvVar{{Name: "DB_PORT", Value: "6379"}}) {
			t.Errorf("%s env = %v", c.Name, c.Env)
		}
		if !apiequality.Semantic.DeepEqual(c.VolumeMounts, []corev1.VolumeMount{{Name: "cache-volume", MountPath: "/cache"}}) {
			t.Errorf("%s mounts = %v", c.Name, c.VolumeMounts)
		}
	}
	if len(pod.Spec.Volumes) != 1 || pod.Spec.Volumes[0].Name != "cache-volume" || pod.Spec.Volumes[0].EmptyDir == nil {
		t.Errorf("volumes = %v", pod.Spec.Volumes)
	}
	if len(rec.Events) != 0 {
		t.Errorf("unexpected event %q", <-rec.Events)
	}
}

// Several presets merge in name order; entries equal to what the pod
// already has are not duplicated; envFrom is appended.
func TestMergesSeveralPresets(t *testing.T) {
	t.Parallel()
	proxy := preset("a-proxy", map[string]string{"role": "frontend"}, settingsv1alpha1.PodPresetSpec{
		Env:     []corev1.EnvVar{{Name: "DB_PORT", Value: "6379"}, {Name: "HTTP_PROXY", Value: "http://proxy"}},
		EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "etcd-env-config"}}}},
	})
	other := preset("other", map[string]string{"role": "backend"}, settingsv1alpha1.PodPresetSpec{Env: []corev1.EnvVar{{Name: "NOPE", Value: "x"}}})
	elsewhere := allowDatabase()
	elsewhere.Namespace, elsewhere.Name = "other-ns", "elsewhere"
	p := newPlugin(fakePresets{items: []*settingsv1alpha1.PodPreset{allowDatabase(), other, proxy, elsewhere}}, record.NewFakeRecorder(10))
	pod := website()
	pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "DB_PORT", Value: "6379"}}
	admit(t, p, pod)
	c := pod.Spec.Containers[0]
	want := []corev1.EnvVar{{Name: "DB_PORT", Value: "6379"}, {Name: "HTTP_PROXY", Value: "http://proxy"}}
	if !apiequality.Semantic.DeepEqual(c.Env, want) {
		t.Errorf("env = %v, want %v", c.Env, want)
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef.Name != "etcd-env-config" {
		t.Errorf("envFrom = %v", c.EnvFrom)
	}
	for _, name := range []string{"a-proxy", "allow-database"} {
		if _, ok := pod.Annotations[AppliedAnnotationPrefix+name]; !ok {
			t.Errorf("no annotation for %s: %v", name, pod.Annotations)
		}
	}
	for _, name := range []string{"other", "elsewhere"} {
		if _, ok := pod.Annotations[AppliedAnnotationPrefix+name]; ok {
			t.Errorf("preset %s applied though it does not match", name)
		}
	}
}

func TestConflictLeavesPodUnchanged(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		edit func(*corev1.Pod)
		want string
	}{
		"env value": {
			edit: func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "DB_PORT", Value: "5432"}} },
			want: "merging env for allow-database has a conflict on DB_PORT",
		},
		"volume source": {
			edit: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "cache-volume", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}}}
			},
			want: "merging volumes for allow-database has a conflict on cache-volume",
		},
		"mount path": {
			edit: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "other-volume", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
				p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "other-volume", MountPath: "/cache"}}
			},
			want: "merging volume mounts for allow-database has a conflict on mount path /cache",
		},
		"init container mount": {
			edit: func(p *corev1.Pod) {
				p.Spec.InitContainers[0].VolumeMounts = []corev1.VolumeMount{{Name: "cache-volume", MountPath: "/elsewhere"}}
			},
			want: "merging volume mounts for allow-database has a conflict on cache-volume",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := record.NewFakeRecorder(10)
			p := newPlugin(fakePresets{items: []*settingsv1alpha1.PodPreset{allowDatabase()}}, rec)
			pod := website()
			tc.edit(pod)
			pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-1", UID: "u1", Controller: ptr.To(true)}}
			before := pod.DeepCopy()
			admit(t, p, pod)
			if !apiequality.Semantic.DeepEqual(pod, before) {
				t.Errorf("pod changed despite the conflict:\n%#v", pod)
			}
			for range 2 { // on the pod and on its ReplicaSet
				select {
				case ev := <-rec.Events:
					prefix := "Warning PodPreset conflict occurred while applying podpresets: allow-database on pod: website err: "
					if !strings.HasPrefix(ev, prefix) || !strings.Contains(ev, tc.want) {
						t.Errorf("event %q, want prefix %q and %q", ev, prefix, tc.want)
					}
				default:
					t.Fatalf("no conflict event")
				}
			}
		})
	}
}

func TestLeftAlone(t *testing.T) {
	t.Parallel()
	rec := record.NewFakeRecorder(10)
	p := newPlugin(fakePresets{items: []*settingsv1alpha1.PodPreset{allowDatabase()}}, rec)
	cases := map[string]func() (*corev1.Pod, admission.Attributes){
		"excluded": func() (*corev1.Pod, admission.Attributes) {
			pod := website()
			pod.Annotations = map[string]string{ExcludeAnnotation: "true"}
			return pod, attrs(pod, admission.Create, "")
		},
		"mirror pod": func() (*corev1.Pod, admission.Attributes) {
			pod := website()
			pod.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "abc"}
			return pod, attrs(pod, admission.Create, "")
		},
		"update": func() (*corev1.Pod, admission.Attributes) {
			pod := website()
			return pod, attrs(pod, admission.Update, "")
		},
		"subresource": func() (*corev1.Pod, admission.Attributes) {
			pod := website()
			return pod, attrs(pod, admission.Create, "status")
		},
		"no match": func() (*corev1.Pod, admission.Attributes) {
			pod := website()
			pod.Labels = map[string]string{"role": "backend"}
			return pod, attrs(pod, admission.Create, "")
		},
	}
	for name, mk := range cases {
		pod, a := mk()
		before := pod.DeepCopy()
		if err := p.Admit(context.Background(), a, nil); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !apiequality.Semantic.DeepEqual(pod, before) {
			t.Errorf("%s: pod changed: %#v", name, pod)
		}
	}
	if p.Handles(admission.Update) || !p.Handles(admission.Create) {
		t.Errorf("Handles: want create only")
	}
	if len(rec.Events) != 0 {
		t.Errorf("unexpected event %q", <-rec.Events)
	}
}

// The exclude annotation takes exactly "true".
func TestExcludeNeedsTrue(t *testing.T) {
	t.Parallel()
	p := newPlugin(fakePresets{items: []*settingsv1alpha1.PodPreset{allowDatabase()}}, nil)
	pod := website()
	pod.Annotations = map[string]string{ExcludeAnnotation: "false"}
	admit(t, p, pod)
	if len(pod.Spec.Volumes) != 1 {
		t.Errorf("preset not applied with exclude=false")
	}
}

func TestListErrorAndBadSelector(t *testing.T) {
	t.Parallel()
	p := newPlugin(fakePresets{err: errors.New("boom")}, nil)
	if err := p.Admit(context.Background(), attrs(website(), admission.Create, ""), nil); err == nil || !strings.Contains(err.Error(), "listing pod presets failed: boom") {
		t.Errorf("err = %v", err)
	}
	bad := allowDatabase()
	bad.Spec.Selector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "role", Operator: "Bogus"}}}
	p = newPlugin(fakePresets{items: []*settingsv1alpha1.PodPreset{bad}}, nil)
	if err := p.Admit(context.Background(), attrs(website(), admission.Create, ""), nil); err == nil || !strings.Contains(err.Error(), "filtering pod presets failed") {
		t.Errorf("err = %v", err)
	}
}

// Until the informer has synced, pods are refused rather than admitted
// without their presets.
func TestNotReady(t *testing.T) {
	t.Parallel()
	p := New(fakePresets{}, nil, func() bool { return false }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	err := p.Admit(context.Background(), attrs(website(), admission.Create, ""), nil)
	if err == nil || !strings.Contains(err.Error(), "not yet ready") {
		t.Errorf("err = %v", err)
	}
}

// A dry run gets the same answer but raises no event.
func TestDryRunConflictRecordsNothing(t *testing.T) {
	t.Parallel()
	rec := record.NewFakeRecorder(10)
	p := newPlugin(fakePresets{items: []*settingsv1alpha1.PodPreset{allowDatabase()}}, rec)
	pod := website()
	pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "DB_PORT", Value: "5432"}}
	a := admission.NewAttributesRecord(pod, nil, corev1.SchemeGroupVersion.WithKind("Pod"), pod.Namespace, pod.Name,
		corev1.SchemeGroupVersion.WithResource("pods"), "", admission.Create, &metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}, true, &user.DefaultInfo{Name: "alice"})
	if err := p.Admit(context.Background(), a, nil); err != nil {
		t.Fatal(err)
	}
	if len(rec.Events) != 0 {
		t.Errorf("dry run raised %q", <-rec.Events)
	}
	if len(pod.Spec.Volumes) != 0 {
		t.Errorf("conflicting pod changed on a dry run")
	}
}
