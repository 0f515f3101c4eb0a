package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/registry"
)

// The `kubernetes` Service in `default` has no selector: its Endpoints
// and EndpointSlice name the API servers, which keep them themselves, as
// upstream's lease endpoint reconciler does. Every server holds a key
// with a TTL in etcd under apiLeasePrefix naming its advertised address
// and port, renews it every apiEndpointsInterval, and writes the
// endpoints from the keys that are alive; a server that stops removes
// its key and itself from the endpoints, one that dies drops out when
// its key expires.
const (
	apiLeasePrefix       = registry.KeyPrefix + "masterleases/"
	apiLeaseTTL          = 15 // seconds
	apiEndpointsInterval = 10 * time.Second
	kubernetesService    = "kubernetes"
)

type apiEndpoints struct {
	etcd   *clientv3.Client
	client kubernetes.Interface
	self   string // advertised host:port
	lease  clientv3.LeaseID
	log    *slog.Logger
}

// advertiseAddress is the address this server publishes in the
// `kubernetes` Service's endpoints: --advertise-address, else the bind
// address, else (bound to every address) the host's default one, as
// upstream chooses. Upstream replaces a loopback bind address by the
// host's address too; this server is then not listening there, so the
// loopback address is kept.
func advertiseAddress(cfg Config) (net.IP, error) {
	if cfg.AdvertiseAddress != "" {
		ip := net.ParseIP(cfg.AdvertiseAddress)
		if ip == nil || ip.IsUnspecified() {
			return nil, fmt.Errorf("advertise address %q is not an IP address", cfg.AdvertiseAddress)
		}
		return ip, nil
	}
	bind := net.ParseIP(cfg.BindAddress)
	if bind != nil && !bind.IsUnspecified() {
		return bind, nil
	}
	ip, err := utilnet.ResolveBindAddress(bind)
	if err != nil {
		return nil, fmt.Errorf("no address to advertise (set --advertise-address): %w", err)
	}
	return ip, nil
}

// run keeps the endpoints until ctx ends, then takes this server out.
func (a *apiEndpoints) run(ctx context.Context) {
	for {
		wait := apiEndpointsInterval
		if err := a.reconcile(ctx, false); err != nil && ctx.Err() == nil {
			a.log.Warn("kubernetes service endpoints", "err", err)
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			a.stop()
			return
		case <-time.After(wait):
		}
	}
}

// stop removes this server's key and writes the endpoints without it.
func (a *apiEndpoints) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if a.lease != 0 {
		if _, err := a.etcd.Revoke(ctx, a.lease); err != nil {
			a.log.Debug("revoke api server lease", "err", err)
		}
	} else if _, err := a.etcd.Delete(ctx, apiLeasePrefix+a.self); err != nil {
		a.log.Debug("delete api server lease", "err", err)
	}
	if err := a.reconcile(ctx, true); err != nil {
		a.log.Debug("remove this server from the kubernetes service endpoints", "err", err)
	}
}

// renew keeps this server's key alive, making a new lease when the old
// one expired.
func (a *apiEndpoints) renew(ctx context.Context) error {
	if a.lease != 0 {
		if _, err := a.etcd.KeepAliveOnce(ctx, a.lease); err != nil {
			a.lease = 0
		}
	}
	if a.lease == 0 {
		g, err := a.etcd.Grant(ctx, apiLeaseTTL)
		if err != nil {
			return fmt.Errorf("grant api server lease: %w", err)
		}
		a.lease = g.ID
	}
	if _, err := a.etcd.Put(ctx, apiLeasePrefix+a.self, a.self, clientv3.WithLease(a.lease)); err != nil {
		return fmt.Errorf("write api server lease: %w", err)
	}
	return nil
}

// servers lists the live servers' host:port.
func (a *apiEndpoints) servers(ctx context.Context) ([]string, error) {
	resp, err := a.etcd.Get(ctx, apiLeasePrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("list api server leases: %w", err)
	}
	out := make([]string, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out = append(out, string(kv.Value))
	}
	return out, nil
}

func (a *apiEndpoints) reconcile(ctx context.Context, stopping bool) error {
	if !stopping {
		if err := a.renew(ctx); err != nil {
			return err
		}
	}
	servers, err := a.servers(ctx)
	if err != nil {
		return err
	}
	if len(servers) == 0 && !stopping {
		return errors.New("no API server addresses listed in etcd; refusing to erase all endpoints of the kubernetes service")
	}
	subsets := apiSubsets(servers)
	eps := a.client.CoreV1().Endpoints(metav1.NamespaceDefault)
	cur, err := eps.Get(ctx, kubernetesService, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if stopping {
			return nil
		}
		cur = &corev1.Endpoints{
			ObjectMeta: metav1.ObjectMeta{Name: kubernetesService, Namespace: metav1.NamespaceDefault,
				Labels: map[string]string{discoveryv1.LabelSkipMirror: "true"}},
			Subsets: subsets,
		}
		if cur, err = eps.Create(ctx, cur, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create kubernetes endpoints: %w", err)
		}
		if err != nil {
			return nil // another server's; the next round checks it
		}
	case err != nil:
		return fmt.Errorf("get kubernetes endpoints: %w", err)
	case cur.Labels[discoveryv1.LabelSkipMirror] != "true" || !apiequality.Semantic.DeepEqual(cur.Subsets, subsets):
		// Written by hand these would be mirrored into a second slice;
		// the label keeps the mirroring controller off them.
		if cur.Labels == nil {
			cur.Labels = map[string]string{}
		}
		cur.Labels[discoveryv1.LabelSkipMirror] = "true"
		cur.Subsets = subsets
		if cur, err = eps.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update kubernetes endpoints: %w", err)
		}
		a.log.Info("kubernetes service endpoints reset", "servers", servers)
	}
	return a.ensureSlice(ctx, cur)
}

// apiSubsets lists the servers, one subset per port (servers normally
// share one): addresses sorted, the port named https.
func apiSubsets(servers []string) []corev1.EndpointSubset {
	byPort := map[int32][]string{}
	for _, hp := range servers {
		host, p, err := net.SplitHostPort(hp)
		port, perr := strconv.Atoi(p)
		if err != nil || perr != nil {
			continue
		}
		byPort[int32(port)] = append(byPort[int32(port)], host)
	}
	ports := make([]int32, 0, len(byPort))
	for p := range byPort {
		ports = append(ports, p)
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
	var out []corev1.EndpointSubset
	for _, p := range ports {
		ips := byPort[p]
		sort.Strings(ips)
		ss := corev1.EndpointSubset{Ports: []corev1.EndpointPort{{Name: "https", Port: p, Protocol: corev1.ProtocolTCP}}}
		for _, ip := range ips {
			ss.Addresses = append(ss.Addresses, corev1.EndpointAddress{IP: ip})
		}
		out = append(out, ss)
	}
	return out
}

// ensureSlice writes the `kubernetes` EndpointSlice from the Endpoints'
// first subset, as upstream's endpoints adapter does.
func (a *apiEndpoints) ensureSlice(ctx context.Context, ep *corev1.Endpoints) error {
	want := apiSlice(ep)
	api := a.client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault)
	cur, err := api.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := api.Create(ctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create kubernetes endpoint slice: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("get kubernetes endpoint slice: %w", err)
	case cur.AddressType != want.AddressType:
		// The address type cannot change: replace the slice.
		if err := api.Delete(ctx, want.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("replace kubernetes endpoint slice: %w", err)
		}
		if _, err := api.Create(ctx, want, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("replace kubernetes endpoint slice: %w", err)
		}
		return nil
	case apiequality.Semantic.DeepEqual(cur.Endpoints, want.Endpoints) && apiequality.Semantic.DeepEqual(cur.Ports, want.Ports) &&
		apiequality.Semantic.DeepEqual(cur.Labels, want.Labels):
		return nil
	}
	want.ResourceVersion = cur.ResourceVersion
	if _, err := api.Update(ctx, want, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update kubernetes endpoint slice: %w", err)
	}
	return nil
}

func apiSlice(ep *corev1.Endpoints) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: ep.Name, Namespace: ep.Namespace,
			Labels: map[string]string{discoveryv1.LabelServiceName: ep.Name}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	if len(ep.Subsets) == 0 {
		return s
	}
	ss := ep.Subsets[0]
	for _, p := range ss.Ports {
		name, port, proto := p.Name, p.Port, p.Protocol
		s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: &name, Port: &port, Protocol: &proto})
	}
	all := append(append([]corev1.EndpointAddress(nil), ss.Addresses...), ss.NotReadyAddresses...)
	v6 := len(all) > 0
	for _, a := range all {
		if ip := net.ParseIP(a.IP); ip == nil || ip.To4() != nil {
			v6 = false
		}
	}
	if v6 {
		s.AddressType = discoveryv1.AddressTypeIPv6
	}
	add := func(addrs []corev1.EndpointAddress, ready bool) {
		for _, a := range addrs {
			ip := net.ParseIP(a.IP)
			if ip == nil || (ip.To4() == nil) != v6 {
				continue
			}
			r := ready
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{a.IP}, Conditions: discoveryv1.EndpointConditions{Ready: &r}, TargetRef: a.TargetRef, NodeName: a.NodeName})
		}
	}
	add(ss.Addresses, true)
	add(ss.NotReadyAddresses, false)
	return s
}

// runAPIEndpoints keeps this server in the kubernetes Service's endpoints
// until ctx ends.
func (s *Server) runAPIEndpoints(ctx context.Context) {
	ip, err := advertiseAddress(s.cfg)
	if err != nil { // checked by Start
		s.log.Error("kubernetes service endpoints", "err", err)
		return
	}
	cs, err := kubernetes.NewForConfig(s.LoopbackConfig())
	if err != nil {
		s.log.Error("kubernetes service endpoints", "err", err)
		return
	}
	port := strconv.Itoa(s.ln.Addr().(*net.TCPAddr).Port)
	a := &apiEndpoints{etcd: s.client, client: cs, self: net.JoinHostPort(ip.String(), port), log: s.log.With("component", "apiendpoints")}
	a.run(ctx)
}
