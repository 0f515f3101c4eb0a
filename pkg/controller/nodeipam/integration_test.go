package nodeipam_test

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/controller/nodeipam"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// start runs a controller for the cluster range until the returned stop
// is called.
func start(t *testing.T, cs kubernetes.Interface, cluster string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(cs, 0)
	c, err := nodeipam.New(cs, factory, nodeipam.Config{ClusterCIDR: netip.MustParsePrefix(cluster)},
		slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	factory.Start(ctx.Done())
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); factory.Shutdown(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

func TestPodCIDRAssignment(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{DisableControllers: []string{"nodeipam"}})
	cs := srv.Clientset(t)
	ctx := context.Background()
	nodes := cs.CoreV1().Nodes()

	create := func(name, cidr string) {
		t.Helper()
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if cidr != "" {
			n.Spec.PodCIDR, n.Spec.PodCIDRs = cidr, []string{cidr}
		}
		if _, err := nodes.Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cidrOf := func(name string) string {
		t.Helper()
		var got string
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
			n, err := nodes.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			got = n.Spec.PodCIDR
			if got != "" && (len(n.Spec.PodCIDRs) != 1 || n.Spec.PodCIDRs[0] != got) {
				t.Fatalf("node %s: podCIDR %s, podCIDRs %v", name, got, n.Spec.PodCIDRs)
			}
			return got != "", nil
		})
		if err != nil {
			t.Fatalf("node %s got no pod CIDR: %v", name, err)
		}
		return got
	}
	event := func(node, reason, text string) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
			evs, err := cs.CoreV1().Events("").List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			for _, e := range evs.Items {
				if e.InvolvedObject.Kind == "Node" && e.InvolvedObject.Name == node && e.Reason == reason && strings.Contains(e.Message, text) {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("no %s event for node %s with %q", reason, node, text)
		}
	}
	unique := func() {
		t.Helper()
		list, err := nodes.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]string{}
		for _, n := range list.Items {
			if n.Spec.PodCIDR == "" || n.Name == "dup" {
				continue
			}
			if other, ok := seen[n.Spec.PodCIDR]; ok {
				t.Fatalf("pod CIDR %s given to %s and %s", n.Spec.PodCIDR, other, n.Name)
			}
			seen[n.Spec.PodCIDR] = n.Name
		}
	}

	// 10.99.0.0/22 holds four /24 blocks; "old" holds the first already
	// and "sim" a range outside, which is left alone.
	create("old", "10.99.0.0/24")
	create("sim", "10.128.0.0/24")
	stop := start(t, cs, "10.99.0.0/22")
	got := map[string]string{}
	for _, name := range []string{"a", "b", "c"} {
		create(name, "")
		got[name] = cidrOf(name)
		if got[name] == "10.99.0.0/24" {
			t.Fatalf("node %s was given old's range", name)
		}
		unique()
	}

	// Full: the next node waits, with an Event, until a node goes.
	create("d", "")
	event("d", "CIDRNotAvailable", "no pod CIDR left")
	if err := nodes.Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Nothing requeues d by itself after b goes: a change of d does.
	if _, err := nodes.Patch(ctx, "d", "application/merge-patch+json", []byte(`{"metadata":{"labels":{"poke":"1"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := cidrOf("d"); d != got["b"] {
		t.Fatalf("d got %s, want b's released %s", d, got["b"])
	}
	unique()

	// A restarted controller learns what is taken from the Nodes.
	stop()
	if err := nodes.Delete(ctx, "c", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	start(t, cs, "10.99.0.0/22")
	create("e", "")
	if e := cidrOf("e"); e != got["c"] {
		t.Fatalf("e got %s after restart, want c's free %s", e, got["c"])
	}
	unique()

	// A node that brings a range another holds is reported.
	create("dup", got["a"])
	event("dup", "CIDRNotAvailable", "which node a holds already")
	if n, _ := nodes.Get(ctx, "sim", metav1.GetOptions{}); n.Spec.PodCIDR != "10.128.0.0/24" {
		t.Fatalf("sim's range changed to %s", n.Spec.PodCIDR)
	}
}
