package endpointslicemirroring_test

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
	"k8s.io/client-go/informers"

	"github.com/flotilla-io/flotilla/pkg/controller/endpointslicemirroring"
	"github.com/flotilla-io/flotilla/pkg/controller/internal/servicetest"
)

func run(t *testing.T, env *servicetest.Env, cfg endpointslicemirroring.Config) {
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(env.CS, 0)
	c := endpointslicemirroring.New(env.CS, factory, cfg, servicetest.Log())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); factory.Shutdown(); wg.Wait() })
	factory.Start(ctx.Done())
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx, 1) }()
}

func mirrored(env *servicetest.Env, name string) []discoveryv1.EndpointSlice {
	env.T.Helper()
	l, err := env.CS.DiscoveryV1().EndpointSlices(env.NS).List(context.Background(), metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + name + "," + discoveryv1.LabelManagedBy + "=" + endpointslicemirroring.ControllerName})
	if err != nil {
		env.T.Fatal(err)
	}
	return l.Items
}

// show renders slices as "type|ports|ip/r,ip/-" sorted.
func show(slices []discoveryv1.EndpointSlice) string {
	var out []string
	for _, s := range slices {
		var ports, eps []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d", *p.Name, *p.Port))
		}
		sort.Strings(ports)
		for _, e := range s.Endpoints {
			r := "-"
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				r = "r"
			}
			eps = append(eps, e.Addresses[0]+"/"+r)
		}
		sort.Strings(eps)
		out = append(out, string(s.AddressType)+"|"+strings.Join(ports, ",")+"|"+strings.Join(eps, ","))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func wait(env *servicetest.Env, name, want string) []discoveryv1.EndpointSlice {
	env.T.Helper()
	var got []discoveryv1.EndpointSlice
	env.Eventually("mirrored slices of "+name+" = "+want, func() (bool, string) {
		got = mirrored(env, name)
		return show(got) == want, show(got)
	})
	return got
}

func TestMirroring(t *testing.T) {
	env := servicetest.Start(t, "mirror", "endpointslicemirroring")
	run(t, env, endpointslicemirroring.Config{MaxEndpointsPerSubset: 3})
	ctx := context.Background()
	eps := env.CS.CoreV1().Endpoints(env.NS)

	env.Service(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}, {Name: "metrics", Port: 9187}}}})
	node := "n1"
	ep, err := eps.Create(ctx, &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Labels: map[string]string{"team": "data"},
			Annotations: map[string]string{"note": "by hand", corev1.LastAppliedConfigAnnotation: "{}"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{{IP: "192.0.2.10", Hostname: "db-0", NodeName: &node}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "192.0.2.11"}},
			Ports:             []corev1.EndpointPort{{Name: "pg", Port: 5432}, {Name: "metrics", Port: 9187}},
		}, {
			Addresses: []corev1.EndpointAddress{{IP: "2001:db8::1"}},
			Ports:     []corev1.EndpointPort{{Name: "pg", Port: 5432}, {Name: "metrics", Port: 9187}},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := wait(env, "db", "IPv4|metrics:9187,pg:5432|192.0.2.10/r,192.0.2.11/- IPv6|metrics:9187,pg:5432|2001:db8::1/r")
	for _, s := range got {
		if !strings.HasPrefix(s.Name, "db-") || s.Labels["team"] != "data" || s.Annotations["note"] != "by hand" {
			t.Errorf("slice %s labels %v annotations %v", s.Name, s.Labels, s.Annotations)
		}
		if _, ok := s.Annotations[corev1.LastAppliedConfigAnnotation]; ok {
			t.Errorf("last-applied configuration mirrored")
		}
		if ref := metav1.GetControllerOf(&s); ref == nil || ref.Kind != "Endpoints" || ref.UID != ep.UID {
			t.Errorf("owner %+v", s.OwnerReferences)
		}
		for _, e := range s.Endpoints {
			if e.Addresses[0] == "192.0.2.10" && (e.Hostname == nil || *e.Hostname != "db-0" || e.NodeName == nil || *e.NodeName != "n1") {
				t.Errorf("endpoint %+v", e)
			}
		}
	}

	// Changes follow; addresses past the per-subset cap are skipped.
	ep, _ = eps.Get(ctx, "db", metav1.GetOptions{})
	ep.Subsets = []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "192.0.2.10"}, {IP: "192.0.2.11"}, {IP: "192.0.2.12"}, {IP: "192.0.2.13"}},
		Ports:     []corev1.EndpointPort{{Name: "pg", Port: 5432}},
	}}
	if _, err := eps.Update(ctx, ep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	wait(env, "db", "IPv4|pg:5432|192.0.2.10/r,192.0.2.11/r,192.0.2.12/r")
	env.Eventually("TooManyAddressesToMirror event", func() (bool, string) {
		l, err := env.CS.CoreV1().Events(env.NS).List(ctx, metav1.ListOptions{FieldSelector: "reason=TooManyAddressesToMirror"})
		if err != nil {
			return false, err.Error()
		}
		return len(l.Items) > 0 && l.Items[0].InvolvedObject.Name == "db" && l.Items[0].InvolvedObject.Kind == "Endpoints", fmt.Sprint(len(l.Items))
	})

	// The skip-mirror label switches mirroring off.
	ep, _ = eps.Get(ctx, "db", metav1.GetOptions{})
	ep.Labels[discoveryv1.LabelSkipMirror] = "true"
	if _, err := eps.Update(ctx, ep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	wait(env, "db", "")
	delete(ep.Labels, discoveryv1.LabelSkipMirror)
	ep.ResourceVersion = ""
	if _, err := eps.Update(ctx, ep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	wait(env, "db", "IPv4|pg:5432|192.0.2.10/r,192.0.2.11/r,192.0.2.12/r")

	// A Service that gains a selector has its endpoints written by the
	// other controllers: the mirrored slices go.
	svc, _ := env.CS.CoreV1().Services(env.NS).Get(ctx, "db", metav1.GetOptions{})
	svc.Spec.Selector = map[string]string{"app": "db"}
	if _, err := env.CS.CoreV1().Services(env.NS).Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	wait(env, "db", "")

	// Endpoints written before their Service are mirrored once it
	// exists; deleting the Service deletes the slices.
	if _, err := eps.Create(ctx, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "cache"}, Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "192.0.2.20"}}, Ports: []corev1.EndpointPort{{Port: 6379}}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	env.Service(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "cache"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 6379}}}})
	wait(env, "cache", "IPv4|:6379|192.0.2.20/r")
	if err := env.CS.CoreV1().Services(env.NS).Delete(ctx, "cache", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wait(env, "cache", "")
}
