package validation

import (
	"fmt"
	"github.com/flotilla-io/flotilla/pkg/extensions"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	supportedRestartPolicies = []corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}
	supportedDNSPolicies     = []corev1.DNSPolicy{corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone}
)

// validatePodTemplateSpec validates an embedded pod template (RC, RS,
// Deployment, DaemonSet, StatefulSet, Job, PodTemplate).
func validatePodTemplateSpec(t *corev1.PodTemplateSpec, path *field.Path) field.ErrorList {
	errs := validateTemplateMeta(&t.ObjectMeta, path.Child("metadata"))
	errs = append(errs, validateRequiredDuringExecution(t.Annotations, path.Child("spec"))...)
	errs = append(errs, validatePodSpec(&t.Spec, path.Child("spec"))...)
	if len(t.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(path.Child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return errs
}

// validateRequiredDuringExecution checks Flotilla's extension node
// selector, reported at the field the user wrote.
func validateRequiredDuringExecution(annotations map[string]string, spec *field.Path) field.ErrorList {
	path := spec.Child("affinity", "nodeAffinity", extensions.RequiredDuringExecutionField)
	sel, err := extensions.RequiredDuringExecution(annotations)
	if err != nil {
		return field.ErrorList{field.Invalid(path, annotations[extensions.RequiredDuringExecutionAnnotation], err.Error())}
	}
	if sel == nil {
		return nil
	}
	return validateNodeSelector(sel, path)
}

// validatePodSpec validates a pod spec wherever it appears.
func validatePodSpec(spec *corev1.PodSpec, path *field.Path) field.ErrorList {
	volumes, errs := validateVolumes(spec.Volumes, path.Child("volumes"))
	names := sets.New[string]()
	errs = append(errs, validateContainers(spec.Containers, appContainer, volumes, names, path.Child("containers"))...)
	errs = append(errs, validateContainers(spec.InitContainers, initContainer, volumes, names, path.Child("initContainers"))...)
	errs = append(errs, validateEphemeralContainers(spec, volumes, names, path.Child("ephemeralContainers"))...)
	errs = append(errs, validateHostPorts(spec, path)...)
	if spec.HostNetwork {
		errs = append(errs, validateHostNetwork(spec, path)...)
	}
	if spec.RestartPolicy != "" && !contains(supportedRestartPolicies, spec.RestartPolicy) {
		errs = append(errs, field.NotSupported(path.Child("restartPolicy"), spec.RestartPolicy, supportedRestartPolicies))
	}
	errs = append(errs, validateDNSPolicy(spec, path)...)
	errs = append(errs, validateLabels(spec.NodeSelector, path.Child("nodeSelector"))...)
	errs = append(errs, validatePodSecurityContext(spec.SecurityContext, path.Child("securityContext"))...)
	errs = append(errs, validateImagePullSecrets(spec.ImagePullSecrets, path.Child("imagePullSecrets"))...)
	if spec.ServiceAccountName != "" {
		errs = append(errs, invalidAll(path.Child("serviceAccountName"), spec.ServiceAccountName, nameIsDNSSubdomain(spec.ServiceAccountName, false))...)
	}
	if spec.NodeName != "" {
		errs = append(errs, invalidAll(path.Child("nodeName"), spec.NodeName, nameIsDNSSubdomain(spec.NodeName, false))...)
	}
	if spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, inclusiveRange(*spec.ActiveDeadlineSeconds, 1, maxUint32, path.Child("activeDeadlineSeconds"))...)
	}
	if spec.Hostname != "" {
		errs = append(errs, validateDNS1123Label(spec.Hostname, path.Child("hostname"))...)
	}
	if spec.Subdomain != "" {
		errs = append(errs, validateDNS1123Label(spec.Subdomain, path.Child("subdomain"))...)
	}
	if spec.PriorityClassName != "" {
		errs = append(errs, validateDNS1123Subdomain(spec.PriorityClassName, path.Child("priorityClassName"))...)
	}
	if spec.RuntimeClassName != nil {
		errs = append(errs, validateDNS1123Subdomain(*spec.RuntimeClassName, path.Child("runtimeClassName"))...)
	}
	errs = append(errs, validateTolerations(spec.Tolerations, path.Child("tolerations"))...)
	errs = append(errs, validateAffinity(spec.Affinity, path.Child("affinity"))...)
	errs = append(errs, validateTopologySpread(spec.TopologySpreadConstraints, path.Child("topologySpreadConstraints"))...)
	errs = append(errs, validateHostAliases(spec.HostAliases, path.Child("hostAliases"))...)
	errs = append(errs, validateOverhead(spec.Overhead, path.Child("overhead"))...)
	errs = append(errs, validateSchedulingGates(spec.SchedulingGates, path.Child("schedulingGates"))...)
	if p := spec.PreemptionPolicy; p != nil {
		valid := []corev1.PreemptionPolicy{corev1.PreemptLowerPriority, corev1.PreemptNever}
		if !contains(valid, *p) {
			errs = append(errs, field.NotSupported(path.Child("preemptionPolicy"), *p, valid))
		}
	}
	return errs
}

// validateHostNetwork: with the host's network namespace a container port
// is the host port, so the two must agree (defaulting copies one into the
// other, hence 0 is tolerated).
func validateHostNetwork(spec *corev1.PodSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	check := func(ctrs []corev1.Container, p *field.Path) {
		for ci, c := range ctrs {
			for pi, port := range c.Ports {
				if port.HostPort != 0 && port.HostPort != port.ContainerPort {
					errs = append(errs, field.Invalid(p.Index(ci).Child("ports").Index(pi).Child("containerPort"), port.ContainerPort, "must match `hostPort` when `hostNetwork` is true"))
				}
			}
		}
	}
	check(spec.Containers, path.Child("containers"))
	check(spec.InitContainers, path.Child("initContainers"))
	return errs
}

func validateDNSPolicy(spec *corev1.PodSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.DNSPolicy != "" && !contains(supportedDNSPolicies, spec.DNSPolicy) {
		errs = append(errs, field.NotSupported(path.Child("dnsPolicy"), spec.DNSPolicy, supportedDNSPolicies))
	}
	cfg := spec.DNSConfig
	cfgPath := path.Child("dnsConfig")
	if spec.DNSPolicy == corev1.DNSNone {
		if cfg == nil {
			return append(errs, field.Required(cfgPath, fmt.Sprintf("must provide `dnsConfig` when `dnsPolicy` is %s", corev1.DNSNone)))
		}
		if len(cfg.Nameservers) == 0 {
			errs = append(errs, field.Required(cfgPath.Child("nameservers"), fmt.Sprintf("must provide at least one DNS nameserver when `dnsPolicy` is %s", corev1.DNSNone)))
		}
	}
	if cfg == nil {
		return errs
	}
	if len(cfg.Nameservers) > 3 {
		errs = append(errs, field.Invalid(cfgPath.Child("nameservers"), cfg.Nameservers, "must not have more than 3 nameservers"))
	}
	for i, ns := range cfg.Nameservers {
		errs = append(errs, utilvalidation.IsValidIP(cfgPath.Child("nameservers").Index(i), ns)...)
	}
	if len(cfg.Searches) > 32 {
		errs = append(errs, field.Invalid(cfgPath.Child("searches"), cfg.Searches, "must not have more than 32 search paths"))
	}
	for i, o := range cfg.Options {
		if o.Name == "" {
			errs = append(errs, field.Required(cfgPath.Child("options").Index(i), "Option.Name must not be empty"))
		}
	}
	return errs
}

func validateImagePullSecrets(refs []corev1.LocalObjectReference, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, r := range refs {
		if r.Name == "" {
			errs = append(errs, field.Required(path.Index(i).Child("name"), ""))
		}
	}
	return errs
}

func validateHostAliases(aliases []corev1.HostAlias, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, a := range aliases {
		idx := path.Index(i)
		if a.IP == "" {
			errs = append(errs, field.Required(idx.Child("ip"), ""))
		} else {
			errs = append(errs, utilvalidation.IsValidIP(idx.Child("ip"), a.IP)...)
		}
		for j, h := range a.Hostnames {
			errs = append(errs, validateDNS1123Subdomain(h, idx.Child("hostnames").Index(j))...)
		}
	}
	return errs
}

func validateOverhead(list corev1.ResourceList, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for name, q := range list {
		errs = append(errs, validateResourceName(name, path.Key(string(name)))...)
		errs = append(errs, validateQuantity(q, path.Key(string(name)))...)
	}
	return errs
}

func validateSchedulingGates(gates []corev1.PodSchedulingGate, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, g := range gates {
		errs = append(errs, invalidAll(path.Index(i).Child("name"), g.Name, utilvalidation.IsQualifiedName(g.Name))...)
		if seen.Has(g.Name) {
			errs = append(errs, field.Duplicate(path.Index(i), g.Name))
		}
		seen.Insert(g.Name)
	}
	return errs
}
