package daemonset_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/flotilla-io/flotilla/pkg/controller/daemonset"
	"github.com/flotilla-io/flotilla/pkg/controller/history"
	"github.com/flotilla-io/flotilla/pkg/controller/internal/lagtest"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
	"github.com/flotilla-io/flotilla/pkg/sim"
	"github.com/flotilla-io/flotilla/pkg/sim/simtest"
)

const ns = "ds"

// eventually is the shared poll of the test server package.
var eventually = testserver.Eventually

func newDS(name string, mutate func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	lbls := map[string]string{"app": name}
	grace := int64(1)
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: &grace,
					Containers:                    []corev1.Container{{Name: "c", Image: "busybox:1"}},
				},
			},
		},
	}
	if mutate != nil {
		mutate(ds)
	}
	return ds
}

// livePods are ds's pods not being deleted, by node.
func livePods(cs kubernetes.Interface, name string) (map[string][]corev1.Pod, error) {
	list, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + name})
	if err != nil {
		return nil, err
	}
	out := map[string][]corev1.Pod{}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p)
		}
	}
	return out, nil
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitRolledOut waits until ds has one Running, Ready pod with the
// current hash on exactly the given nodes and its status says so.
func waitRolledOut(t *testing.T, cs kubernetes.Interface, name string, nodes ...string) *appsv1.DaemonSet {
	t.Helper()
	sort.Strings(nodes)
	var ds *appsv1.DaemonSet
	eventually(t, 60*time.Second, name+" on "+strings.Join(nodes, ","), func() (bool, string) {
		var err error
		if ds, err = cs.AppsV1().DaemonSets(ns).Get(context.Background(), name, metav1.GetOptions{}); err != nil {
			return false, err.Error()
		}
		pods, err := livePods(cs, name)
		if err != nil {
			return false, err.Error()
		}
		var got []string
		hashes := map[string]bool{}
		allReady := true
		for node, ps := range pods {
			got = append(got, fmt.Sprintf("%s:%d", node, len(ps)))
			for _, p := range ps {
				hashes[p.Labels[appsv1.ControllerRevisionHashLabelKey]] = true
				allReady = allReady && ready(&p)
			}
		}
		sort.Strings(got)
		var want []string
		for _, n := range nodes {
			want = append(want, n+":1")
		}
		n := int32(len(nodes))
		st := ds.Status
		ok := strings.Join(got, " ") == strings.Join(want, " ") && allReady && len(hashes) <= 1 &&
			st.ObservedGeneration == ds.Generation && st.DesiredNumberScheduled == n && st.CurrentNumberScheduled == n &&
			st.NumberReady == n && st.NumberAvailable == n && st.UpdatedNumberScheduled == n &&
			st.NumberMisscheduled == 0 && st.NumberUnavailable == 0
		return ok, fmt.Sprintf("pods %v ready %v hashes %v gen %d status %+v", got, allReady, hashes, ds.Generation, st)
	})
	return ds
}

func revisions(t *testing.T, cs kubernetes.Interface, name string) []appsv1.ControllerRevision {
	t.Helper()
	list, err := cs.AppsV1().ControllerRevisions(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + name})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Revision < list.Items[j].Revision })
	return list.Items
}

func TestDaemonSet(t *testing.T) {
	in := testserver.Start(t, testserver.Options{DisableControllers: []string{"daemonset"}})
	cs := in.Clientset(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	factory := informers.NewSharedInformerFactory(cs, 0)
	t.Cleanup(func() { cancel(); factory.Shutdown(); wg.Wait() })
	level := slog.LevelWarn
	if os.Getenv("FLOTILLA_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testserver.Settled(t, cs, ns)

	simCfg := sim.Config{Nodes: 3, NamePrefix: "n", CPU: resource.MustParse("8"), Memory: resource.MustParse("32Gi"), Pods: 110, LeaseRenewInterval: time.Second}
	base, err := sim.New(cs, simCfg, log)
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); _ = base.Run(ctx) }()

	c := daemonset.New(cs, factory, log)
	factory.Start(ctx.Done())
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx, 2) }()

	// One pod per node, pinned by affinity, with the default tolerations.
	ds, err := cs.AppsV1().DaemonSets(ns).Create(ctx, newDS("agent", func(ds *appsv1.DaemonSet) {
		ds.Spec.RevisionHistoryLimit = ptr(int32(1))
	}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, cs, "agent", "n-0", "n-1", "n-2")
	pods, _ := livePods(cs, "agent")
	p := pods["n-1"][0]
	if ref := metav1.GetControllerOf(&p); ref == nil || ref.UID != ds.UID || ref.Kind != "DaemonSet" {
		t.Fatalf("pod owner: %+v", p.OwnerReferences)
	}
	terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchFields) != 1 || terms[0].MatchFields[0].Key != "metadata.name" || terms[0].MatchFields[0].Values[0] != "n-1" {
		t.Fatalf("pod affinity: %+v", terms)
	}
	tolerated := map[string]bool{}
	for _, tol := range p.Spec.Tolerations {
		tolerated[tol.Key+":"+string(tol.Effect)] = true
	}
	for _, want := range []string{"node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unschedulable:NoSchedule", "node.kubernetes.io/disk-pressure:NoSchedule"} {
		if !tolerated[want] {
			t.Fatalf("pod lacks toleration %s: %+v", want, p.Spec.Tolerations)
		}
	}
	revs := revisions(t, cs, "agent")
	hash1 := p.Labels[appsv1.ControllerRevisionHashLabelKey]
	if len(revs) != 1 || revs[0].Revision != 1 || revs[0].Name != "agent-"+hash1 || !metav1.IsControlledBy(&revs[0], ds) {
		t.Fatalf("revisions: %+v", revs)
	}
	var data struct {
		Spec struct {
			Template map[string]any `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(revs[0].Data.Raw, &data); err != nil || data.Spec.Template["$patch"] != "replace" || data.Spec.Template["spec"] == nil {
		t.Fatalf("revision data %s: %v", revs[0].Data.Raw, err)
	}
	// Clients (kubectl rollout, upstream's e2e suite) find the current
	// revision by comparing its data byte for byte with a patch they
	// compute from the DaemonSet they read (package history's golden test
	// pins that encoding to v1.32's); the server keeps the bytes as sent.
	if want, _ := history.TemplatePatch(&mustDS(t, cs, "agent").Spec.Template); string(want) != string(revs[0].Data.Raw) {
		t.Fatalf("revision data\n%s\nis not what clients compute from the DaemonSet:\n%s", revs[0].Data.Raw, want)
	}

	// A node joins, then (later) leaves.
	joinCtx, leave := context.WithCancel(ctx)
	joinCfg := simCfg
	joinCfg.Nodes, joinCfg.NamePrefix, joinCfg.DeleteNodesOnExit = 1, "j", true
	joiner, err := sim.New(cs, joinCfg, log)
	if err != nil {
		t.Fatal(err)
	}
	joined := make(chan struct{})
	wg.Add(1)
	go func() { defer wg.Done(); defer close(joined); _ = joiner.Run(joinCtx) }()
	waitRolledOut(t, cs, "agent", "n-0", "n-1", "n-2", "j-0")

	// A NoSchedule taint keeps new daemons off unless tolerated; the
	// running one stays.
	node, err := cs.CoreV1().Nodes().Get(ctx, "n-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule})
	if _, err := cs.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().DaemonSets(ns).Create(ctx, newDS("picky", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, cs, "picky", "n-1", "n-2", "j-0")
	if _, err := cs.AppsV1().DaemonSets(ns).Create(ctx, newDS("tolerant", func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
	}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, cs, "tolerant", "n-0", "n-1", "n-2", "j-0")
	// The daemon already on n-0 stays, counted as misscheduled.
	eventually(t, 10*time.Second, "agent misscheduled on n-0", func() (bool, string) {
		ds := mustDS(t, cs, "agent")
		pods, _ := livePods(cs, "agent")
		st := ds.Status
		return len(pods["n-0"]) == 1 && st.DesiredNumberScheduled == 3 && st.NumberMisscheduled == 1 && st.CurrentNumberScheduled == 3, fmt.Sprintf("%+v", st)
	})
	node, err = cs.CoreV1().Nodes().Get(ctx, "n-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Spec.Taints = nil
	if _, err := cs.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, cs, "picky", "n-0", "n-1", "n-2", "j-0")
	waitRolledOut(t, cs, "agent", "n-0", "n-1", "n-2", "j-0")

	// nodeSelector: pods follow the label.
	if _, err := cs.AppsV1().DaemonSets(ns).Create(ctx, newDS("special", func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.NodeSelector = map[string]string{"role": "special"}
	}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, cs, "special")
	labelNode(t, cs, "n-2", map[string]any{"role": "special"})
	waitRolledOut(t, cs, "special", "n-2")
	labelNode(t, cs, "n-2", map[string]any{"role": nil})
	waitRolledOut(t, cs, "special")

	// Rolling update with maxUnavailable 1: never more than one eligible
	// node without an available pod.
	watch := watchAvailability(t, ctx, cs, "agent", []string{"n-0", "n-1", "n-2", "j-0"})
	ds = mustDS(t, cs, "agent")
	ds.Spec.Template.Spec.Containers[0].Image = "busybox:2"
	if _, err := cs.AppsV1().DaemonSets(ns).Update(ctx, ds, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, cs, "agent", "n-0", "n-1", "n-2", "j-0")
	if worst := watch(); worst > 1 {
		t.Fatalf("rolling update had %d nodes without an available pod at once", worst)
	}
	pods, _ = livePods(cs, "agent")
	hash2 := pods["n-0"][0].Labels[appsv1.ControllerRevisionHashLabelKey]
	revs = revisions(t, cs, "agent")
	if hash2 == hash1 || len(revs) != 2 || revs[1].Name != "agent-"+hash2 || revs[1].Revision != 2 || pods["n-0"][0].Spec.Containers[0].Image != "busybox:2" {
		t.Fatalf("after update: hash %s→%s, revisions %v", hash1, hash2, revNames(revs))
	}

	// kubectl rollout undo: the old revision's data patched back in; that
	// revision becomes number 3, and history stays within its limit.
	if _, err := cs.AppsV1().DaemonSets(ns).Patch(ctx, "agent", types.StrategicMergePatchType, revs[0].Data.Raw, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, cs, "agent", "n-0", "n-1", "n-2", "j-0")
	eventually(t, 10*time.Second, "revision renumbered", func() (bool, string) {
		revs = revisions(t, cs, "agent")
		return len(revs) == 2 && revs[1].Name == "agent-"+hash1 && revs[1].Revision == 3, fmt.Sprint(revNames(revs))
	})
	pods, _ = livePods(cs, "agent")
	if got := pods["j-0"][0].Labels[appsv1.ControllerRevisionHashLabelKey]; got != hash1 {
		t.Fatalf("after undo pods have hash %s, want %s", got, hash1)
	}

	// OnDelete: a new template waits for pods to be deleted.
	if _, err := cs.AppsV1().DaemonSets(ns).Create(ctx, newDS("manual", func(ds *appsv1.DaemonSet) {
		ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, cs, "manual", "n-0", "n-1", "n-2", "j-0")
	ds = mustDS(t, cs, "manual")
	ds.Spec.Template.Spec.Containers[0].Image = "busybox:2"
	if _, err := cs.AppsV1().DaemonSets(ns).Update(ctx, ds, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "manual status observed", func() (bool, string) {
		ds = mustDS(t, cs, "manual")
		return ds.Status.ObservedGeneration == ds.Generation && ds.Status.UpdatedNumberScheduled == 0 && ds.Status.NumberAvailable == 4, fmt.Sprintf("%+v", ds.Status)
	})
	pods, _ = livePods(cs, "manual")
	before := map[string]types.UID{}
	for node, ps := range pods {
		if len(ps) != 1 || ps[0].Spec.Containers[0].Image != "busybox:1" {
			t.Fatalf("OnDelete replaced pods on %s unasked", node)
		}
		before[node] = ps[0].UID
	}
	if err := cs.CoreV1().Pods(ns).Delete(ctx, pods["n-1"][0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "n-1 replaced by the new template", func() (bool, string) {
		ds = mustDS(t, cs, "manual")
		pods, _ = livePods(cs, "manual")
		ok := len(pods["n-1"]) == 1 && pods["n-1"][0].Spec.Containers[0].Image == "busybox:2" && ready(&pods["n-1"][0]) &&
			ds.Status.UpdatedNumberScheduled == 1 && ds.Status.NumberAvailable == 4
		return ok, fmt.Sprintf("%+v", ds.Status)
	})
	// The controller has synced the set since the template changed (it
	// replaced n-1); every pod not deleted is still the one from before.
	for node, uid := range before {
		if node == "n-1" {
			continue
		}
		if ps := pods[node]; len(ps) != 1 || ps[0].UID != uid || ps[0].Spec.Containers[0].Image != "busybox:1" {
			t.Fatalf("OnDelete replaced the pod on %s unasked", node)
		}
	}

	// A failed daemon pod is replaced.
	pods, _ = livePods(cs, "picky")
	failed := pods["n-1"][0]
	failed.Status.Phase = corev1.PodFailed
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, &failed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "failed pod replaced", func() (bool, string) {
		pods, _ := livePods(cs, "picky")
		ps := pods["n-1"]
		return len(ps) == 1 && ps[0].UID != failed.UID && ready(&ps[0]), fmt.Sprint(len(ps))
	})

	// The node leaves: its pod goes.
	leave()
	<-joined
	waitRolledOut(t, cs, "agent", "n-0", "n-1", "n-2")
	waitRolledOut(t, cs, "picky", "n-0", "n-1", "n-2")
}

func labelNode(t *testing.T, cs kubernetes.Interface, name string, lbls map[string]any) {
	t.Helper()
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": lbls}})
	if _, err := cs.CoreV1().Nodes().Patch(context.Background(), name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func mustDS(t *testing.T, cs kubernetes.Interface, name string) *appsv1.DaemonSet {
	t.Helper()
	ds, err := cs.AppsV1().DaemonSets(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func revNames(revs []appsv1.ControllerRevision) []string {
	var out []string
	for _, r := range revs {
		out = append(out, fmt.Sprintf("%s#%d", r.Name, r.Revision))
	}
	return out
}

// watchAvailability follows name's pods in an informer and returns a
// function reporting the most nodes seen at once without an available
// (Ready, not deleting) pod.
func watchAvailability(t *testing.T, ctx context.Context, cs kubernetes.Interface, name string, nodes []string) func() int {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = labels.Set{"app": name}.String() }))
	inf := f.Core().V1().Pods().Informer()
	var mu sync.Mutex
	worst := 0
	check := func(any) {
		mu.Lock()
		defer mu.Unlock()
		up := map[string]bool{}
		for _, obj := range inf.GetStore().List() {
			p := obj.(*corev1.Pod)
			if p.DeletionTimestamp == nil && ready(p) {
				up[p.Spec.NodeName] = true
			}
		}
		down := 0
		for _, n := range nodes {
			if !up[n] {
				down++
			}
		}
		worst = max(worst, down)
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: check, UpdateFunc: func(_, n any) { check(n) }, DeleteFunc: check})
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("availability informer did not sync")
	}
	return func() int {
		cancel()
		f.Shutdown()
		mu.Lock()
		defer mu.Unlock()
		return worst
	}
}

func ptr[T any](v T) *T { return &v }

// The garbage collector deletes the pods of a deleted DaemonSet right
// after it; the controller may see them go before it sees the DaemonSet go
// (here its DaemonSet watch is held back) and must not replace them.
func TestNoPodsForADeletedDaemonSet(t *testing.T) {
	in := testserver.Start(t, testserver.Options{DisableControllers: []string{"daemonset"}})
	cs := in.Clientset(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var lag lagtest.Lag
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testserver.Settled(t, cs, ns)
	simtest.Start(t, cs, sim.Config{Nodes: 2, NamePrefix: "n", CPU: resource.MustParse("8"), Memory: resource.MustParse("32Gi"), Pods: 110, LeaseRenewInterval: time.Second})
	cfg := in.RESTConfig()
	cfg.Wrap(lag.Wrap("daemonsets"))
	ccs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	factory := informers.NewSharedInformerFactory(ccs, 0)
	t.Cleanup(func() { lag.Release(); cancel(); factory.Shutdown(); wg.Wait() })
	c := daemonset.New(ccs, factory, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	factory.Start(ctx.Done())
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx, 2) }()

	if _, err := cs.AppsV1().DaemonSets(ns).Create(ctx, newDS("doomed", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, cs, "doomed", "n-0", "n-1")
	podsPath := "/api/v1/namespaces/" + ns + "/pods"
	before := len(lag.Requests(http.MethodPost, podsPath))

	lag.Hold()
	if err := cs.AppsV1().DaemonSets(ns).Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Done when the pods are being deleted (or gone) and the controller
	// has seen past its cache that the DaemonSet is gone, or has created
	// pods.
	eventually(t, 30*time.Second, "the garbage collector deletes the pods and the controller rechecks", func() (bool, string) {
		live, err := livePods(cs, "doomed")
		if err != nil {
			return false, err.Error()
		}
		rechecked := lag.Answered(http.MethodGet, "/apis/apps/v1/namespaces/"+ns+"/daemonsets/doomed", http.StatusNotFound)
		created := len(lag.Requests(http.MethodPost, podsPath)) - before
		return created > 0 || len(live) == 0 && rechecked, fmt.Sprintf("live pods on %d nodes; %d created; rechecked %v", len(live), created, rechecked)
	})
	if created := lag.Requests(http.MethodPost, podsPath)[before:]; len(created) > 0 {
		t.Fatalf("the deleted DaemonSet created %d pods: %v", len(created), created)
	}
}
