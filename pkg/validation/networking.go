package validation

import (
	"fmt"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	pathvalidation "k8s.io/apimachinery/pkg/api/validation/path"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
)

// Ingresses and IngressClasses, as upstream's networking validation.

// ingressClassAnnotation is the deprecated way to name an Ingress's class.
const ingressClassAnnotation = "kubernetes.io/ingress.class"

var (
	ingressPathTypes        = []string{string(networkingv1.PathTypeExact), string(networkingv1.PathTypeImplementationSpecific), string(networkingv1.PathTypePrefix)}
	invalidIngressPathParts = []string{"//", "/./", "/../", "%2f", "%2F"}
	invalidIngressPathEnds  = []string{"/..", "/."}
	ingressParameterScopes  = []string{networkingv1.IngressClassParametersReferenceScopeCluster, networkingv1.IngressClassParametersReferenceScopeNamespace}
)

// ingressOptions relax rules for objects stored before they existed.
type ingressOptions struct {
	invalidSecretName       bool
	invalidWildcardHostRule bool
}

func validateIngress(ing *networkingv1.Ingress) field.ErrorList {
	errs := validateIngressWith(ing, ingressOptions{})
	if v, ok := ing.Annotations[ingressClassAnnotation]; ok && ing.Spec.IngressClassName != nil && v != *ing.Spec.IngressClassName {
		errs = append(errs, field.Invalid(field.NewPath("annotations").Child(ingressClassAnnotation), v, "must match `ingressClassName` when both are specified"))
	}
	return errs
}

func validateIngressUpdate(ing, old *networkingv1.Ingress) field.ErrorList {
	o := ingressOptions{}
	for _, t := range old.Spec.TLS {
		o.invalidSecretName = o.invalidSecretName || len(tlsSecretNameErrors(t.SecretName)) > 0
	}
	for _, r := range old.Spec.Rules {
		if strings.Contains(r.Host, "*") && len(validateIngressRuleValue(&r.IngressRuleValue, nil, ingressOptions{})) > 0 {
			o.invalidWildcardHostRule = true
		}
	}
	return validateIngressWith(ing, o)
}

func validateIngressStatus(ing *networkingv1.Ingress) field.ErrorList {
	var errs field.ErrorList
	path := field.NewPath("status", "loadBalancer", "ingress")
	for i, lb := range ing.Status.LoadBalancer.Ingress {
		idx := path.Index(i)
		if lb.IP != "" {
			errs = append(errs, utilvalidation.IsValidIP(idx.Child("ip"), lb.IP)...)
		}
		if lb.Hostname != "" {
			errs = append(errs, validateDNS1123Subdomain(lb.Hostname, idx.Child("hostname"))...)
			if netutils.ParseIPSloppy(lb.Hostname) != nil {
				errs = append(errs, field.Invalid(idx.Child("hostname"), lb.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	return errs
}

func validateIngressWith(ing *networkingv1.Ingress, o ingressOptions) field.ErrorList {
	errs := validateMeta(ing, true, nameIsDNSSubdomain)
	spec := &ing.Spec
	path := field.NewPath("spec")
	if len(spec.Rules) == 0 && spec.DefaultBackend == nil {
		errs = append(errs, field.Invalid(path, spec.Rules, "either `defaultBackend` or `rules` must be specified"))
	}
	if spec.DefaultBackend != nil {
		errs = append(errs, validateIngressBackend(spec.DefaultBackend, path.Child("defaultBackend"))...)
	}
	for i, r := range spec.Rules {
		idx := path.Child("rules").Index(i)
		wildcard := false
		if r.Host != "" {
			if netutils.ParseIPSloppy(r.Host) != nil {
				errs = append(errs, field.Invalid(idx.Child("host"), r.Host, "must be a DNS name, not an IP address"))
			}
			if strings.Contains(r.Host, "*") {
				errs = append(errs, invalidAll(idx.Child("host"), r.Host, utilvalidation.IsWildcardDNS1123Subdomain(r.Host))...)
				wildcard = true
			} else {
				errs = append(errs, validateDNS1123Subdomain(r.Host, idx.Child("host"))...)
			}
		}
		if !wildcard || !o.invalidWildcardHostRule {
			errs = append(errs, validateIngressRuleValue(&r.IngressRuleValue, idx, o)...)
		}
	}
	for i, t := range spec.TLS {
		idx := path.Child("tls").Index(i)
		for j, h := range t.Hosts {
			hp := idx.Child("hosts").Index(j)
			if strings.Contains(h, "*") {
				errs = append(errs, invalidAll(hp, h, utilvalidation.IsWildcardDNS1123Subdomain(h))...)
			} else {
				errs = append(errs, validateDNS1123Subdomain(h, hp)...)
			}
		}
		if !o.invalidSecretName {
			errs = append(errs, invalidAll(idx.Child("secretName"), t.SecretName, tlsSecretNameErrors(t.SecretName))...)
		}
	}
	if spec.IngressClassName != nil {
		errs = append(errs, invalidAll(path.Child("ingressClassName"), *spec.IngressClassName, nameIsDNSSubdomain(*spec.IngressClassName, false))...)
	}
	return errs
}

func tlsSecretNameErrors(name string) []string {
	if name == "" {
		return nil
	}
	return nameIsDNSSubdomain(name, false)
}

func validateIngressRuleValue(v *networkingv1.IngressRuleValue, path *field.Path, o ingressOptions) field.ErrorList {
	if v.HTTP == nil {
		return nil
	}
	var errs field.ErrorList
	paths := path.Child("http", "paths")
	if len(v.HTTP.Paths) == 0 {
		errs = append(errs, field.Required(paths, ""))
	}
	for i := range v.HTTP.Paths {
		errs = append(errs, validateIngressPath(&v.HTTP.Paths[i], paths.Index(i))...)
	}
	return errs
}

func validateIngressPath(p *networkingv1.HTTPIngressPath, path *field.Path) field.ErrorList {
	if p.PathType == nil {
		return field.ErrorList{field.Required(path.Child("pathType"), "pathType must be specified")}
	}
	var errs field.ErrorList
	switch *p.PathType {
	case networkingv1.PathTypeExact, networkingv1.PathTypePrefix:
		if !strings.HasPrefix(p.Path, "/") {
			errs = append(errs, field.Invalid(path.Child("path"), p.Path, "must be an absolute path"))
		}
		if p.Path != "" {
			for _, seq := range invalidIngressPathParts {
				if strings.Contains(p.Path, seq) {
					errs = append(errs, field.Invalid(path.Child("path"), p.Path, fmt.Sprintf("must not contain '%s'", seq)))
				}
			}
			for _, end := range invalidIngressPathEnds {
				if strings.HasSuffix(p.Path, end) {
					errs = append(errs, field.Invalid(path.Child("path"), p.Path, fmt.Sprintf("cannot end with '%s'", end)))
				}
			}
		}
	case networkingv1.PathTypeImplementationSpecific:
		if p.Path != "" && !strings.HasPrefix(p.Path, "/") {
			errs = append(errs, field.Invalid(path.Child("path"), p.Path, "must be an absolute path"))
		}
	default:
		errs = append(errs, field.NotSupported(path.Child("pathType"), *p.PathType, ingressPathTypes))
	}
	return append(errs, validateIngressBackend(&p.Backend, path.Child("backend"))...)
}

func validateIngressBackend(b *networkingv1.IngressBackend, path *field.Path) field.ErrorList {
	switch {
	case b.Resource != nil && b.Service != nil:
		return field.ErrorList{field.Invalid(path, "", "cannot set both resource and service backends")}
	case b.Resource != nil:
		r := b.Resource
		return validateTypedReference(r.APIGroup, r.Kind, r.Name, path.Child("resource"))
	case b.Service != nil:
		var errs field.ErrorList
		svc := b.Service
		if svc.Name == "" {
			errs = append(errs, field.Required(path.Child("service", "name"), ""))
		} else {
			errs = append(errs, invalidAll(path.Child("service", "name"), svc.Name, nameIsDNS1035Label(svc.Name, false))...)
		}
		hasName, hasNumber := svc.Port.Name != "", svc.Port.Number != 0
		switch {
		case hasName && hasNumber:
			errs = append(errs, field.Invalid(path, "", "cannot set both port name & port number"))
		case hasName:
			errs = append(errs, invalidAll(path.Child("service", "port", "name"), svc.Port.Name, utilvalidation.IsValidPortName(svc.Port.Name))...)
		case hasNumber:
			errs = append(errs, invalidAll(path.Child("service", "port", "number"), svc.Port.Number, utilvalidation.IsValidPortNum(int(svc.Port.Number)))...)
		default:
			errs = append(errs, field.Required(path, "port name or number is required"))
		}
		return errs
	}
	return field.ErrorList{field.Invalid(path, "", "resource or service backend is required")}
}

// validateTypedReference checks an Ingress backend resource or an
// IngressClass's parameters: kind and name are path segments.
func validateTypedReference(group *string, kind, name string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if group != nil {
		errs = append(errs, validateDNS1123Subdomain(*group, path.Child("apiGroup"))...)
	}
	if kind == "" {
		errs = append(errs, field.Required(path.Child("kind"), "kind is required"))
	} else {
		errs = append(errs, invalidAll(path.Child("kind"), kind, pathvalidation.IsValidPathSegmentName(kind))...)
	}
	if name == "" {
		errs = append(errs, field.Required(path.Child("name"), "name is required"))
	} else {
		errs = append(errs, invalidAll(path.Child("name"), name, pathvalidation.IsValidPathSegmentName(name))...)
	}
	return errs
}

// maxIngressClassController is upstream's limit on spec.controller.
const maxIngressClassController = 250

func validateIngressClass(ic *networkingv1.IngressClass) field.ErrorList {
	errs := validateMeta(ic, false, nameIsDNSSubdomain)
	path := field.NewPath("spec")
	if len(ic.Spec.Controller) > maxIngressClassController {
		errs = append(errs, field.TooLong(path.Child("controller"), "", maxIngressClassController))
	}
	errs = append(errs, utilvalidation.IsDomainPrefixedPath(path.Child("controller"), ic.Spec.Controller)...)
	if p := ic.Spec.Parameters; p != nil {
		pp := path.Child("parameters")
		errs = append(errs, validateTypedReference(p.APIGroup, p.Kind, p.Name, pp)...)
		switch {
		case p.Scope == nil:
			errs = append(errs, field.Required(pp.Child("scope"), ""))
		case !contains(ingressParameterScopes, *p.Scope):
			errs = append(errs, field.NotSupported(pp.Child("scope"), *p.Scope, ingressParameterScopes))
		case *p.Scope == networkingv1.IngressClassParametersReferenceScopeNamespace && p.Namespace == nil:
			errs = append(errs, field.Required(pp.Child("namespace"), "`parameters.scope` is set to 'Namespace'"))
		case *p.Scope == networkingv1.IngressClassParametersReferenceScopeNamespace:
			errs = append(errs, invalidAll(pp.Child("namespace"), *p.Namespace, apivalidation.ValidateNamespaceName(*p.Namespace, false))...)
		case *p.Scope == networkingv1.IngressClassParametersReferenceScopeCluster && p.Namespace != nil:
			errs = append(errs, field.Forbidden(pp.Child("namespace"), "`parameters.scope` is set to 'Cluster'"))
		}
	}
	return errs
}

func validateIngressClassUpdate(ic, old *networkingv1.IngressClass) field.ErrorList {
	errs := validateImmutable(ic.Spec.Controller, old.Spec.Controller, field.NewPath("spec", "controller"))
	return append(errs, validateIngressClass(ic)...)
}
