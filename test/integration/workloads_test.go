package integration

import (
	"context"
	"fmt"
	"github.com/flotilla-io/flotilla/pkg/controller/deployment"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"log/slog"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

func webTemplate(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers:                    []corev1.Container{{Name: "web", Image: image}},
		},
	}
}

func podsOf(t *testing.T, cs kubernetes.Interface, ns, selector string) []corev1.Pod {
	t.Helper()
	l, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var live []corev1.Pod
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	return live
}

// The whole chain in the server: a Deployment makes a ReplicaSet, which
// makes pods, which the scheduler binds to simulated nodes that run them;
// a new image rolls out; deleting the Deployment collects the rest.
func TestDeploymentRollsOutOnSimulatedNodes(t *testing.T) {
	in := testserver.Start(t, testserver.Options{})
	cs := in.Clientset(t)
	ctx := context.Background()
	settled(t, cs, "default")
	runSim(t, cs, "wl", 3, "8", nil)

	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](5),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: webTemplate("nginx:1.27"),
		},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	available := func(image string) func() (bool, string) {
		return func() (bool, string) {
			cur, err := cs.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			st := cur.Status
			running := 0
			for _, p := range podsOf(t, cs, "default", "app=web") {
				if p.Status.Phase == corev1.PodRunning && p.Spec.Containers[0].Image == image {
					running++
				}
			}
			done := st.ObservedGeneration >= cur.Generation && st.UpdatedReplicas == 5 && st.AvailableReplicas == 5 && st.Replicas == 5 && running == 5
			return done, fmt.Sprintf("status %+v, %d running with %s", st, running, image)
		}
	}
	waitUntil(t, 60*time.Second, available("nginx:1.27"))

	cur, err := cs.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
	if _, err := cs.AppsV1().Deployments("default").Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 90*time.Second, available("nginx:1.28"))
	rss, err := cs.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(rss.Items) != 2 {
		t.Fatalf("want the old and the new ReplicaSet: %v %v", rss, err)
	}

	// Background deletion (what kubectl sends) removes ReplicaSets and pods.
	if err := cs.AppsV1().Deployments("default").Delete(ctx, "web", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 60*time.Second, func() (bool, string) {
		rss, err := cs.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, err.Error()
		}
		pods := podsOf(t, cs, "default", "app=web")
		return len(rss.Items) == 0 && len(pods) == 0, fmt.Sprintf("%d replica sets, %d pods left", len(rss.Items), len(pods))
	})
}

// Seed 004: a ReplicationController keeps its pods; one killed is
// replaced; Orphan deletion leaves the pods behind without an owner.
func TestReplicationControllerReplacesAndOrphans(t *testing.T) {
	in := testserver.Start(t, testserver.Options{})
	cs := in.Clientset(t)
	ctx := context.Background()
	settled(t, cs, "default")
	runSim(t, cs, "rc", 2, "8", nil)
	rc := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx"},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To[int32](3),
			Selector: map[string]string{"app": "web"},
			Template: ptr.To(webTemplate("nginx")),
		},
	}
	if _, err := cs.CoreV1().ReplicationControllers("default").Create(ctx, rc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ready := func() (bool, string) {
		cur, err := cs.CoreV1().ReplicationControllers("default").Get(ctx, "nginx", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return cur.Status.ReadyReplicas == 3 && len(podsOf(t, cs, "default", "app=web")) == 3, fmt.Sprintf("%+v", cur.Status)
	}
	waitUntil(t, 60*time.Second, ready)
	victim := podsOf(t, cs, "default", "app=web")[0].Name
	if err := cs.CoreV1().Pods("default").Delete(ctx, victim, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 60*time.Second, func() (bool, string) {
		_, err := cs.CoreV1().Pods("default").Get(ctx, victim, metav1.GetOptions{})
		ok, state := ready()
		return apierrors.IsNotFound(err) && ok, state
	})

	if err := cs.CoreV1().ReplicationControllers("default").Delete(ctx, "nginx", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationOrphan)}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, func() (bool, string) {
		_, err := cs.CoreV1().ReplicationControllers("default").Get(ctx, "nginx", metav1.GetOptions{})
		pods := podsOf(t, cs, "default", "app=web")
		owned := 0
		for _, p := range pods {
			owned += len(p.OwnerReferences)
		}
		return apierrors.IsNotFound(err) && len(pods) == 3 && owned == 0, fmt.Sprintf("rc err %v, %d pods, %d owner refs", err, len(pods), owned)
	})
}

// A StatefulSet's claims are provisioned on the node its pod first lands
// on; the pod, recreated, goes back to that node because the scheduler
// honours the volume's node affinity.
func TestStatefulSetKeepsItsVolumeNode(t *testing.T) {
	in := testserver.Start(t, testserver.Options{})
	cs := in.Clientset(t)
	ctx := context.Background()
	settled(t, cs, "default")
	runSim(t, cs, "sts", 4, "8", nil)
	tmpl := webTemplate("nginx")
	tmpl.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "www", MountPath: "/usr/share/nginx/html"}}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To[int32](2),
			ServiceName: "web",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template:    tmpl,
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "www"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resourceQuantity("1Gi")}},
				},
			}},
		},
	}
	if _, err := cs.AppsV1().StatefulSets("default").Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var firstNode string
	waitUntil(t, 60*time.Second, func() (bool, string) {
		p, err := cs.CoreV1().Pods("default").Get(ctx, "web-1", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		claim, err := cs.CoreV1().PersistentVolumeClaims("default").Get(ctx, "www-web-0", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		p0, _ := cs.CoreV1().Pods("default").Get(ctx, "web-0", metav1.GetOptions{})
		if p0 != nil {
			firstNode = p0.Spec.NodeName
		}
		return p.Status.Phase == corev1.PodRunning && claim.Status.Phase == corev1.ClaimBound, fmt.Sprintf("web-1 %s, claim %s", p.Status.Phase, claim.Status.Phase)
	})
	for range 3 {
		if err := cs.CoreV1().Pods("default").Delete(ctx, "web-0", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 30*time.Second, func() (bool, string) {
			p, err := cs.CoreV1().Pods("default").Get(ctx, "web-0", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil, string(p.Status.Phase)
		})
		p, _ := cs.CoreV1().Pods("default").Get(ctx, "web-0", metav1.GetOptions{})
		if p.Spec.NodeName != firstNode {
			t.Fatalf("web-0 came back on %s, its volume is on %s", p.Spec.NodeName, firstNode)
		}
	}
}

func resourceQuantity(s string) resource.Quantity { return resource.MustParse(s) }

// Seed 004: a node goes down, its pods are evicted once their toleration
// runs out and end Failed, and their ReplicaSet rebuilds them elsewhere.
func TestReplicaSetRebuildsPodsOfALostNode(t *testing.T) {
	in := testserver.Start(t, testserver.Options{NodeMonitorGracePeriod: 3 * time.Second})
	cs := in.Clientset(t)
	ctx := context.Background()
	settled(t, cs, "default")
	stopA := runSim(t, cs, "lossa", 1, "8", nil)
	tmpl := webTemplate("nginx")
	tmpl.Spec.Tolerations = []corev1.Toleration{{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](1)}}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](4),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: tmpl,
		},
	}
	if _, err := cs.AppsV1().ReplicaSets("default").Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, func() (bool, string) {
		cur, err := cs.AppsV1().ReplicaSets("default").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && cur.Status.ReadyReplicas == 4, "not ready"
	})
	runSim(t, cs, "lossb", 1, "8", nil)
	stopA()
	waitUntil(t, 60*time.Second, func() (bool, string) {
		pods := podsOf(t, cs, "default", "app=web")
		onB := 0
		for _, p := range pods {
			if p.Spec.NodeName == "lossb-0" && p.Status.Phase == corev1.PodRunning {
				onB++
			}
		}
		return onB == 4 && len(pods) == 4, fmt.Sprintf("%d pods, %d running on lossb-0", len(pods), onB)
	})
}

// The Deployment controller restarted in the middle of a rollout finishes
// it without losing progress or overshooting maxSurge.
func TestDeploymentControllerRestartMidRollout(t *testing.T) {
	in := testserver.Start(t, testserver.Options{DisableControllers: []string{"deployment"}})
	cs := in.Clientset(t)
	ctx := context.Background()
	settled(t, cs, "default")
	runSim(t, cs, "dr", 3, "16", nil)
	start := func() (stop func()) {
		factory := informers.NewSharedInformerFactory(cs, 0)
		c := deployment.New(cs, factory, slog.New(slog.DiscardHandler))
		cctx, cancel := context.WithCancel(ctx)
		factory.Start(cctx.Done())
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Run(cctx, 2)
		}()
		return func() {
			cancel()
			<-done
			factory.Shutdown()
		}
	}
	stop := start()
	const replicas = 10
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxSurge: ptr.To(intstr.FromInt32(2)), MaxUnavailable: ptr.To(intstr.FromInt32(0)),
			}},
			MinReadySeconds: 1, // slows the rollout so the restart lands inside it
			Template:        webTemplate("nginx:1"),
		},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rolledOut := func(image string) func() (bool, string) {
		return func() (bool, string) {
			cur, err := cs.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			st := cur.Status
			return cur.Spec.Template.Spec.Containers[0].Image == image && st.ObservedGeneration >= cur.Generation &&
				st.UpdatedReplicas == replicas && st.AvailableReplicas == replicas && st.Replicas == replicas, fmt.Sprintf("%+v", st)
		}
	}
	waitUntil(t, 60*time.Second, rolledOut("nginx:1"))

	// Watch the ReplicaSets' desired sizes for the whole rollout.
	w, err := cs.AppsV1().ReplicaSets("default").Watch(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	sizes := map[string]int32{}
	maxTotal := int32(0)
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		for ev := range w.ResultChan() {
			if rs, ok := ev.Object.(*appsv1.ReplicaSet); ok {
				sizes[rs.Name] = *rs.Spec.Replicas
				total := int32(0)
				for _, n := range sizes {
					total += n
				}
				maxTotal = max(maxTotal, total)
			}
		}
	}()

	cur, err := cs.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	if _, err := cs.AppsV1().Deployments("default").Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, func() (bool, string) {
		cur, err := cs.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && cur.Status.UpdatedReplicas >= 2 && cur.Status.UpdatedReplicas < replicas, "rollout not under way"
	})
	stop()
	stop = start()
	defer stop()
	waitUntil(t, 90*time.Second, rolledOut("nginx:2"))
	w.Stop()
	<-watching
	if maxTotal > replicas+2 {
		t.Fatalf("replica sets asked for %d pods at once, more than replicas+maxSurge", maxTotal)
	}
	rss, err := cs.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(rss.Items) != 2 {
		t.Fatalf("want exactly the old and the new ReplicaSet, got %v (%v)", len(rss.Items), err)
	}
	if pods := podsOf(t, cs, "default", "app=web"); len(pods) != replicas {
		t.Fatalf("%d pods after the rollout", len(pods))
	}
}
