package clusterdns_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"

	"github.com/flotilla-io/flotilla/pkg/controller/clusterdns"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

func TestKubeDNSServiceAndEndpoints(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(cs, 0)
	c, err := clusterdns.New(cs, factory, netip.MustParseAddr("10.43.0.10"),
		slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	factory.Start(ctx.Done())
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); factory.Shutdown(); wg.Wait() })

	node := func(name, dnsAddr string, ready corev1.ConditionStatus) {
		t.Helper()
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if dnsAddr != "" {
			n.Annotations = map[string]string{clusterdns.AnnotationDNSAddress: dnsAddr}
		}
		n, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// endpoints waits until the Endpoints list exactly these ready and
	// not-ready addresses (as "ip@node").
	endpoints := func(ready, notReady []string) {
		t.Helper()
		var last string
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			ep, err := cs.CoreV1().Endpoints(clusterdns.Namespace).Get(ctx, clusterdns.Name, metav1.GetOptions{})
			if err != nil {
				last = err.Error()
				return false, nil
			}
			var r, nr []string
			for _, ss := range ep.Subsets {
				if len(ss.Ports) != 2 {
					last = fmt.Sprintf("ports %v", ss.Ports)
					return false, nil
				}
				for _, a := range ss.Addresses {
					r = append(r, a.IP+"@"+*a.NodeName)
				}
				for _, a := range ss.NotReadyAddresses {
					nr = append(nr, a.IP+"@"+*a.NodeName)
				}
			}
			last = fmt.Sprintf("ready %v, not ready %v", r, nr)
			return fmt.Sprint(r) == fmt.Sprint(ready) && fmt.Sprint(nr) == fmt.Sprint(notReady), nil
		})
		if err != nil {
			t.Fatalf("want ready %v, not ready %v; last: %s", ready, notReady, last)
		}
	}

	node("a", "10.42.0.1", corev1.ConditionTrue)
	node("b", "10.42.1.1", corev1.ConditionFalse)
	node("sim", "", corev1.ConditionTrue) // a node without a DNS server
	endpoints([]string{"10.42.0.1@a"}, []string{"10.42.1.1@b"})

	svc, err := cs.CoreV1().Services(clusterdns.Namespace).Get(ctx, clusterdns.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP != "10.43.0.10" || len(svc.Spec.Ports) != 2 || svc.Spec.Selector != nil ||
		svc.Spec.InternalTrafficPolicy == nil || *svc.Spec.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyLocal || svc.Labels["k8s-app"] != "kube-dns" {
		t.Fatalf("kube-dns Service: %+v", svc)
	}

	// A node losing its annotation (DNS turned off) drops out.
	if _, err := cs.CoreV1().Nodes().Patch(ctx, "b", "application/merge-patch+json",
		[]byte(`{"metadata":{"annotations":{"`+clusterdns.AnnotationDNSAddress+`":null}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	endpoints([]string{"10.42.0.1@a"}, nil)

	// The Service is the controller's: deleted, it comes back at its address.
	if err := cs.CoreV1().Services(clusterdns.Namespace).Delete(ctx, clusterdns.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		s, err := cs.CoreV1().Services(clusterdns.Namespace).Get(ctx, clusterdns.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil && s.UID != svc.UID && s.Spec.ClusterIP == "10.43.0.10", err
	})
	if err != nil {
		t.Fatalf("the deleted kube-dns Service was not recreated: %v", err)
	}
}
