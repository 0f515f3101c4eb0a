package validation

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var specPath = field.NewPath("spec")

// podUpdateForbiddenMsg is upstream's wording for a change to an immutable
// part of a pod spec.
const podUpdateForbiddenMsg = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"

func validatePod(pod *corev1.Pod) field.ErrorList {
	errs := validateMeta(pod, true, nameIsDNSSubdomain)
	errs = append(errs, validateRequiredDuringExecution(pod.Annotations, specPath)...)
	errs = append(errs, validatePodSpec(&pod.Spec, specPath)...)
	// Ephemeral containers join running pods, through their subresource.
	if len(pod.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(specPath.Child("ephemeralContainers"), "cannot be set on create"))
	}
	return errs
}

// validatePodUpdate allows only the few mutable pod spec fields to change.
func validatePodUpdate(pod, old *corev1.Pod) field.ErrorList {
	var errs field.ErrorList
	for i, c := range pod.Spec.Containers {
		if c.Image == "" {
			errs = append(errs, field.Required(specPath.Child("containers").Index(i).Child("image"), ""))
		}
	}
	for i, c := range pod.Spec.InitContainers {
		if c.Image == "" {
			errs = append(errs, field.Required(specPath.Child("initContainers").Index(i).Child("image"), ""))
		}
	}
	errs = append(errs, validateTolerations(pod.Spec.Tolerations, specPath.Child("tolerations"))...)

	adsPath := specPath.Child("activeDeadlineSeconds")
	if n := pod.Spec.ActiveDeadlineSeconds; n != nil {
		if *n < 0 || *n > math.MaxInt32 {
			return append(errs, field.Invalid(adsPath, *n, utilvalidation.InclusiveRangeError(0, math.MaxInt32)))
		}
		if o := old.Spec.ActiveDeadlineSeconds; o != nil && *o < *n {
			return append(errs, field.Invalid(adsPath, *n, "must be less than or equal to previous value"))
		}
	} else if old.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Invalid(adsPath, pod.Spec.ActiveDeadlineSeconds, "must not update from a positive integer to nil value"))
	}
	if old.Spec.NodeName != "" && pod.Spec.NodeName != old.Spec.NodeName {
		errs = append(errs, field.Forbidden(specPath.Child("nodeName"), "field is immutable once set"))
	}
	errs = append(errs, validateOnlyAddedTolerations(pod.Spec.Tolerations, old.Spec.Tolerations, specPath.Child("tolerations"))...)
	errs = append(errs, validateGatesRemovedOnly(pod.Spec.SchedulingGates, old.Spec.SchedulingGates, specPath.Child("schedulingGates"))...)

	// Mask the mutable fields, then anything still differing is forbidden.
	munged := *pod.Spec.DeepCopy()
	maskImages(munged.Containers, old.Spec.Containers)
	maskImages(munged.InitContainers, old.Spec.InitContainers)
	munged.ActiveDeadlineSeconds = old.Spec.ActiveDeadlineSeconds
	munged.Tolerations = old.Spec.Tolerations
	munged.SchedulingGates = old.Spec.SchedulingGates
	munged.NodeName = old.Spec.NodeName
	if g, o := munged.TerminationGracePeriodSeconds, old.Spec.TerminationGracePeriodSeconds; g != nil && o != nil && *o < 0 && *g == 1 {
		munged.TerminationGracePeriodSeconds = o
	}
	if !apiequality.Semantic.DeepEqual(munged, old.Spec) {
		errs = append(errs, field.Forbidden(specPath, podUpdateForbiddenMsg+"\n"+specDiff(&old.Spec, &munged)))
	}
	return errs
}

func maskImages(ctrs, old []corev1.Container) {
	for i := range ctrs {
		if i < len(old) {
			ctrs[i].Image = old[i].Image
		}
	}
}

// validateOnlyAddedTolerations: existing tolerations must stay; only a
// NoExecute toleration's tolerationSeconds may be lowered.
func validateOnlyAddedTolerations(tols, old []corev1.Toleration, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, o := range old {
		found := false
		for _, n := range tols {
			if o.Key == n.Key && o.Operator == n.Operator && o.Value == n.Value && o.Effect == n.Effect {
				if reflect.DeepEqual(o.TolerationSeconds, n.TolerationSeconds) ||
					(o.Effect == corev1.TaintEffectNoExecute && o.TolerationSeconds != nil && n.TolerationSeconds != nil && *n.TolerationSeconds <= *o.TolerationSeconds) ||
					(o.Effect == corev1.TaintEffectNoExecute && o.TolerationSeconds == nil && n.TolerationSeconds != nil) {
					found = true
					break
				}
			}
		}
		if !found {
			errs = append(errs, field.Forbidden(path, "existing toleration can not be modified except its tolerationSeconds"))
			break
		}
	}
	return errs
}

// validateGatesRemovedOnly: scheduling gates can only be removed.
func validateGatesRemovedOnly(gates, old []corev1.PodSchedulingGate, path *field.Path) field.ErrorList {
	for _, g := range gates {
		if !contains(old, g) {
			return field.ErrorList{field.Forbidden(path, "only deletion is allowed, but found new scheduling gate '"+g.Name+"'")}
		}
	}
	return nil
}

// specDiff renders the top-level fields that differ (those of embedded
// structs included), a short stand-in for the cmp diff upstream appends.
func specDiff(old, cur any) string {
	ov, nv := reflect.ValueOf(old).Elem(), reflect.ValueOf(cur).Elem()
	var b strings.Builder
	fmt.Fprintf(&b, "  %s{\n", ov.Type().String())
	writeFieldDiff(&b, ov, nv)
	b.WriteString("  }\n")
	return b.String()
}

func writeFieldDiff(b *strings.Builder, ov, nv reflect.Value) {
	t := ov.Type()
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.Anonymous && f.Type.Kind() == reflect.Struct {
			writeFieldDiff(b, ov.Field(i), nv.Field(i))
			continue
		}
		a, c := ov.Field(i).Interface(), nv.Field(i).Interface()
		if apiequality.Semantic.DeepEqual(a, c) {
			continue
		}
		fmt.Fprintf(b, "- \t%s: %s,\n+ \t%s: %s,\n", t.Field(i).Name, compactJSON(a), t.Field(i).Name, compactJSON(c))
	}
}

func compactJSON(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(data)
}

// validatePodStatusUpdate keeps to sanity checks: nodeName cannot move via
// status and container statuses need names and sane counters.
func validatePodStatusUpdate(pod, old *corev1.Pod) field.ErrorList {
	var errs field.ErrorList
	st := field.NewPath("status")
	if pod.Spec.NodeName != old.Spec.NodeName {
		errs = append(errs, field.Forbidden(specPath.Child("nodeName"), "may not be changed directly"))
	}
	errs = append(errs, validateContainerStatuses(pod.Status.ContainerStatuses, st.Child("containerStatuses"))...)
	errs = append(errs, validateContainerStatuses(pod.Status.InitContainerStatuses, st.Child("initContainerStatuses"))...)
	errs = append(errs, validateContainerStatuses(pod.Status.EphemeralContainerStatuses, st.Child("ephemeralContainerStatuses"))...)
	if pod.Status.PodIP != "" {
		errs = append(errs, utilvalidation.IsValidIP(st.Child("podIP"), pod.Status.PodIP)...)
	}
	for i, ip := range pod.Status.PodIPs {
		errs = append(errs, utilvalidation.IsValidIP(st.Child("podIPs").Index(i).Child("ip"), ip.IP)...)
	}
	if pod.Status.HostIP != "" {
		errs = append(errs, utilvalidation.IsValidIP(st.Child("hostIP"), pod.Status.HostIP)...)
	}
	return errs
}

func validateContainerStatuses(list []corev1.ContainerStatus, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, s := range list {
		idx := path.Index(i)
		if s.Name == "" {
			errs = append(errs, field.Required(idx.Child("name"), ""))
		} else {
			errs = append(errs, validateDNS1123Label(s.Name, idx.Child("name"))...)
		}
		errs = append(errs, validateNonnegative(int64(s.RestartCount), idx.Child("restartCount"))...)
	}
	return errs
}
