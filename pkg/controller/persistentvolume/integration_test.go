package persistentvolume_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/controller/persistentvolume"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

const ns = "pv"

// eventually is the shared poll of the test server package.
var eventually = testserver.Eventually

func staticPV(name, class, size string, reclaim corev1.PersistentVolumeReclaimPolicy) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			StorageClassName:              class,
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			PersistentVolumeReclaimPolicy: reclaim,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + name}},
		},
	}
}

func newClaim(name string, class *string, size string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: class,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
}

func waitBound(t *testing.T, cs kubernetes.Interface, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	var pvc *corev1.PersistentVolumeClaim
	eventually(t, 20*time.Second, name+" bound", func() (bool, string) {
		var err error
		if pvc, err = cs.CoreV1().PersistentVolumeClaims(ns).Get(context.Background(), name, metav1.GetOptions{}); err != nil {
			return false, err.Error()
		}
		return pvc.Status.Phase == corev1.ClaimBound, fmt.Sprintf("%+v %+v", pvc.Spec, pvc.Status)
	})
	return pvc
}

func TestBinderAndProvisioner(t *testing.T) {
	in := testserver.Start(t, testserver.Options{DisableControllers: []string{"statefulset", "persistentvolume", "scheduler"}})
	cs := in.Clientset(t)
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(cs, 0)
	base := t.TempDir()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c := persistentvolume.New(cs, factory, persistentvolume.Config{BaseDir: base, ResyncPeriod: time.Second}, log)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); factory.Shutdown(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.Run(ctx, 2)
	}()
	factory.Start(ctx.Done())
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testserver.Settled(t, cs, ns)

	t.Run("StaticBindAndDelete", func(t *testing.T) {
		for _, pv := range []*corev1.PersistentVolume{
			staticPV("manual-big", "manual", "10Gi", corev1.PersistentVolumeReclaimDelete),
			staticPV("manual-fit", "manual", "2Gi", corev1.PersistentVolumeReclaimDelete),
			staticPV("other-class", "other", "2Gi", corev1.PersistentVolumeReclaimDelete),
		} {
			if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, newClaim("static", ptr.To("manual"), "1Gi"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pvc := waitBound(t, cs, "static")
		if pvc.Spec.VolumeName != "manual-fit" || pvc.Annotations[persistentvolume.AnnBindCompleted] != "yes" ||
			pvc.Annotations[persistentvolume.AnnBoundByController] != "yes" || !pvc.Status.Capacity.Storage().Equal(resource.MustParse("2Gi")) {
			t.Fatalf("claim %+v annotations %v status %+v", pvc.Spec, pvc.Annotations, pvc.Status)
		}
		pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, "manual-fit", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pv.Status.Phase != corev1.VolumeBound || pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != pvc.UID || pv.Annotations[persistentvolume.AnnBoundByController] != "yes" {
			t.Fatalf("volume phase %s claimRef %+v annotations %v", pv.Status.Phase, pv.Spec.ClaimRef, pv.Annotations)
		}
		if err := cs.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "static", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "released volume deleted", func() (bool, string) {
			pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, "manual-fit", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return true, ""
			}
			if err != nil {
				return false, err.Error()
			}
			return false, string(pv.Status.Phase)
		})
	})

	t.Run("RetainAndPreBound", func(t *testing.T) {
		pv := staticPV("kept", "", "1Gi", corev1.PersistentVolumeReclaimRetain)
		if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		claim := newClaim("prebound", ptr.To(""), "1Gi")
		claim.Spec.VolumeName = "kept"
		if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, claim, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pvc := waitBound(t, cs, "prebound")
		if pvc.Annotations[persistentvolume.AnnBoundByController] != "" {
			t.Errorf("user pre-bound claim marked bound-by-controller: %v", pvc.Annotations)
		}
		if err := cs.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "prebound", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "volume released", func() (bool, string) {
			pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, "kept", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return pv.Status.Phase == corev1.VolumeReleased, string(pv.Status.Phase)
		})
	})

	t.Run("LocalPath", func(t *testing.T) {
		// No class given: the default (local-path) is filled in; nothing
		// is provisioned until a consumer has a node.
		if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, newClaim("data", nil, "3Gi"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "default class", func() (bool, string) {
			pvc, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return ptr.Deref(pvc.Spec.StorageClassName, "") == persistentvolume.LocalPathClass && pvc.Status.Phase == corev1.ClaimPending, fmt.Sprintf("%v %s", pvc.Spec.StorageClassName, pvc.Status.Phase)
		})
		time.Sleep(500 * time.Millisecond)
		pvs, err := cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, pv := range pvs.Items {
			if pv.Annotations[persistentvolume.AnnProvisionedBy] != "" {
				t.Fatalf("provisioned %s before a consumer was scheduled", pv.Name)
			}
		}
		// The scheduler is off: bind the consumer by hand.
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "consumer"},
			Spec: corev1.PodSpec{
				NodeName:   "node-a",
				Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
				Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"},
				}}},
			},
		}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pvc := waitBound(t, cs, "data")
		pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dir := persistentvolume.VolumePath(base, ns, "data", pv.Name)
		if pv.Name != "pvc-"+string(pvc.UID) || pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != dir ||
			pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values[0] != "node-a" ||
			pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
			pv.Annotations[persistentvolume.AnnProvisionedBy] != persistentvolume.Provisioner ||
			!pv.Spec.Capacity.Storage().Equal(resource.MustParse("3Gi")) {
			t.Fatalf("provisioned volume %s: %+v %v", pv.Name, pv.Spec, pv.Annotations)
		}
		// What the agent would do when mounting it.
		if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := cs.CoreV1().Pods(ns).Delete(ctx, "consumer", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		if err := cs.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "provisioned volume and directory removed", func() (bool, string) {
			_, err := cs.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
			_, serr := os.Stat(dir)
			return apierrors.IsNotFound(err) && os.IsNotExist(serr), fmt.Sprint(err, serr)
		})
	})
}
