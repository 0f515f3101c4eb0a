package proxy_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/flotilla-io/flotilla/pkg/proxy"
	"github.com/flotilla-io/flotilla/pkg/proxy/nettest"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// TestIncrementalSync: with many Services programmed, an endpoint change
// is one small transaction touching only its Service.
func TestIncrementalSync(t *testing.T) {
	e := newEnv(t, 2)
	const n = 30
	for i := range n {
		e.svc(fmt.Sprintf("s%d", i), nil)
		e.endpoints(fmt.Sprintf("s%d", i), ready(nettest.PodIP(0), nodeName))
	}
	target := e.svc("target", nil)
	e.endpoints("target", ready(nettest.PodIP(0), nodeName))
	addr := hostPort(target.Spec.ClusterIP, 80)
	e.eventuallyOnly("target answers", e.node.Client, addr, 1, "pod0")

	// A full sync of all of them, for scale.
	e.stopProxy()
	e.mu.Lock()
	before := len(e.syncs)
	e.mu.Unlock()
	e.startProxy()
	e.mu.Lock()
	full := e.syncs[before]
	before = len(e.syncs)
	e.mu.Unlock()
	if !full.Full || len(full.Services) < n+1 {
		t.Fatalf("first sync after start: full %v over %d Services", full.Full, len(full.Services))
	}

	e.endpoints("target", ready(nettest.PodIP(0), nodeName), ready(nettest.PodIP(1), nodeName))
	want := types.NamespacedName{Namespace: testNS, Name: "target"}
	var got proxy.SyncResult
	testserver.Eventually(t, 20*time.Second, "a sync applying the change", func() (bool, string) {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, r := range e.syncs[before:] {
			if slices.Contains(r.Services, want) {
				got = r
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d syncs since", len(e.syncs)-before)
	})
	if got.Full || len(got.Services) != 1 || got.Err != nil {
		t.Fatalf("the endpoint change was applied by %+v, want a partial sync of target alone", got)
	}
	if got.Messages == 0 || got.Messages*10 > full.Messages {
		t.Fatalf("the endpoint change took %d netlink messages, the full sync of %d Services %d: not incremental", got.Messages, len(full.Services), full.Messages)
	}
	testserver.Eventually(t, 20*time.Second, "both endpoints answer", func() (bool, string) {
		got, _, err := answers(e.node.Client, addr, 30)
		return err == nil && got["pod0"] > 0 && got["pod1"] > 0, fmt.Sprintf("%v %v", got, err)
	})
	t.Logf("endpoint change: %d messages; full sync of %d Services: %d", got.Messages, len(full.Services), full.Messages)
}
