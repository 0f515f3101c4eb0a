package containers

import (
	"context"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

// The variables of one Service, in upstream's names and order.
func TestServiceVars(t *testing.T) {
	got := serviceVars(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "abc-123"}, Spec: corev1.ServiceSpec{ClusterIP: "5.6.7.8", Ports: []corev1.ServicePort{
		{Name: "u-d-p", Port: 8081, Protocol: corev1.ProtocolUDP}, {Name: "t-c-p", Port: 8081, Protocol: corev1.ProtocolTCP},
	}}})
	want := [][2]string{
		{"ABC_123_SERVICE_HOST", "5.6.7.8"},
		{"ABC_123_SERVICE_PORT", "8081"},
		{"ABC_123_SERVICE_PORT_U_D_P", "8081"},
		{"ABC_123_SERVICE_PORT_T_C_P", "8081"},
		{"ABC_123_PORT", "udp://5.6.7.8:8081"},
		{"ABC_123_PORT_8081_UDP", "udp://5.6.7.8:8081"},
		{"ABC_123_PORT_8081_UDP_PROTO", "udp"},
		{"ABC_123_PORT_8081_UDP_PORT", "8081"},
		{"ABC_123_PORT_8081_UDP_ADDR", "5.6.7.8"},
		{"ABC_123_PORT_8081_TCP", "tcp://5.6.7.8:8081"},
		{"ABC_123_PORT_8081_TCP_PROTO", "tcp"},
		{"ABC_123_PORT_8081_TCP_PORT", "8081"},
		{"ABC_123_PORT_8081_TCP_ADDR", "5.6.7.8"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	got = serviceVars(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "super-ipv6"}, Spec: corev1.ServiceSpec{ClusterIP: "2001:DB8::", Ports: []corev1.ServicePort{{Port: 8084}}}})
	if got[2] != [2]string{"SUPER_IPV6_PORT", "tcp://[2001:DB8::]:8084"} || got[3] != [2]string{"SUPER_IPV6_PORT_8084_TCP", "tcp://[2001:DB8::]:8084"} {
		t.Errorf("IPv6, no protocol: %v", got)
	}
}

// listedServices is a ServiceSource over a fixed set, as an informer's
// cache holds them.
type listedServices struct {
	lister corelisters.ServiceLister
	synced bool
}

func (l listedServices) ServiceLister() (corelisters.ServiceLister, bool) { return l.lister, l.synced }

func newListedServices(t *testing.T, synced bool, svcs ...*corev1.Service) listedServices {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, s := range svcs {
		if err := idx.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	return listedServices{lister: corelisters.NewServiceLister(idx), synced: synced}
}

func svc(ns, name, ip string, ports ...int32) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{ClusterIP: ip}}
	for _, p := range ports {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: p, Protocol: corev1.ProtocolTCP})
	}
	return s
}

func envOf(t *testing.T, b *Builder, pod *corev1.Pod) (map[string]string, []string, error) {
	t.Helper()
	run := podrun.New()
	run.PodIP = "10.42.0.7"
	cfg, err := b.Container(context.Background(), pod, &pod.Spec.Containers[0], run, 0, podrun.Image{Ref: "sha256:busybox"})
	if err != nil {
		return nil, nil, err
	}
	env := map[string]string{}
	var order []string
	for _, kv := range cfg.Envs {
		if _, dup := env[kv.Key]; dup {
			t.Errorf("env %s twice", kv.Key)
		}
		env[kv.Key] = string(kv.Value)
		order = append(order, kv.Key)
	}
	return env, append(order, strings.Join(cfg.Args, " ")), nil
}

func TestServiceEnv(t *testing.T) {
	services := newListedServices(t, true,
		svc("default", "kubernetes", "10.43.0.1", 443),
		svc("default", "other", "10.43.0.2", 80),
		svc("shop", "web", "10.43.0.20", 80),
		svc("shop", "headless", "None", 80),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "ext"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}},
		svc("lab", "kubernetes", "10.43.0.30", 6443),
	)
	b := New(Config{DataDir: t.TempDir(), Volumes: &mounter{}, Objects: objects{}, Services: services})
	pod := func(ns string, links *bool, env ...corev1.EnvVar) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns, UID: "u1"}, Spec: corev1.PodSpec{
			EnableServiceLinks: links,
			Containers:         []corev1.Container{{Name: "c", Image: "busybox", Args: []string{"$(WEB_SERVICE_HOST)", "$(KUBERNETES_PORT)"}, Env: env}},
		}}
	}

	env, order, err := envOf(t, b, pod("shop", nil,
		corev1.EnvVar{Name: "WEB_SERVICE_PORT", Value: "mine"},
		corev1.EnvVar{Name: "URL", Value: "http://$(WEB_SERVICE_HOST):$(WEB_SERVICE_PORT)/"}))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"KUBERNETES_SERVICE_HOST": "10.43.0.1", "KUBERNETES_SERVICE_PORT": "443", "KUBERNETES_PORT": "tcp://10.43.0.1:443",
		"KUBERNETES_PORT_443_TCP_ADDR": "10.43.0.1", "KUBERNETES_PORT_443_TCP_PROTO": "tcp", "KUBERNETES_PORT_443_TCP_PORT": "443",
		"WEB_SERVICE_HOST": "10.43.0.20", "WEB_PORT_80_TCP": "tcp://10.43.0.20:80",
		// The container's own value wins and is what $(WEB_SERVICE_PORT) reads.
		"WEB_SERVICE_PORT": "mine", "URL": "http://10.43.0.20:mine/",
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	for _, k := range []string{"HEADLESS_SERVICE_HOST", "EXT_SERVICE_HOST", "OTHER_SERVICE_HOST"} {
		if v, ok := env[k]; ok {
			t.Errorf("%s = %q: not a Service with a cluster IP in the pod's namespace", k, v)
		}
	}
	if len(env) != 2+7+6 { // the two own, the kubernetes Service's 7, web's 7 less the overridden one
		t.Errorf("%d variables: %v", len(env), env)
	}
	if order[0] != "WEB_SERVICE_PORT" || order[1] != "URL" || order[len(order)-1] != "10.43.0.20 tcp://10.43.0.1:443" {
		t.Errorf("order and args %v", order)
	}

	// enableServiceLinks: false leaves the API server's only.
	env, _, err = envOf(t, b, pod("shop", ptr.To(false)))
	if err != nil {
		t.Fatal(err)
	}
	if len(env) != 7 || env["KUBERNETES_SERVICE_HOST"] != "10.43.0.1" {
		t.Errorf("without service links: %v", env)
	}
	// A `kubernetes` Service of the pod's namespace replaces the API
	// server's, only with service links.
	if env, _, _ = envOf(t, b, pod("lab", ptr.To(true))); env["KUBERNETES_SERVICE_HOST"] != "10.43.0.30" || env["KUBERNETES_SERVICE_PORT"] != "6443" || len(env) != 7 {
		t.Errorf("lab's own kubernetes Service: %v", env)
	}
	if env, _, _ = envOf(t, b, pod("lab", ptr.To(false))); env["KUBERNETES_SERVICE_HOST"] != "10.43.0.1" {
		t.Errorf("lab without service links: %v", env)
	}
	// In the default namespace: the kubernetes Service and the others.
	if env, _, _ = envOf(t, b, pod("default", nil)); env["KUBERNETES_SERVICE_HOST"] != "10.43.0.1" || env["OTHER_SERVICE_HOST"] != "10.43.0.2" {
		t.Errorf("default namespace: %v", env)
	}

	// Before the cache has listed once, an API pod's container waits; a
	// static pod's starts with what there is.
	b = New(Config{DataDir: t.TempDir(), Volumes: &mounter{}, Objects: objects{}, Services: newListedServices(t, false)})
	if _, _, err := envOf(t, b, pod("shop", nil)); err == nil || err.Error() != "services have not yet been read at least once, cannot construct envvars" {
		t.Errorf("unsynced: %v", err)
	}
	static := pod("shop", nil)
	static.Annotations = map[string]string{"kubernetes.io/config.source": "file"}
	if env, _, err := envOf(t, b, static); err != nil || len(env) != 0 {
		t.Errorf("static pod, unsynced: %v, %v", env, err)
	}
	b = New(Config{DataDir: t.TempDir(), Volumes: &mounter{}, Objects: objects{}, Services: listedServices{}})
	if _, _, err := envOf(t, b, pod("shop", nil)); err == nil {
		t.Error("no cache running: an API pod's container was configured")
	}
}
