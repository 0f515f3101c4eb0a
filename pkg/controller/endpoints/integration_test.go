package endpoints_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"

	"github.com/flotilla-io/flotilla/pkg/controller/endpoints"
	"github.com/flotilla-io/flotilla/pkg/controller/internal/servicetest"
)

// run starts the controller with one worker: its queue is then worked in
// order, so a change seen for one Service proves the Services queued
// before it were synced.
func run(t *testing.T, env *servicetest.Env) {
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(env.CS, 0)
	c := endpoints.New(env.CS, factory, servicetest.Log())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); factory.Shutdown(); wg.Wait() })
	factory.Start(ctx.Done())
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx, 1) }()
}

// show renders Endpoints compactly: one "ports|ready|notready" per subset,
// each address as ip[/hostname][@node].
func show(ep *corev1.Endpoints) string {
	var parts []string
	addrs := func(as []corev1.EndpointAddress) string {
		var s []string
		for _, a := range as {
			x := a.IP
			if a.Hostname != "" {
				x += "/" + a.Hostname
			}
			s = append(s, x)
		}
		return strings.Join(s, ",")
	}
	for _, ss := range ep.Subsets {
		var ports []string
		for _, p := range ss.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d", p.Name, p.Port))
		}
		parts = append(parts, strings.Join(ports, ",")+"|"+addrs(ss.Addresses)+"|"+addrs(ss.NotReadyAddresses))
	}
	return strings.Join(parts, " ")
}

func (w waiter) endpoints(name, want string) *corev1.Endpoints {
	w.T.Helper()
	var got *corev1.Endpoints
	w.Eventually("endpoints "+name+" = "+want, func() (bool, string) {
		ep, err := w.CS.CoreV1().Endpoints(w.NS).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got = ep
		return show(ep) == want, show(ep)
	})
	return got
}

func (w waiter) gone(name string) {
	w.T.Helper()
	w.Eventually("endpoints "+name+" deleted", func() (bool, string) {
		_, err := w.CS.CoreV1().Endpoints(w.NS).Get(context.Background(), name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}

type waiter struct{ *servicetest.Env }

func TestEndpointsController(t *testing.T) {
	env := servicetest.Start(t, "eps", "endpoint")
	w := waiter{env}
	ctx := context.Background()
	// Endpoints of a Service deleted while no controller ran.
	if _, err := env.CS.CoreV1().Endpoints(env.NS).Create(ctx, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "leftover"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	run(t, env)
	w.gone("leftover")

	env.Node("n1", nil)
	sel := map[string]string{"app": "web"}
	env.Service(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"tier": "front"}},
		Spec: corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
			{Name: "metrics", Port: 9090, TargetPort: intstr.FromInt32(9090)},
		}},
	})
	ep := w.endpoints("web", "")
	if ep.Labels["tier"] != "front" {
		t.Errorf("labels %v: want the Service's", ep.Labels)
	}
	if _, ok := ep.Labels[corev1.IsHeadlessService]; ok {
		t.Errorf("a Service with a cluster IP is not headless: %v", ep.Labels)
	}
	if ep.Annotations[corev1.EndpointsLastChangeTriggerTime] == "" {
		t.Errorf("no %s annotation: %v", corev1.EndpointsLastChangeTriggerTime, ep.Annotations)
	}

	// a and b name the http port differently, c lacks it, d has no
	// address yet, e has finished.
	env.Pod(servicetest.PodSpec{Name: "a", Node: "n1", Labels: sel, Ports: []string{"http=8080"}})
	env.Pod(servicetest.PodSpec{Name: "b", Node: "n1", Labels: sel, Ports: []string{"http=8081"}})
	env.Pod(servicetest.PodSpec{Name: "c", Node: "n1", Labels: sel})
	env.Pod(servicetest.PodSpec{Name: "d", Node: "n1", Labels: sel, Ports: []string{"http=8080"}})
	env.Pod(servicetest.PodSpec{Name: "e", Node: "n1", Labels: sel, Ports: []string{"http=8080"}})
	env.Pod(servicetest.PodSpec{Name: "other", Node: "n1", Labels: map[string]string{"app": "db"}, Ports: []string{"http=8080"}})
	env.Status("a", "10.42.0.1", true)
	env.Status("b", "10.42.0.2", false)
	env.Status("c", "10.42.0.3", true)
	env.Status("e", "10.42.0.5", true)
	env.Status("other", "10.42.0.9", true)
	env.Phase("e", corev1.PodSucceeded)
	ep = w.endpoints("web", "http:8080|10.42.0.1| http:8081||10.42.0.2 metrics:9090|10.42.0.1,10.42.0.3|10.42.0.2")
	a := ep.Subsets[0].Addresses[0]
	if a.TargetRef == nil || a.TargetRef.Kind != "Pod" || a.TargetRef.Name != "a" || a.TargetRef.UID == "" || a.NodeName == nil || *a.NodeName != "n1" {
		t.Errorf("address of a: %+v (target %+v)", a, a.TargetRef)
	}

	// Readiness probes move addresses in and out.
	env.Status("b", "10.42.0.2", true)
	w.endpoints("web", "http:8080|10.42.0.1| http:8081|10.42.0.2| metrics:9090|10.42.0.1,10.42.0.2,10.42.0.3|")
	env.Status("c", "10.42.0.3", false)
	w.endpoints("web", "http:8080|10.42.0.1| http:8081|10.42.0.2| metrics:9090|10.42.0.1,10.42.0.2|10.42.0.3")

	// A pod being deleted drops out at once.
	env.Terminate("a")
	w.endpoints("web", "http:8081|10.42.0.2| metrics:9090|10.42.0.2|10.42.0.3")

	// publishNotReadyAddresses lists every pod, terminating ones too, as ready.
	env.Service(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "all"},
		Spec: corev1.ServiceSpec{Selector: sel, PublishNotReadyAddresses: true, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
		}},
	})
	w.endpoints("all", "http:8080|10.42.0.1| http:8081|10.42.0.2|")

	// A headless Service without ports lists addresses, with the
	// hostname of pods in its subdomain.
	env.Service(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "hl"},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "hl"}},
	})
	env.Pod(servicetest.PodSpec{Name: "hl-0", Node: "n1", Labels: map[string]string{"app": "hl"}, Hostname: "hl-0", Subdomain: "hl"})
	env.Pod(servicetest.PodSpec{Name: "hl-x", Node: "n1", Labels: map[string]string{"app": "hl"}, Hostname: "x", Subdomain: "elsewhere"})
	env.Status("hl-0", "10.42.0.10", true)
	env.Status("hl-x", "10.42.0.11", true)
	ep = w.endpoints("hl", "|10.42.0.10/hl-0,10.42.0.11|")
	if _, ok := ep.Labels[corev1.IsHeadlessService]; !ok {
		t.Errorf("headless Service's endpoints lack %s: %v", corev1.IsHeadlessService, ep.Labels)
	}

	// Hand-written Endpoints of a Service without a selector stay, and
	// an ExternalName Service gets none.
	manual := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "manual"}, Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "192.0.2.10"}}, Ports: []corev1.EndpointPort{{Port: 5432}}}}}
	if _, err := env.CS.CoreV1().Endpoints(env.NS).Create(ctx, manual, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	env.Service(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "manual"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 5432}}}})
	env.Service(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com", Selector: sel}})
	// Synced after the two above (one worker, in order).
	env.Service(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "marker"}, Spec: corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{{Port: 1}}}})
	w.endpoints("marker", ":1|10.42.0.2|10.42.0.3")
	if got, err := env.CS.CoreV1().Endpoints(env.NS).Get(ctx, "manual", metav1.GetOptions{}); err != nil || show(got) != ":5432|192.0.2.10|" {
		t.Errorf("hand-written endpoints changed: %v %v", show(got), err)
	}
	if _, err := env.CS.CoreV1().Endpoints(env.NS).Get(ctx, "ext", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ExternalName Service got endpoints: %v", err)
	}

	// Endpoints deleted by hand are written again.
	if err := env.CS.CoreV1().Endpoints(env.NS).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w.endpoints("web", "http:8081|10.42.0.2| metrics:9090|10.42.0.2|10.42.0.3")

	// Deleting a Service deletes its endpoints, hand-written ones too.
	for _, name := range []string{"web", "manual"} {
		if err := env.CS.CoreV1().Services(env.NS).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		w.gone(name)
	}
}
