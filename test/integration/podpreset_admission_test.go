package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
	"github.com/flotilla-io/flotilla/pkg/settingsclient"
)

func presetPod(name string, labels, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}},
			Containers:     []corev1.Container{{Name: "website", Image: "busybox"}},
		},
	}
}

// waitPresetSeen waits until the admission plugin's cache has the preset:
// a dry-run pod comes back with its annotation.
func waitPresetSeen(t *testing.T, cs kubernetes.Interface, ns, preset string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		pod, err := cs.CoreV1().Pods(ns).Create(ctx, presetPod("probe", map[string]string{"role": "frontend"}, nil), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return false, err
		}
		_, ok := pod.Annotations["podpreset.admission.kubernetes.io/podpreset-"+preset]
		return ok, nil
	})
	if err != nil {
		t.Fatalf("preset %s never applied to a dry-run pod: %v", preset, err)
	}
}

// The PodPreset plugin in the server's admission chain, through
// client-go: a matching pod gets the preset, a conflicting one is left
// as it was with a Warning event, an excluded one gets nothing.
func TestPodPresetAdmission(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{DisableControllers: []string{"scheduler"}})
	cs := srv.Clientset(t)
	ctx := context.Background()
	ns := "presets"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sc, err := settingsclient.NewForConfig(srv.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	preset, err := sc.PodPresets(ns).Create(ctx, allowDatabasePreset(), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitPresetSeen(t, cs, ns, preset.Name)

	pod, err := cs.CoreV1().Pods(ns).Create(ctx, presetPod("website", map[string]string{"app": "website", "role": "frontend"}, nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := pod.Annotations["podpreset.admission.kubernetes.io/podpreset-allow-database"]; got != preset.ResourceVersion {
		t.Errorf("annotation %q, want the preset's resourceVersion %q", got, preset.ResourceVersion)
	}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		if len(c.Env) != 1 || c.Env[0].Name != "DB_PORT" || c.Env[0].Value != "6379" {
			t.Errorf("%s env %v", c.Name, c.Env)
		}
		if len(c.VolumeMounts) == 0 || c.VolumeMounts[0].Name != "cache-volume" || c.VolumeMounts[0].MountPath != "/cache" {
			t.Errorf("%s mounts %v", c.Name, c.VolumeMounts)
		}
	}
	found := false
	for _, v := range pod.Spec.Volumes {
		found = found || (v.Name == "cache-volume" && v.EmptyDir != nil)
	}
	if !found {
		t.Errorf("volumes %v", pod.Spec.Volumes)
	}

	// A pod whose mount path clashes is stored as it was sent.
	conflict := presetPod("website-conflict", map[string]string{"role": "frontend"}, nil)
	conflict.Spec.Volumes = []corev1.Volume{{Name: "other-volume", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	conflict.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "other-volume", MountPath: "/cache"}}
	got, err := cs.CoreV1().Pods(ns).Create(ctx, conflict, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k := range got.Annotations {
		if strings.HasPrefix(k, "podpreset.admission.kubernetes.io/") {
			t.Errorf("conflicting pod annotated %s", k)
		}
	}
	if len(got.Spec.Containers[0].Env) != 0 || len(got.Spec.InitContainers[0].Env) != 0 {
		t.Errorf("conflicting pod got env: %+v", got.Spec)
	}
	for _, v := range got.Spec.Volumes {
		if v.Name == "cache-volume" {
			t.Errorf("conflicting pod got the preset's volume: %+v", got.Spec.Volumes)
		}
	}
	for _, m := range got.Spec.InitContainers[0].VolumeMounts {
		if m.MountPath == "/cache" {
			t.Errorf("conflicting pod's init container got the preset's mount: %+v", m)
		}
	}
	want := "conflict occurred while applying podpresets: allow-database on pod: website-conflict err: merging volume mounts for allow-database has a conflict on mount path /cache"
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=website-conflict,reason=PodPreset"})
		if err != nil {
			return false, err
		}
		for _, ev := range evs.Items {
			if ev.Type == corev1.EventTypeWarning && strings.HasPrefix(ev.Message, want) && ev.InvolvedObject.Kind == "Pod" && ev.InvolvedObject.UID == got.UID {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no PodPreset warning event for the conflicting pod: %v", err)
	}

	// Excluded pods and pods the selector does not match get nothing.
	for _, p := range []*corev1.Pod{
		presetPod("excluded", map[string]string{"role": "frontend"}, map[string]string{"podpreset.admission.kubernetes.io/exclude": "true"}),
		presetPod("backend", map[string]string{"role": "backend"}, nil),
	} {
		got, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := got.Annotations["podpreset.admission.kubernetes.io/podpreset-allow-database"]; ok || len(got.Spec.Containers[0].Env) != 0 {
			t.Errorf("%s got the preset: %+v", p.Name, got)
		}
	}

	// Updates are not admitted again: a preset created later does not
	// touch an existing pod.
	pod.Labels["extra"] = "x"
	updated, err := cs.CoreV1().Pods(ns).Update(ctx, pod, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(updated.Spec.Containers[0].Env) != 1 {
		t.Errorf("update changed env: %v", updated.Spec.Containers[0].Env)
	}
}
