package endpointslice_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"

	"github.com/flotilla-io/flotilla/pkg/controller/endpointslice"
	"github.com/flotilla-io/flotilla/pkg/controller/internal/servicetest"
)

func run(t *testing.T, env *servicetest.Env, cfg endpointslice.Config) {
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(env.CS, 0)
	c := endpointslice.New(env.CS, factory, cfg, servicetest.Log())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); factory.Shutdown(); wg.Wait() })
	factory.Start(ctx.Done())
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx, 1) }()
}

func slicesOf(env *servicetest.Env, svc string) []discoveryv1.EndpointSlice {
	env.T.Helper()
	l, err := env.CS.DiscoveryV1().EndpointSlices(env.NS).List(context.Background(), metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
	if err != nil {
		env.T.Fatal(err)
	}
	sort.Slice(l.Items, func(i, j int) bool { return l.Items[i].Name < l.Items[j].Name })
	return l.Items
}

// show renders a Service's slices: per slice "ports|endpoints", each
// endpoint as ip with flags r(eady) s(erving) t(erminating), sorted.
func show(slices []discoveryv1.EndpointSlice) string {
	var out []string
	for _, s := range slices {
		var ports, eps []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d", *p.Name, *p.Port))
		}
		sort.Strings(ports)
		for _, e := range s.Endpoints {
			flags := ""
			for _, f := range []struct {
				c *bool
				s string
			}{{e.Conditions.Ready, "r"}, {e.Conditions.Serving, "s"}, {e.Conditions.Terminating, "t"}} {
				if f.c != nil && *f.c {
					flags += f.s
				}
			}
			eps = append(eps, e.Addresses[0]+"/"+flags)
		}
		sort.Strings(eps)
		out = append(out, strings.Join(ports, ",")+"|"+strings.Join(eps, ","))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func waitSlices(env *servicetest.Env, svc, want string) []discoveryv1.EndpointSlice {
	env.T.Helper()
	var got []discoveryv1.EndpointSlice
	env.Eventually("slices of "+svc+" = "+want, func() (bool, string) {
		got = slicesOf(env, svc)
		return show(got) == want, show(got)
	})
	return got
}

func TestEndpointSliceController(t *testing.T) {
	env := servicetest.Start(t, "slices", "endpointslice")
	run(t, env, endpointslice.Config{})
	ctx := context.Background()
	env.Node("n1", map[string]string{corev1.LabelTopologyZone: "zone-a"})
	env.Node("n2", nil)
	sel := map[string]string{"app": "web"}
	svc := env.Service(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"tier": "front"}},
		Spec: corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
		}},
	})
	// No pods yet: one empty slice says "no endpoints".
	s := waitSlices(env, "web", "|")[0]
	if !strings.HasPrefix(s.Name, "web-") || s.GenerateName != "web-" || s.AddressType != discoveryv1.AddressTypeIPv4 {
		t.Errorf("slice %s (generateName %q, %s)", s.Name, s.GenerateName, s.AddressType)
	}
	if s.Labels[discoveryv1.LabelManagedBy] != endpointslice.ControllerName || s.Labels["tier"] != "front" {
		t.Errorf("labels %v", s.Labels)
	}
	if ref := metav1.GetControllerOf(&s); ref == nil || ref.UID != svc.UID || ref.Kind != "Service" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("owner %+v", s.OwnerReferences)
	}
	placeholder := s.Name

	env.Pod(servicetest.PodSpec{Name: "a", Node: "n1", Labels: sel, Ports: []string{"http=8080"}, Hostname: "a", Subdomain: "web"})
	env.Pod(servicetest.PodSpec{Name: "b", Node: "n2", Labels: sel, Ports: []string{"http=8080"}})
	env.Pod(servicetest.PodSpec{Name: "c", Node: "n1", Labels: sel, Ports: []string{"http=8081"}})
	env.Pod(servicetest.PodSpec{Name: "d", Node: "n1", Labels: sel, Ports: []string{"web=8080"}})
	env.Pod(servicetest.PodSpec{Name: "gone", Node: "n1", Labels: sel, Ports: []string{"http=8080"}})
	env.Status("a", "10.42.0.1", true)
	env.Status("b", "10.42.0.2", false)
	env.Status("c", "10.42.0.3", true)
	env.Status("d", "10.42.0.4", true)
	env.Status("gone", "10.42.0.5", true)
	env.Phase("gone", corev1.PodFailed)
	// One slice per port set: d lacks the named port.
	got := waitSlices(env, "web", "http:8080|10.42.0.1/rs,10.42.0.2/ http:8081|10.42.0.3/rs |10.42.0.4/rs")
	for _, s := range got {
		if len(s.Ports) == 1 && *s.Ports[0].Port == 8080 {
			for _, e := range s.Endpoints {
				if e.TargetRef == nil || e.TargetRef.Kind != "Pod" || e.NodeName == nil {
					t.Errorf("endpoint %+v", e)
				}
				switch e.TargetRef.Name {
				case "a":
					if e.Zone == nil || *e.Zone != "zone-a" || e.Hostname == nil || *e.Hostname != "a" || *e.NodeName != "n1" {
						t.Errorf("endpoint of a: %+v", e)
					}
				case "b":
					if e.Zone != nil || e.Hostname != nil {
						t.Errorf("endpoint of b: zone %v hostname %v", e.Zone, e.Hostname)
					}
				}
			}
			if *s.Ports[0].Name != "http" || *s.Ports[0].Protocol != corev1.ProtocolTCP {
				t.Errorf("port %+v", s.Ports[0])
			}
		}
	}
	// The placeholder was put to use, not deleted and another created.
	found := false
	for _, s := range got {
		found = found || s.Name == placeholder
	}
	if !found {
		t.Errorf("placeholder slice %s replaced", placeholder)
	}

	// Readiness moves in place; a pod being deleted stays, terminating.
	before := slicesOf(env, "web")
	env.Status("b", "10.42.0.2", true)
	waitSlices(env, "web", "http:8080|10.42.0.1/rs,10.42.0.2/rs http:8081|10.42.0.3/rs |10.42.0.4/rs")
	env.Terminate("a")
	after := waitSlices(env, "web", "http:8080|10.42.0.1/st,10.42.0.2/rs http:8081|10.42.0.3/rs |10.42.0.4/rs")
	if names(before) != names(after) {
		t.Errorf("slices replaced instead of updated: %s -> %s", names(before), names(after))
	}

	// publishNotReadyAddresses: every endpoint ready.
	env.Service(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "all"},
		Spec: corev1.ServiceSpec{Selector: sel, PublishNotReadyAddresses: true, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)},
		}},
	})
	env.Status("c", "10.42.0.3", false)
	waitSlices(env, "all", "http:8080|10.42.0.1/rst,10.42.0.2/rs,10.42.0.3/r,10.42.0.4/rs")

	// A Service without a selector gets no slices from this controller.
	env.Service(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "manual"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 5432}}}})
	env.Service(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "marker"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "none"}, Ports: []corev1.ServicePort{{Port: 1}}}})
	waitSlices(env, "marker", "|") // synced after "manual": one worker, in order
	if got := slicesOf(env, "manual"); len(got) != 0 {
		t.Errorf("slices for a Service without selector: %s", show(got))
	}

	// Deleting the Service deletes its slices (the garbage collector,
	// through the owner reference).
	if err := env.CS.CoreV1().Services(env.NS).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSlices(env, "web", "")
}

func names(slices []discoveryv1.EndpointSlice) string {
	var n []string
	for _, s := range slices {
		n = append(n, s.Name)
	}
	sort.Strings(n)
	return strings.Join(n, ",")
}

// More endpoints than fit in one slice are split, none over the limit,
// and changes keep to the slices they concern.
func TestEndpointSliceSplit(t *testing.T) {
	env := servicetest.Start(t, "split", "endpointslice")
	run(t, env, endpointslice.Config{})
	env.Node("n1", nil)
	sel := map[string]string{"app": "many"}
	env.Service(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "many"}, Spec: corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{{Port: 80}}}})
	const n = 230
	for i := range n {
		name := fmt.Sprintf("p%03d", i)
		env.Pod(servicetest.PodSpec{Name: name, Node: "n1", Labels: sel})
		env.Status(name, fmt.Sprintf("10.42.%d.%d", i/200, i%200+1), true)
	}
	var slices []discoveryv1.EndpointSlice
	env.Eventually("230 endpoints in slices of at most 100", func() (bool, string) {
		slices = slicesOf(env, "many")
		total, sizes := 0, []int{}
		for _, s := range slices {
			total += len(s.Endpoints)
			sizes = append(sizes, len(s.Endpoints))
		}
		sort.Ints(sizes)
		ok := total == n && len(slices) == 3
		for _, s := range sizes {
			ok = ok && s <= endpointslice.DefaultMaxEndpointsPerSlice
		}
		return ok, fmt.Sprint(sizes)
	})
	// A readiness change touches only the slice holding the pod.
	var holder string
	rvs := map[string]string{}
	for _, s := range slices {
		rvs[s.Name] = s.ResourceVersion
		for _, e := range s.Endpoints {
			if e.TargetRef.Name == "p007" {
				holder = s.Name
			}
		}
	}
	env.Status("p007", "10.42.0.8", false)
	env.Eventually("p007 not ready", func() (bool, string) {
		for _, s := range slicesOf(env, "many") {
			for _, e := range s.Endpoints {
				if e.TargetRef.Name == "p007" {
					return s.Name == holder && !*e.Conditions.Ready, s.Name
				}
			}
		}
		return false, "p007 missing"
	})
	for _, s := range slicesOf(env, "many") {
		if s.Name != holder && s.ResourceVersion != rvs[s.Name] {
			t.Errorf("slice %s rewritten for a change in %s", s.Name, holder)
		}
	}
}
