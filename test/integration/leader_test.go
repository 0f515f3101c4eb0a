package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// Servers sharing one etcd take turns running the scheduler and the
// controllers through a Lease: one leads, and when it stops another takes
// over and goes on binding pods.
func TestServersShareOneEtcdThroughLeaderElection(t *testing.T) {
	opts, _ := externalEtcd(t)
	first := testserver.Start(t, opts)
	second := testserver.Start(t, opts)
	cs := second.Clientset(t)
	ctx := context.Background()
	id := func(in *testserver.Instance) string {
		b, err := os.ReadFile(filepath.Join(in.Config.DataDir, "server-id"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	holder := func() string {
		l, err := cs.CoordinationV1().Leases("kube-system").Get(ctx, "flotilla-controllers", metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	waitUntil(t, 20*time.Second, func() (bool, string) {
		h := holder()
		return h == id(first) || h == id(second), "holder " + h
	})
	leader, standby := first, second
	if holder() == id(second) {
		leader, standby = second, first
	}
	runSim(t, standby.Clientset(t), "ha", 1, "4", nil)
	settled(t, cs, "default")
	createPod(t, cs, "default", simPod("before", nil, nil))
	boundTo(t, cs, "default", "before")

	leader.Stop()
	waitUntil(t, 30*time.Second, func() (bool, string) { h := holder(); return h == id(standby), "holder " + h })
	scs := standby.Clientset(t)
	createPod(t, scs, "default", simPod("after", nil, nil))
	if n := boundTo(t, scs, "default", "after"); n != "ha-0" {
		t.Fatalf("pod bound to %q after failover", n)
	}
}
