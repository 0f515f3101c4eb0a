package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	supportedPortProtocols  = []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}
	supportedPullPolicies   = []corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}
	supportedTermMsgPolicy  = []corev1.TerminationMessagePolicy{corev1.TerminationMessageFallbackToLogsOnError, corev1.TerminationMessageReadFile}
	supportedHTTPSchemes    = []corev1.URIScheme{corev1.URISchemeHTTP, corev1.URISchemeHTTPS}
	supportedMountPropagate = []corev1.MountPropagationMode{corev1.MountPropagationBidirectional, corev1.MountPropagationHostToContainer, corev1.MountPropagationNone}
)

// containerKind tells the container validators which rules apply:
// init containers may be sidecars, app containers may not set restartPolicy.
type containerKind int

const (
	appContainer containerKind = iota
	initContainer
)

// validateContainers validates spec.containers or spec.initContainers.
// names collects container names across both lists for the Duplicate check.
func validateContainers(ctrs []corev1.Container, kind containerKind, volumes sets.Set[string], names sets.Set[string], path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if kind == appContainer && len(ctrs) == 0 {
		errs = append(errs, field.Required(path, ""))
	}
	for i := range ctrs {
		ctr := &ctrs[i]
		idx := path.Index(i)
		errs = append(errs, validateContainerCommon(ctr, volumes, names, idx)...)
		sidecar := kind == initContainer && ctr.RestartPolicy != nil && *ctr.RestartPolicy == corev1.ContainerRestartPolicyAlways
		switch {
		case kind == appContainer && ctr.RestartPolicy != nil:
			errs = append(errs, field.Forbidden(idx.Child("restartPolicy"), "may not be set for non-init containers"))
		case kind == initContainer && ctr.RestartPolicy != nil && !sidecar:
			errs = append(errs, field.NotSupported(idx.Child("restartPolicy"), *ctr.RestartPolicy, []corev1.ContainerRestartPolicy{corev1.ContainerRestartPolicyAlways}))
		}
		if kind == initContainer && !sidecar {
			// Plain init containers run to completion: probes and
			// lifecycle hooks make no sense for them.
			if ctr.Lifecycle != nil {
				errs = append(errs, field.Forbidden(idx.Child("lifecycle"), "may not be set for init containers without restartPolicy=Always"))
			}
			if ctr.LivenessProbe != nil {
				errs = append(errs, field.Forbidden(idx.Child("livenessProbe"), "may not be set for init containers without restartPolicy=Always"))
			}
			if ctr.ReadinessProbe != nil {
				errs = append(errs, field.Forbidden(idx.Child("readinessProbe"), "may not be set for init containers without restartPolicy=Always"))
			}
			if ctr.StartupProbe != nil {
				errs = append(errs, field.Forbidden(idx.Child("startupProbe"), "may not be set for init containers without restartPolicy=Always"))
			}
			continue
		}
		errs = append(errs, validateProbe(ctr.LivenessProbe, true, idx.Child("livenessProbe"))...)
		errs = append(errs, validateProbe(ctr.StartupProbe, true, idx.Child("startupProbe"))...)
		errs = append(errs, validateProbe(ctr.ReadinessProbe, false, idx.Child("readinessProbe"))...)
		if ctr.Lifecycle != nil {
			errs = append(errs, validateLifecycleHandler(ctr.Lifecycle.PostStart, idx.Child("lifecycle", "postStart"))...)
			errs = append(errs, validateLifecycleHandler(ctr.Lifecycle.PreStop, idx.Child("lifecycle", "preStop"))...)
		}
	}
	return errs
}

// validateContainerCommon holds the rules shared by every container type.
func validateContainerCommon(ctr *corev1.Container, volumes, names sets.Set[string], path *field.Path) field.ErrorList {
	var errs field.ErrorList
	namePath := path.Child("name")
	if ctr.Name == "" {
		errs = append(errs, field.Required(namePath, ""))
	} else {
		errs = append(errs, validateDNS1123Label(ctr.Name, namePath)...)
	}
	if ctr.Name != "" && names.Has(ctr.Name) {
		errs = append(errs, field.Duplicate(namePath, ctr.Name))
	} else {
		names.Insert(ctr.Name)
	}
	// Upstream rejects an image that is only whitespace as well.
	if ctr.Image == "" {
		errs = append(errs, field.Required(path.Child("image"), ""))
	} else if strings.TrimSpace(ctr.Image) != ctr.Image {
		errs = append(errs, field.Invalid(path.Child("image"), ctr.Image, "must not have leading or trailing whitespace"))
	}
	if ctr.ImagePullPolicy != "" && !contains(supportedPullPolicies, ctr.ImagePullPolicy) {
		errs = append(errs, field.NotSupported(path.Child("imagePullPolicy"), ctr.ImagePullPolicy, supportedPullPolicies))
	}
	if ctr.TerminationMessagePolicy != "" && !contains(supportedTermMsgPolicy, ctr.TerminationMessagePolicy) {
		errs = append(errs, field.NotSupported(path.Child("terminationMessagePolicy"), ctr.TerminationMessagePolicy, supportedTermMsgPolicy))
	}
	errs = append(errs, validateContainerPorts(ctr.Ports, path.Child("ports"))...)
	errs = append(errs, validateEnv(ctr.Env, path.Child("env"))...)
	errs = append(errs, validateEnvFrom(ctr.EnvFrom, path.Child("envFrom"))...)
	errs = append(errs, validateVolumeMounts(ctr.VolumeMounts, volumes, path.Child("volumeMounts"))...)
	errs = append(errs, validateVolumeDevices(ctr.VolumeDevices, volumes, path.Child("volumeDevices"))...)
	errs = append(errs, validateResources(&ctr.Resources, path.Child("resources"))...)
	errs = append(errs, validateContainerSecurityContext(ctr.SecurityContext, path.Child("securityContext"))...)
	return errs
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func validateContainerPorts(ports []corev1.ContainerPort, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, p := range ports {
		idx := path.Index(i)
		if p.Name != "" {
			if msgs := utilvalidation.IsValidPortName(p.Name); len(msgs) > 0 {
				errs = append(errs, invalidAll(idx.Child("name"), p.Name, msgs)...)
			} else if names.Has(p.Name) {
				errs = append(errs, field.Duplicate(idx.Child("name"), p.Name))
			} else {
				names.Insert(p.Name)
			}
		}
		if p.ContainerPort == 0 {
			errs = append(errs, field.Required(idx.Child("containerPort"), ""))
		} else {
			errs = append(errs, invalidAll(idx.Child("containerPort"), p.ContainerPort, utilvalidation.IsValidPortNum(int(p.ContainerPort)))...)
		}
		if p.HostPort != 0 {
			errs = append(errs, invalidAll(idx.Child("hostPort"), p.HostPort, utilvalidation.IsValidPortNum(int(p.HostPort)))...)
		}
		if p.Protocol != "" && !contains(supportedPortProtocols, p.Protocol) {
			errs = append(errs, field.NotSupported(idx.Child("protocol"), p.Protocol, supportedPortProtocols))
		}
		if p.HostIP != "" {
			errs = append(errs, utilvalidation.IsValidIP(idx.Child("hostIP"), p.HostIP)...)
		}
	}
	return errs
}

// validateHostPorts rejects two containers claiming the same host port.
func validateHostPorts(spec *corev1.PodSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	check := func(ctrs []corev1.Container, p *field.Path) {
		for ci, c := range ctrs {
			for pi, port := range c.Ports {
				if port.HostPort == 0 {
					continue
				}
				proto := port.Protocol
				if proto == "" {
					proto = corev1.ProtocolTCP
				}
				key := fmt.Sprintf("%s/%s/%d", proto, port.HostIP, port.HostPort)
				if seen.Has(key) {
					errs = append(errs, field.Duplicate(p.Index(ci).Child("ports").Index(pi).Child("hostPort"), key))
				}
				seen.Insert(key)
			}
		}
	}
	check(spec.Containers, path.Child("containers"))
	check(spec.InitContainers, path.Child("initContainers"))
	return errs
}

func validateEnv(env []corev1.EnvVar, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range env {
		idx := path.Index(i)
		if ev.Name == "" {
			errs = append(errs, field.Required(idx.Child("name"), ""))
		} else {
			errs = append(errs, invalidAll(idx.Child("name"), ev.Name, utilvalidation.IsRelaxedEnvVarName(ev.Name))...)
		}
		errs = append(errs, validateEnvVarValueFrom(ev, idx.Child("valueFrom"))...)
	}
	return errs
}

func validateEnvVarValueFrom(ev corev1.EnvVar, path *field.Path) field.ErrorList {
	vf := ev.ValueFrom
	if vf == nil {
		return nil
	}
	var errs field.ErrorList
	n := 0
	if vf.FieldRef != nil {
		n++
		if vf.FieldRef.FieldPath == "" {
			errs = append(errs, field.Required(path.Child("fieldRef", "fieldPath"), ""))
		}
	}
	if vf.ResourceFieldRef != nil {
		n++
		if vf.ResourceFieldRef.Resource == "" {
			errs = append(errs, field.Required(path.Child("resourceFieldRef", "resource"), ""))
		}
	}
	if ref := vf.ConfigMapKeyRef; ref != nil {
		n++
		errs = append(errs, validateKeyRef(ref.Name, ref.Key, path.Child("configMapKeyRef"))...)
	}
	if ref := vf.SecretKeyRef; ref != nil {
		n++
		errs = append(errs, validateKeyRef(ref.Name, ref.Key, path.Child("secretKeyRef"))...)
	}
	if vf.FileKeyRef != nil {
		n++
	}
	switch {
	case n == 0:
		errs = append(errs, field.Invalid(path, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
	case ev.Value != "":
		errs = append(errs, field.Invalid(path, "", "may not be specified when `value` is not empty"))
	case n > 1:
		errs = append(errs, field.Invalid(path, "", "may not have more than one field specified at a time"))
	}
	return errs
}

func validateKeyRef(name, key string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(path.Child("name"), ""))
	}
	if key == "" {
		errs = append(errs, field.Required(path.Child("key"), ""))
	} else {
		errs = append(errs, invalidAll(path.Child("key"), key, utilvalidation.IsConfigMapKey(key))...)
	}
	return errs
}

func validateEnvFrom(list []corev1.EnvFromSource, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ef := range list {
		idx := path.Index(i)
		if ef.Prefix != "" {
			errs = append(errs, invalidAll(idx.Child("prefix"), ef.Prefix, utilvalidation.IsRelaxedEnvVarName(ef.Prefix))...)
		}
		n := 0
		if ef.ConfigMapRef != nil {
			n++
			errs = append(errs, validateDNS1123Subdomain(ef.ConfigMapRef.Name, idx.Child("configMapRef", "name"))...)
		}
		if ef.SecretRef != nil {
			n++
			errs = append(errs, validateDNS1123Subdomain(ef.SecretRef.Name, idx.Child("secretRef", "name"))...)
		}
		switch {
		case n == 0:
			errs = append(errs, field.Invalid(idx, "", "must specify one of: `configMapRef` or `secretRef`"))
		case n > 1:
			errs = append(errs, field.Invalid(idx, "", "may not have more than one field specified at a time"))
		}
	}
	return errs
}

func validateVolumeMounts(mounts []corev1.VolumeMount, volumes sets.Set[string], path *field.Path) field.ErrorList {
	var errs field.ErrorList
	paths := sets.New[string]()
	for i, m := range mounts {
		idx := path.Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(idx.Child("name"), ""))
		} else if !volumes.Has(m.Name) {
			errs = append(errs, field.NotFound(idx.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(idx.Child("mountPath"), ""))
		} else if paths.Has(m.MountPath) {
			errs = append(errs, field.Invalid(idx.Child("mountPath"), m.MountPath, "must be unique"))
		}
		paths.Insert(m.MountPath)
		if m.SubPath != "" {
			errs = append(errs, validateLocalDescendingPath(m.SubPath, idx.Child("subPath"))...)
		}
		if m.SubPath != "" && m.SubPathExpr != "" {
			errs = append(errs, field.Invalid(idx.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
		}
		if m.MountPropagation != nil && !contains(supportedMountPropagate, *m.MountPropagation) {
			errs = append(errs, field.NotSupported(idx.Child("mountPropagation"), *m.MountPropagation, supportedMountPropagate))
		}
	}
	return errs
}

func validateVolumeDevices(devs []corev1.VolumeDevice, volumes sets.Set[string], path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, d := range devs {
		idx := path.Index(i)
		if d.Name == "" {
			errs = append(errs, field.Required(idx.Child("name"), ""))
		} else if !volumes.Has(d.Name) {
			errs = append(errs, field.NotFound(idx.Child("name"), d.Name))
		}
		if d.DevicePath == "" {
			errs = append(errs, field.Required(idx.Child("devicePath"), ""))
		}
	}
	return errs
}

// validateLocalDescendingPath rejects absolute paths and paths that climb
// out of the volume with "..".
func validateLocalDescendingPath(p string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if strings.HasPrefix(p, "/") {
		errs = append(errs, field.Invalid(path, p, "must be a relative path"))
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			errs = append(errs, field.Invalid(path, p, "must not contain '..'"))
			break
		}
	}
	return errs
}

// handlerCount counts the handler types set on a probe or hook and returns
// the name of the second one, which upstream reports as Forbidden.
func validateHandlerCount(set []bool, names []string, path *field.Path, noneMsg string) field.ErrorList {
	n := 0
	for i, s := range set {
		if !s {
			continue
		}
		n++
		if n > 1 {
			return field.ErrorList{field.Forbidden(path.Child(names[i]), "may not specify more than 1 handler type")}
		}
	}
	if n == 0 {
		return field.ErrorList{field.Required(path, noneMsg)}
	}
	return nil
}

func validateProbe(p *corev1.Probe, successMustBeOne bool, path *field.Path) field.ErrorList {
	if p == nil {
		return nil
	}
	h := &p.ProbeHandler
	errs := validateHandlerCount(
		[]bool{h.Exec != nil, h.HTTPGet != nil, h.TCPSocket != nil, h.GRPC != nil},
		[]string{"exec", "httpGet", "tcpSocket", "grpc"}, path, "must specify a handler type")
	errs = append(errs, validateHandlerDetails(h.Exec, h.HTTPGet, h.TCPSocket, path)...)
	if h.GRPC != nil {
		errs = append(errs, invalidAll(path.Child("grpc", "port"), h.GRPC.Port, utilvalidation.IsValidPortNum(int(h.GRPC.Port)))...)
	}
	errs = append(errs, validateNonnegative(int64(p.InitialDelaySeconds), path.Child("initialDelaySeconds"))...)
	errs = append(errs, validateNonnegative(int64(p.TimeoutSeconds), path.Child("timeoutSeconds"))...)
	errs = append(errs, validateNonnegative(int64(p.PeriodSeconds), path.Child("periodSeconds"))...)
	errs = append(errs, validateNonnegative(int64(p.SuccessThreshold), path.Child("successThreshold"))...)
	errs = append(errs, validateNonnegative(int64(p.FailureThreshold), path.Child("failureThreshold"))...)
	if p.TerminationGracePeriodSeconds != nil && *p.TerminationGracePeriodSeconds <= 0 {
		errs = append(errs, field.Invalid(path.Child("terminationGracePeriodSeconds"), *p.TerminationGracePeriodSeconds, "must be greater than 0"))
	}
	// Zero means "not set" before defaulting turns it into 1.
	if successMustBeOne && p.SuccessThreshold > 1 {
		errs = append(errs, field.Invalid(path.Child("successThreshold"), p.SuccessThreshold, "must be 1"))
	}
	return errs
}

func validateLifecycleHandler(h *corev1.LifecycleHandler, path *field.Path) field.ErrorList {
	if h == nil {
		return nil
	}
	errs := validateHandlerCount(
		[]bool{h.Exec != nil, h.HTTPGet != nil, h.TCPSocket != nil, h.Sleep != nil},
		[]string{"exec", "httpGet", "tcpSocket", "sleep"}, path, "must specify a handler type")
	errs = append(errs, validateHandlerDetails(h.Exec, h.HTTPGet, h.TCPSocket, path)...)
	if h.Sleep != nil && h.Sleep.Seconds < 0 {
		errs = append(errs, field.Invalid(path.Child("sleep", "seconds"), h.Sleep.Seconds, "must be non-negative"))
	}
	return errs
}

func validateHandlerDetails(exec *corev1.ExecAction, get *corev1.HTTPGetAction, tcp *corev1.TCPSocketAction, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if exec != nil && len(exec.Command) == 0 {
		errs = append(errs, field.Required(path.Child("exec", "command"), ""))
	}
	if get != nil {
		p := path.Child("httpGet")
		errs = append(errs, validatePortNumOrName(get.Port, p.Child("port"))...)
		if get.Scheme != "" && !contains(supportedHTTPSchemes, get.Scheme) {
			errs = append(errs, field.NotSupported(p.Child("scheme"), get.Scheme, supportedHTTPSchemes))
		}
		for i, hdr := range get.HTTPHeaders {
			errs = append(errs, invalidAll(p.Child("httpHeaders").Index(i).Child("name"), hdr.Name, utilvalidation.IsHTTPHeaderName(hdr.Name))...)
		}
	}
	if tcp != nil {
		errs = append(errs, validatePortNumOrName(tcp.Port, path.Child("tcpSocket", "port"))...)
	}
	return errs
}
