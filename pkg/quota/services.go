package quota

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
)

var servicesGR = corev1.Resource("services")

var serviceResources = []corev1.ResourceName{
	generic.ObjectCountQuotaResourceNameFor(servicesGR), corev1.ResourceServices,
	corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers,
}

type serviceEvaluator struct {
	unscoped
	list generic.ListFuncByNamespace
}

var _ quota.Evaluator = (*serviceEvaluator)(nil)

// NewServiceEvaluator charges services, their node ports and load
// balancers.
func NewServiceEvaluator(list quota.ListerForResourceFunc) quota.Evaluator {
	return &serviceEvaluator{list: listFunc(list, corev1.SchemeGroupVersion.WithResource("services"))}
}

func (s *serviceEvaluator) GroupResource() schema.GroupResource { return servicesGR }

func (s *serviceEvaluator) Matches(q *corev1.ResourceQuota, item runtime.Object) (bool, error) {
	return generic.Matches(q, item, s.MatchingResources, generic.MatchesNoScopeFunc)
}

func (s *serviceEvaluator) MatchingResources(input []corev1.ResourceName) []corev1.ResourceName {
	return quota.Intersection(input, serviceResources)
}

// Usage: one service; a NodePort service uses a node port per port, a
// LoadBalancer one a load balancer and (unless it allocates none) node
// ports too.
func (s *serviceEvaluator) Usage(item runtime.Object) (corev1.ResourceList, error) {
	svc, ok := item.(*corev1.Service)
	if !ok {
		return nil, fmt.Errorf("unexpected object %T, expected a service", item)
	}
	one := *resource.NewQuantity(1, resource.DecimalSI)
	ports := *resource.NewQuantity(int64(len(svc.Spec.Ports)), resource.DecimalSI)
	out := corev1.ResourceList{
		generic.ObjectCountQuotaResourceNameFor(servicesGR): one,
		corev1.ResourceServices:                             one,
		corev1.ResourceServicesLoadBalancers:                {Format: resource.DecimalSI},
		corev1.ResourceServicesNodePorts:                    {Format: resource.DecimalSI},
	}
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		out[corev1.ResourceServicesNodePorts] = ports
	case corev1.ServiceTypeLoadBalancer:
		if svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts {
			out[corev1.ResourceServicesNodePorts] = ports
		}
		out[corev1.ResourceServicesLoadBalancers] = one
	}
	return out, nil
}

func (s *serviceEvaluator) UsageStats(o quota.UsageStatsOptions) (quota.UsageStats, error) {
	return generic.CalculateUsageStats(o, s.list, generic.MatchesNoScopeFunc, s.Usage)
}
