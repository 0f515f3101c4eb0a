package integration

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

func apiPort(t *testing.T, in *testserver.Instance) int32 {
	_, p, err := net.SplitHostPort(strings.TrimPrefix(in.URL, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return int32(n)
}

// kubernetesEndpoints renders the kubernetes Service's Endpoints as
// "ip:port ..." and its slice as "ip:port ..." (ready endpoints).
func kubernetesEndpoints(cs kubernetes.Interface) (string, string, error) {
	ctx := context.Background()
	ep, err := cs.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		return "", "", err
	}
	var eps, sl []string
	for _, ss := range ep.Subsets {
		for _, p := range ss.Ports {
			if p.Name != "https" || p.Protocol != corev1.ProtocolTCP {
				return "", "", fmt.Errorf("port %+v", p)
			}
			for _, a := range ss.Addresses {
				eps = append(eps, net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
			}
		}
	}
	if ep.Labels[discoveryv1.LabelSkipMirror] != "true" {
		return "", "", fmt.Errorf("labels %v: not kept from mirroring", ep.Labels)
	}
	s, err := cs.DiscoveryV1().EndpointSlices("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		return "", "", err
	}
	if s.Labels[discoveryv1.LabelServiceName] != "kubernetes" {
		return "", "", fmt.Errorf("slice labels %v", s.Labels)
	}
	for _, p := range s.Ports {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				sl = append(sl, net.JoinHostPort(e.Addresses[0], strconv.Itoa(int(*p.Port))))
			}
		}
	}
	return strings.Join(eps, " "), strings.Join(sl, " "), nil
}

// Every API server sharing the etcd is an endpoint of the kubernetes
// Service while it runs; one that stops takes itself out.
func TestKubernetesServiceEndpoints(t *testing.T) {
	opts, _ := externalEtcd(t)
	first := testserver.Start(t, opts)
	second := testserver.Start(t, opts)
	cs := first.Clientset(t)
	p1, p2 := apiPort(t, first), apiPort(t, second)
	lo, hi := min(p1, p2), max(p1, p2)
	both := fmt.Sprintf("127.0.0.1:%d 127.0.0.1:%d", lo, hi)
	waitUntil(t, 30*time.Second, func() (bool, string) {
		eps, slice, err := kubernetesEndpoints(cs)
		// The slice shows the first subset (the lower port), as upstream's.
		return err == nil && eps == both && slice == fmt.Sprintf("127.0.0.1:%d", lo), fmt.Sprintf("%q %q %v", eps, slice, err)
	})
	second.Stop()
	only := fmt.Sprintf("127.0.0.1:%d", p1)
	waitUntil(t, 10*time.Second, func() (bool, string) {
		eps, slice, err := kubernetesEndpoints(cs)
		return err == nil && eps == only && slice == only, fmt.Sprintf("%q %q %v", eps, slice, err)
	})
}

// The server runs the endpoint controllers: a Service's pods show in its
// Endpoints and EndpointSlice, hand-written Endpoints of a Service
// without selector are mirrored, and all of it goes with the Service.
func TestServiceEndpointsFromTheServer(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{DisableControllers: []string{"nodelifecycle"}})
	cs := srv.Clientset(t)
	ctx := context.Background()
	const ns = "default"
	settled(t, cs, ns)
	if _, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, service("web", "", "", 0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	pod, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.42.0.7", PodIPs: []corev1.PodIP{{IP: "10.42.0.7"}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}}
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	sliceAddrs := func(svc, managedBy string) (string, error) {
		l, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc + "," + discoveryv1.LabelManagedBy + "=" + managedBy})
		if err != nil {
			return "", err
		}
		var out []string
		for _, s := range l.Items {
			for _, e := range s.Endpoints {
				for _, p := range s.Ports {
					out = append(out, fmt.Sprintf("%s:%d", e.Addresses[0], *p.Port))
				}
			}
		}
		return strings.Join(out, " "), nil
	}
	waitUntil(t, 20*time.Second, func() (bool, string) {
		ep, err := cs.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		sl, err := sliceAddrs("web", "endpointslice-controller.k8s.io")
		ok := len(ep.Subsets) == 1 && len(ep.Subsets[0].Addresses) == 1 && ep.Subsets[0].Addresses[0].IP == "10.42.0.7" && sl == "10.42.0.7:80"
		return ok, fmt.Sprintf("%+v %q %v", ep.Subsets, sl, err)
	})

	manual := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 5432}}}}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, manual, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Endpoints(ns).Create(ctx, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "db"}, Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "192.0.2.10"}}, Ports: []corev1.EndpointPort{{Port: 5432}}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, func() (bool, string) {
		sl, err := sliceAddrs("db", "endpointslicemirroring-controller.k8s.io")
		return sl == "192.0.2.10:5432", fmt.Sprintf("%q %v", sl, err)
	})

	for _, name := range []string{"web", "db"} {
		if err := cs.CoreV1().Services(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 20*time.Second, func() (bool, string) {
			_, err := cs.CoreV1().Endpoints(ns).Get(ctx, name, metav1.GetOptions{})
			l, lerr := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
			return apierrors.IsNotFound(err) && lerr == nil && len(l.Items) == 0, fmt.Sprintf("endpoints: %v, slices: %d", err, len(l.Items))
		})
	}
}
