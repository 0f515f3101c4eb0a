package servicelb_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/controller/servicelb"
	"github.com/flotilla-io/flotilla/pkg/extensions"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

func TestLoadBalancerAddresses(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(cs, 0)
	c := servicelb.New(cs, factory, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	var wg sync.WaitGroup
	factory.Start(ctx.Done())
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx, 1) }()
	t.Cleanup(func() { cancel(); factory.Shutdown(); wg.Wait() })

	// Other controllers of the test server write these nodes too (the
	// node lifecycle controller taints a not-ready one), so writes retry
	// on a conflict.
	setNode := func(name, ip string, ready corev1.ConditionStatus, annotations map[string]string) {
		t.Helper()
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				n, err = cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations}}, metav1.CreateOptions{})
				if err != nil {
					return err
				}
			}
			n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
			_, err = cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	svc := func(name string, class *string) {
		t.Helper()
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, LoadBalancerClass: class,
			Ports: []corev1.ServicePort{{Port: 80}}, Selector: map[string]string{"app": name}}}
		if _, err := cs.CoreV1().Services("default").Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ingress := func(name string, want ...string) {
		t.Helper()
		var last []string
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			s, err := cs.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			last = nil
			for _, i := range s.Status.LoadBalancer.Ingress {
				last = append(last, i.IP)
			}
			return fmt.Sprint(last) == fmt.Sprint(want), nil
		})
		if err != nil {
			t.Fatalf("%s: load balancer ingress %v, want %v", name, last, want)
		}
	}

	setNode("a", "192.0.2.10", corev1.ConditionTrue, nil)
	setNode("b", "192.0.2.11", corev1.ConditionFalse, nil)
	setNode("sim", "192.0.2.12", corev1.ConditionTrue, map[string]string{extensions.SimulatedNodeAnnotation: "true"})
	svc("web", nil)
	ingress("web", "192.0.2.10")

	setNode("b", "192.0.2.11", corev1.ConditionTrue, nil)
	ingress("web", "192.0.2.10", "192.0.2.11")

	// k3s's label picks the nodes when any node carries it.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := cs.CoreV1().Nodes().Get(ctx, "b", metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Labels = map[string]string{servicelb.LabelEnableLB: "true"}
		_, err = cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ingress("web", "192.0.2.11")

	// Another implementation's Service is left alone; created after it,
	// a Service of ours has its address, so the other one was seen.
	svc("other", ptr.To("example.com/lb"))
	svc("mine", nil)
	ingress("mine", "192.0.2.11")
	ingress("other")

	// Not a LoadBalancer any more: no address.
	s, err := cs.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Spec.Type = corev1.ServiceTypeClusterIP
	s.Spec.ExternalTrafficPolicy, s.Spec.AllocateLoadBalancerNodePorts = "", nil
	for i := range s.Spec.Ports {
		s.Spec.Ports[i].NodePort = 0
	}
	if _, err := cs.CoreV1().Services("default").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ingress("web")
}
