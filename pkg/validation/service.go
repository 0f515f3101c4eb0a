package validation

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	supportedServiceTypes    = []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeExternalName, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort}
	supportedSessionAffinity = []corev1.ServiceAffinity{corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone}
	supportedTrafficPolicies = []corev1.ServiceExternalTrafficPolicy{corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal}
	supportedAddressTypes    = []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN}
)

func validateService(s *corev1.Service) field.ErrorList {
	errs := validateMeta(s, true, nameIsDNS1035Label)
	return append(errs, validateServiceSpec(s)...)
}

func isHeadless(s *corev1.Service) bool {
	return s.Spec.ClusterIP == corev1.ClusterIPNone
}

func validateServiceSpec(s *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	spec := &s.Spec
	portsPath := specPath.Child("ports")
	if len(spec.Ports) == 0 && !isHeadless(s) && spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(portsPath, ""))
	}
	if spec.Type != "" && !contains(supportedServiceTypes, spec.Type) {
		errs = append(errs, field.NotSupported(specPath.Child("type"), spec.Type, supportedServiceTypes))
	}
	if spec.Type == corev1.ServiceTypeExternalName {
		if spec.ExternalName == "" {
			errs = append(errs, field.Required(specPath.Child("externalName"), ""))
		} else {
			errs = append(errs, utilvalidation.IsFullyQualifiedDomainName(specPath.Child("externalName"), spec.ExternalName)...)
		}
	}
	names := sets.New[string]()
	seen := map[corev1.ServicePort]bool{}
	for i := range spec.Ports {
		p := &spec.Ports[i]
		idx := portsPath.Index(i)
		errs = append(errs, validateServicePort(p, len(spec.Ports) > 1, names, idx)...)
		if (spec.Type == corev1.ServiceTypeClusterIP || spec.Type == corev1.ServiceTypeExternalName) && p.NodePort != 0 {
			errs = append(errs, field.Forbidden(idx.Child("nodePort"), "may not be used when `type` is '"+string(spec.Type)+"'"))
		}
		key := corev1.ServicePort{Protocol: p.Protocol, Port: p.Port}
		if key.Protocol == "" {
			key.Protocol = corev1.ProtocolTCP
		}
		if seen[key] {
			errs = append(errs, field.Duplicate(idx, key))
		}
		seen[key] = true
	}
	if spec.ClusterIP != "" && spec.ClusterIP != corev1.ClusterIPNone {
		errs = append(errs, utilvalidation.IsValidIP(specPath.Child("clusterIP"), spec.ClusterIP)...)
	}
	if spec.SessionAffinity != "" && !contains(supportedSessionAffinity, spec.SessionAffinity) {
		errs = append(errs, field.NotSupported(specPath.Child("sessionAffinity"), spec.SessionAffinity, supportedSessionAffinity))
	}
	if p := spec.ExternalTrafficPolicy; p != "" {
		if !contains(supportedTrafficPolicies, p) {
			errs = append(errs, field.NotSupported(specPath.Child("externalTrafficPolicy"), p, supportedTrafficPolicies))
		} else if spec.Type == corev1.ServiceTypeClusterIP || spec.Type == corev1.ServiceTypeExternalName {
			errs = append(errs, field.Invalid(specPath.Child("externalTrafficPolicy"), p, "may only be set for externally-accessible services"))
		}
	}
	for i, ip := range spec.ExternalIPs {
		errs = append(errs, utilvalidation.IsValidIP(specPath.Child("externalIPs").Index(i), ip)...)
	}
	return append(errs, validateLabels(spec.Selector, specPath.Child("selector"))...)
}

func validateServicePort(p *corev1.ServicePort, requireName bool, names sets.Set[string], path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if requireName && p.Name == "" {
		errs = append(errs, field.Required(path.Child("name"), ""))
	} else if p.Name != "" {
		errs = append(errs, validateDNS1123Label(p.Name, path.Child("name"))...)
		if names.Has(p.Name) {
			errs = append(errs, field.Duplicate(path.Child("name"), p.Name))
		}
		names.Insert(p.Name)
	}
	errs = append(errs, invalidAll(path.Child("port"), p.Port, utilvalidation.IsValidPortNum(int(p.Port)))...)
	if p.Protocol != "" && !contains(supportedPortProtocols, p.Protocol) {
		errs = append(errs, field.NotSupported(path.Child("protocol"), p.Protocol, supportedPortProtocols))
	}
	// A zero targetPort is defaulted to port.
	if !(p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == 0) && !(p.TargetPort.Type == intstr.String && p.TargetPort.StrVal == "") {
		errs = append(errs, validatePortNumOrName(p.TargetPort, path.Child("targetPort"))...)
	}
	if p.NodePort != 0 {
		errs = append(errs, invalidAll(path.Child("nodePort"), p.NodePort, utilvalidation.IsValidPortNum(int(p.NodePort)))...)
	}
	return errs
}

// validateServiceUpdate: the cluster IP is allocated once; only a move to
// or from ExternalName may drop it.
func validateServiceUpdate(s, old *corev1.Service) field.ErrorList {
	errs := validateServiceSpec(s)
	if s.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return errs
	}
	if old.Spec.ClusterIP != "" && s.Spec.ClusterIP != "" && s.Spec.ClusterIP != old.Spec.ClusterIP {
		errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), []string{s.Spec.ClusterIP}, "may not change once set"))
	}
	return errs
}

// Endpoints.

func validateEndpoints(e *corev1.Endpoints) field.ErrorList {
	errs := validateMeta(e, true, nameIsDNSSubdomain)
	return append(errs, validateEndpointsSpec(e)...)
}

func validateEndpointsSpec(e *corev1.Endpoints) field.ErrorList {
	var errs field.ErrorList
	for i, ss := range e.Subsets {
		idx := field.NewPath("subsets").Index(i)
		for j, a := range ss.Addresses {
			errs = append(errs, validateEndpointAddress(a, idx.Child("addresses").Index(j))...)
		}
		for j, a := range ss.NotReadyAddresses {
			errs = append(errs, validateEndpointAddress(a, idx.Child("notReadyAddresses").Index(j))...)
		}
		for j, p := range ss.Ports {
			pp := idx.Child("ports").Index(j)
			if len(ss.Ports) > 1 && p.Name == "" {
				errs = append(errs, field.Required(pp.Child("name"), ""))
			} else if p.Name != "" {
				errs = append(errs, validateDNS1123Label(p.Name, pp.Child("name"))...)
			}
			errs = append(errs, invalidAll(pp.Child("port"), p.Port, utilvalidation.IsValidPortNum(int(p.Port)))...)
			if p.Protocol != "" && !contains(supportedPortProtocols, p.Protocol) {
				errs = append(errs, field.NotSupported(pp.Child("protocol"), p.Protocol, supportedPortProtocols))
			}
		}
	}
	return errs
}

func validateEndpointAddress(a corev1.EndpointAddress, path *field.Path) field.ErrorList {
	errs := utilvalidation.IsValidIP(path.Child("ip"), a.IP)
	if a.Hostname != "" {
		errs = append(errs, validateDNS1123Label(a.Hostname, path.Child("hostname"))...)
	}
	if a.NodeName != nil {
		errs = append(errs, invalidAll(path.Child("nodeName"), *a.NodeName, nameIsDNSSubdomain(*a.NodeName, false))...)
	}
	return errs
}

// EndpointSlices.

const maxEndpointAddresses = 100

func validateEndpointSlice(s *discoveryv1.EndpointSlice) field.ErrorList {
	errs := validateMeta(s, true, nameIsDNSSubdomain)
	if !contains(supportedAddressTypes, s.AddressType) {
		errs = append(errs, field.NotSupported(field.NewPath("addressType"), s.AddressType, supportedAddressTypes))
	}
	return append(errs, validateEndpointSliceBody(s)...)
}

func validateEndpointSliceBody(s *discoveryv1.EndpointSlice) field.ErrorList {
	var errs field.ErrorList
	for i, ep := range s.Endpoints {
		idx := field.NewPath("endpoints").Index(i)
		ap := idx.Child("addresses")
		if len(ep.Addresses) == 0 {
			errs = append(errs, field.Required(ap, "must contain at least 1 address"))
		} else if len(ep.Addresses) > maxEndpointAddresses {
			errs = append(errs, field.TooMany(ap, len(ep.Addresses), maxEndpointAddresses))
		}
		for j, a := range ep.Addresses {
			p := ap.Index(j)
			switch s.AddressType {
			case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
				errs = append(errs, utilvalidation.IsValidIP(p, a)...)
			case discoveryv1.AddressTypeFQDN:
				errs = append(errs, validateDNS1123Subdomain(a, p)...)
			}
		}
		if ep.Hostname != nil {
			errs = append(errs, validateDNS1123Label(*ep.Hostname, idx.Child("hostname"))...)
		}
		if ep.NodeName != nil {
			errs = append(errs, invalidAll(idx.Child("nodeName"), *ep.NodeName, nameIsDNSSubdomain(*ep.NodeName, false))...)
		}
	}
	for i, p := range s.Ports {
		idx := field.NewPath("ports").Index(i)
		if p.Name != nil && *p.Name != "" {
			errs = append(errs, validateDNS1123Label(*p.Name, idx.Child("name"))...)
		}
		if p.Protocol != nil && !contains(supportedPortProtocols, *p.Protocol) {
			errs = append(errs, field.NotSupported(idx.Child("protocol"), *p.Protocol, supportedPortProtocols))
		}
		if p.Port != nil {
			errs = append(errs, invalidAll(idx.Child("port"), *p.Port, utilvalidation.IsValidPortNum(int(*p.Port)))...)
		}
	}
	return errs
}

func validateEndpointSliceUpdate(s, old *discoveryv1.EndpointSlice) field.ErrorList {
	errs := validateEndpointSliceBody(s)
	return append(errs, validateImmutable(s.AddressType, old.AddressType, field.NewPath("addressType"))...)
}
