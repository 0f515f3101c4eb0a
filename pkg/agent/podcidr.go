package agent

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// waitPodCIDR returns the node's pod range: Config.PodCIDR when given,
// else the one the server's nodeipam controller writes to the Node's
// spec.podCIDR, waited for with a watch of this Node (the range is
// assigned moments after registration; a restarted agent finds it at
// once).
func (a *Agent) waitPodCIDR(ctx context.Context) (netip.Prefix, error) {
	if a.cfg.PodCIDR.IsValid() {
		p := a.cfg.PodCIDR.Masked()
		a.podCIDR.Store(&p)
		return p, nil
	}
	lw := cache.NewListWatchFromClient(a.cs.CoreV1().RESTClient(), "nodes", metav1.NamespaceAll,
		fields.OneTermEqualSelector(metav1.ObjectNameField, a.cfg.NodeName))
	var got netip.Prefix
	var parseErr error
	// A note in the log while waiting tells an operator whose server runs
	// without the nodeipam controller why no pod starts.
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-waitCtx.Done():
				return
			case <-t.C:
				a.log.Warn("waiting for the server to assign this node a pod range (spec.podCIDR); is its nodeipam controller disabled?")
			}
		}
	}()
	_, err := watchtools.UntilWithSync(waitCtx, lw, &corev1.Node{}, nil, func(ev watch.Event) (bool, error) {
		n, ok := ev.Object.(*corev1.Node)
		if !ok || n.Spec.PodCIDR == "" {
			return false, nil
		}
		got, parseErr = netip.ParsePrefix(n.Spec.PodCIDR)
		return true, nil
	})
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("wait for the node's pod range: %w", err)
	}
	if parseErr != nil || !got.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("node %s: spec.podCIDR %v is not an IPv4 prefix", a.cfg.NodeName, got)
	}
	got = got.Masked()
	a.podCIDR.Store(&got)
	return got, nil
}
