package registry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Service address ranges, k3s's defaults so users feel at home. The first
// address belongs to the built-in `kubernetes` Service.
var (
	ServiceCIDR              = netip.MustParsePrefix("10.43.0.0/16")
	KubernetesServiceIP      = netip.MustParseAddr("10.43.0.1")
	nodePortMin, nodePortMax = 30000, 32767
)

// serviceAllocator hands out cluster IPs and node ports. Each value in
// use is one etcd key naming its Service, created in a transaction, so two
// API servers never hand out the same value. A key whose Service is gone
// or no longer uses the value (a crash between the Service's deletion and
// the release) is taken over, so leaks repair themselves.
type serviceAllocator struct {
	client *clientv3.Client
	svcs   func(ctx context.Context, ns, name string) (*corev1.Service, error)
}

const (
	ipKeys   = KeyPrefix + "ranges/serviceips/"
	portKeys = KeyPrefix + "ranges/servicenodeports/"
)

var servicesGR = schema.GroupResource{Resource: "services"}

// allocate fills in the service's cluster IP and node ports; old is the
// stored service on update (nil on create). undo releases what this call
// reserved.
func (a *serviceAllocator) allocate(ctx context.Context, obj, oldObj runtime.Object) (func(), error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return func() {}, nil
	}
	var old *corev1.Service
	if oldObj != nil {
		old, _ = oldObj.(*corev1.Service)
	}
	owner := svc.Namespace + "/" + svc.Name
	var taken []string
	undo := func() {
		for _, k := range taken {
			a.release(ctx, k, owner)
		}
	}
	if old != nil && svc.Spec.ClusterIP == "" && svc.Spec.Type != corev1.ServiceTypeExternalName {
		// The address is kept across updates even when the client omits it.
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = old.Spec.ClusterIP, old.Spec.ClusterIPs
	}
	if err := a.allocateIP(ctx, svc, owner, &taken); err != nil {
		undo()
		return nil, err
	}
	if err := a.allocatePorts(ctx, svc, old, owner, &taken); err != nil {
		undo()
		return nil, err
	}
	return undo, nil
}

func (a *serviceAllocator) allocateIP(ctx context.Context, svc *corev1.Service, owner string, taken *[]string) error {
	spec := &svc.Spec
	if spec.Type == corev1.ServiceTypeExternalName || spec.ClusterIP == corev1.ClusterIPNone {
		if spec.ClusterIP == corev1.ClusterIPNone {
			spec.ClusterIPs = []string{corev1.ClusterIPNone}
		}
		return nil
	}
	single := corev1.IPFamilyPolicySingleStack
	spec.IPFamilyPolicy, spec.IPFamilies = &single, []corev1.IPFamily{corev1.IPv4Protocol}
	path := field.NewPath("spec", "clusterIPs").Index(0)
	if spec.ClusterIP != "" {
		ip, err := netip.ParseAddr(spec.ClusterIP)
		if err != nil || !ServiceCIDR.Contains(ip) || ip == ServiceCIDR.Addr() {
			return invalidService(svc, field.Invalid(path, spec.ClusterIP, fmt.Sprintf("failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", spec.ClusterIP, spec.ClusterIP, ServiceCIDR)))
		}
		ok, err := a.reserve(ctx, ipKeys+ip.String(), owner, func(s *corev1.Service) bool { return s.Spec.ClusterIP == ip.String() })
		if err != nil {
			return err
		}
		if !ok {
			return invalidService(svc, field.Invalid(path, spec.ClusterIP, fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", spec.ClusterIP)))
		}
		*taken = append(*taken, ipKeys+ip.String())
		spec.ClusterIPs = []string{spec.ClusterIP}
		return nil
	}
	base := ServiceCIDR.Addr().As4()
	size := 1 << (32 - ServiceCIDR.Bits())
	for range 64 {
		n := 2 + rand.IntN(size-3) // skip the network, the kubernetes Service's and the broadcast address
		b := base
		b[2], b[3] = b[2]+byte(n>>8), b[3]+byte(n)
		ip := netip.AddrFrom4(b).String()
		ok, err := a.reserve(ctx, ipKeys+ip, owner, func(s *corev1.Service) bool { return s.Spec.ClusterIP == ip })
		if err != nil {
			return err
		}
		if ok {
			*taken = append(*taken, ipKeys+ip)
			spec.ClusterIP, spec.ClusterIPs = ip, []string{ip}
			return nil
		}
	}
	return apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: range is full"))
}

func (a *serviceAllocator) allocatePorts(ctx context.Context, svc *corev1.Service, old *corev1.Service, owner string, taken *[]string) error {
	if svc.Spec.Type != corev1.ServiceTypeNodePort && svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return nil
	}
	uses := func(port int32) func(*corev1.Service) bool {
		return func(s *corev1.Service) bool {
			return slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.NodePort == port })
		}
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if p.NodePort == 0 && old != nil {
			for _, op := range old.Spec.Ports {
				if op.Port == p.Port && op.Protocol == p.Protocol && op.NodePort != 0 {
					p.NodePort = op.NodePort
				}
			}
		}
		path := field.NewPath("spec", "ports").Index(i).Child("nodePort")
		if p.NodePort != 0 {
			if p.NodePort < int32(nodePortMin) || p.NodePort > int32(nodePortMax) {
				return invalidService(svc, field.Invalid(path, p.NodePort, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", nodePortMin, nodePortMax)))
			}
			key := portKeys + strconv.Itoa(int(p.NodePort))
			ok, err := a.reserve(ctx, key, owner, uses(p.NodePort))
			if err != nil {
				return err
			}
			if !ok {
				return invalidService(svc, field.Invalid(path, p.NodePort, "provided port is already allocated"))
			}
			*taken = append(*taken, key)
			continue
		}
		found := false
		for range 64 {
			port := int32(nodePortMin + rand.IntN(nodePortMax-nodePortMin+1))
			key := portKeys + strconv.Itoa(int(port))
			ok, err := a.reserve(ctx, key, owner, uses(port))
			if err != nil {
				return err
			}
			if ok {
				*taken, p.NodePort, found = append(*taken, key), port, true
				break
			}
		}
		if !found {
			return apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: range is full"))
		}
	}
	return nil
}

// reserve claims key for owner. A key held by owner already is ours; a key
// held by a Service that no longer uses the value is taken over.
func (a *serviceAllocator) reserve(ctx context.Context, key, owner string, stillUses func(*corev1.Service) bool) (bool, error) {
	resp, err := a.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, owner)).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return false, apierrors.NewServiceUnavailable(fmt.Sprintf("allocation storage: %v", err))
	}
	if resp.Succeeded {
		return true, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return false, nil
	}
	holder := string(kvs[0].Value)
	if holder == owner {
		return true, nil
	}
	ns, name, _ := cutOwner(holder)
	if s, err := a.svcs(ctx, ns, name); err == nil && s != nil && stillUses(s) {
		return false, nil
	} else if err != nil && !apierrors.IsNotFound(err) {
		return false, err
	}
	// A leaked reservation: take it over unless someone else just did.
	tk, err := a.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", kvs[0].ModRevision)).
		Then(clientv3.OpPut(key, owner)).
		Commit()
	if err != nil {
		return false, apierrors.NewServiceUnavailable(fmt.Sprintf("allocation storage: %v", err))
	}
	return tk.Succeeded, nil
}

// releaseAll gives back the values of a deleted Service.
func (a *serviceAllocator) releaseAll(ctx context.Context, obj runtime.Object) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	owner := svc.Namespace + "/" + svc.Name
	if ip := svc.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
		a.release(ctx, ipKeys+ip, owner)
	}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			a.release(ctx, portKeys+strconv.Itoa(int(p.NodePort)), owner)
		}
	}
}

func (a *serviceAllocator) release(ctx context.Context, key, owner string) {
	_, _ = a.client.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(key), "=", owner)).
		Then(clientv3.OpDelete(key)).
		Commit()
}

func cutOwner(s string) (ns, name string, ok bool) {
	for i := range len(s) {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return "", s, false
}

func invalidService(svc *corev1.Service, err *field.Error) error {
	return apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, svc.Name, field.ErrorList{err})
}
