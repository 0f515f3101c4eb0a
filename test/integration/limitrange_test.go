package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// TestLimitRange: LimitRanger defaults show on the created pod with
// upstream's annotation, violations are refused with upstream's 403, and
// a ResourceQuota counts what LimitRanger defaulted (it runs first).
func TestLimitRange(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	ns := "limits"
	quotaNamespace(t, cs, ns)
	q := resource.MustParse
	lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "lr"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type:                 corev1.LimitTypeContainer,
		Default:              corev1.ResourceList{corev1.ResourceCPU: q("500m"), corev1.ResourceMemory: q("512Mi")},
		DefaultRequest:       corev1.ResourceList{corev1.ResourceCPU: q("250m"), corev1.ResourceMemory: q("256Mi")},
		Min:                  corev1.ResourceList{corev1.ResourceCPU: q("100m")},
		Max:                  corev1.ResourceList{corev1.ResourceCPU: q("1"), corev1.ResourceMemory: q("1Gi")},
		MaxLimitRequestRatio: corev1.ResourceList{corev1.ResourceCPU: q("2")},
	}}}}
	if _, err := cs.CoreV1().LimitRanges(ns).Create(ctx, lr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createQuota(t, cs, ns, "q", corev1.ResourceList{corev1.ResourceRequestsCPU: q("1")})
	pods := cs.CoreV1().Pods(ns)
	// Admission reads LimitRanges from its cache: wait until a dry-run pod
	// shows the defaults.
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := pods.Create(ctx, quotaPod("probe", corev1.ResourceRequirements{}), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil && p.Annotations["kubernetes.io/limit-ranger"] != "", nil
	}); err != nil {
		t.Fatalf("the LimitRange never reached admission: %v", err)
	}

	got, err := pods.Create(ctx, quotaPod("defaulted", corev1.ResourceRequirements{}), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("pod without resources (defaults satisfy the quota's constraint): %v", err)
	}
	res := got.Spec.Containers[0].Resources
	if c, m := res.Requests[corev1.ResourceCPU], res.Limits[corev1.ResourceMemory]; c.Cmp(q("250m")) != 0 || m.Cmp(q("512Mi")) != 0 {
		t.Errorf("defaulted resources %v, want requests.cpu 250m and limits.memory 512Mi", res)
	}
	wantNote := "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c"
	if a := got.Annotations["kubernetes.io/limit-ranger"]; a != wantNote {
		t.Errorf("annotation %q, want %q", a, wantNote)
	}
	waitUsed(t, cs, ns, "q", usedIs(corev1.ResourceRequestsCPU, "250m"))

	for _, tc := range []struct {
		name string
		res  corev1.ResourceRequirements
		want string
	}{
		{"small", corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("50m")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("2Gi")},
		}, `pods "small" is forbidden: [minimum cpu usage per Container is 100m, but request is 50m, maximum memory usage per Container is 1Gi, but limit is 2Gi]`},
		{"ratio", corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("200m")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: q("800m")},
		}, `pods "ratio" is forbidden: cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000`},
	} {
		_, err := pods.Create(ctx, quotaPod(tc.name, tc.res), metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) || err.Error() != tc.want {
			t.Errorf("%s: got %v, want 403 %q", tc.name, err, tc.want)
		}
	}

	// A claim above the PersistentVolumeClaim max.
	pvcRange := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "storage"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type: corev1.LimitTypePersistentVolumeClaim, Max: corev1.ResourceList{corev1.ResourceStorage: q("1Gi")},
	}}}}
	if _, err := cs.CoreV1().LimitRanges(ns).Create(ctx, pvcRange, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "big"}, Spec: corev1.PersistentVolumeClaimSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: q("2Gi")}},
	}}
	want := `persistentvolumeclaims "big" is forbidden: maximum storage usage per PersistentVolumeClaim is 1Gi, but request is 2Gi`
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return apierrors.IsForbidden(err) && err.Error() == want, nil
	}); err != nil {
		_, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		t.Errorf("claim above max: got %v, want 403 %q", err, want)
	}

	// Validation: upstream's paths and messages.
	bad := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "bad"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type: corev1.LimitTypeContainer, Min: corev1.ResourceList{corev1.ResourceCPU: q("2")}, Max: corev1.ResourceList{corev1.ResourceCPU: q("1")},
	}}}}
	_, err = cs.CoreV1().LimitRanges(ns).Create(ctx, bad, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `spec.limits[0].min[cpu]: Invalid value: "2": min value 2 is greater than max value 1`) {
		t.Errorf("min above max: got %v", err)
	}
}
