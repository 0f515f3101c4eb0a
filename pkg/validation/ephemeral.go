package validation

import (
	"fmt"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ephemeralFieldsAllowed are the fields of an ephemeral container that may
// be set, by Go field name. Everything else (ports, probes, resources,
// lifecycle, restart and resize policies, and fields added to the API
// later) is forbidden, as upstream forbids them: an ephemeral container is
// a debugging aid, not part of the workload, and the pod's resources are
// settled.
var ephemeralFieldsAllowed = sets.New(
	"Name", "Image", "Command", "Args", "WorkingDir", "EnvFrom", "Env",
	"VolumeMounts", "VolumeDevices", "TerminationMessagePath", "TerminationMessagePolicy",
	"ImagePullPolicy", "SecurityContext", "Stdin", "StdinOnce", "TTY",
)

// validateEphemeralContainers checks spec.ephemeralContainers: the rules
// of every container, a name unique among all the pod's containers (names
// already holds the others'), a targetContainerName naming an init or app
// container, only the allowed fields, and no subPath mounts (a subPath is
// a bind mount that would outlive the container until the pod goes).
func validateEphemeralContainers(spec *corev1.PodSpec, volumes, names sets.Set[string], path *field.Path) field.ErrorList {
	var errs field.ErrorList
	targets := sets.New[string]()
	for _, l := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
		for _, c := range l {
			targets.Insert(c.Name)
		}
	}
	for i := range spec.EphemeralContainers {
		ec := &spec.EphemeralContainers[i]
		idx := path.Index(i)
		errs = append(errs, validateContainerCommon((*corev1.Container)(&ec.EphemeralContainerCommon), volumes, names, idx)...)
		if ec.TargetContainerName != "" && !targets.Has(ec.TargetContainerName) {
			errs = append(errs, field.NotFound(idx.Child("targetContainerName"), ec.TargetContainerName))
		}
		errs = append(errs, forbiddenEphemeralFields(&ec.EphemeralContainerCommon, idx)...)
		for j, m := range ec.VolumeMounts {
			if m.SubPath != "" {
				errs = append(errs, field.Forbidden(idx.Child("volumeMounts").Index(j).Child("subPath"), "cannot be set for an Ephemeral Container"))
			}
			if m.SubPathExpr != "" {
				errs = append(errs, field.Forbidden(idx.Child("volumeMounts").Index(j).Child("subPathExpr"), "cannot be set for an Ephemeral Container"))
			}
		}
	}
	return errs
}

// forbiddenEphemeralFields reports every field outside
// ephemeralFieldsAllowed that holds something, at its JSON name.
func forbiddenEphemeralFields(c *corev1.EphemeralContainerCommon, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if ephemeralFieldsAllowed.Has(f.Name) || v.Field(i).IsZero() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		errs = append(errs, field.Forbidden(path.Child(name), "cannot be set for an Ephemeral Container"))
	}
	return errs
}

// validatePodEphemeralContainersUpdate validates a write through
// pods/NAME/ephemeralcontainers, which changes nothing but
// spec.ephemeralContainers: the pod as a whole must stay valid, a static
// pod's mirror takes none, and the ephemeral containers already there may
// be neither removed nor changed (matched by name: a patch may reorder).
func validatePodEphemeralContainersUpdate(pod, old *corev1.Pod) field.ErrorList {
	if _, mirror := old.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return field.ErrorList{field.Forbidden(field.NewPath(""), "static pods do not support ephemeral containers")}
	}
	errs := validatePodSpec(&pod.Spec, specPath)
	byName := make(map[string]*corev1.EphemeralContainer, len(pod.Spec.EphemeralContainers))
	for i := range pod.Spec.EphemeralContainers {
		byName[pod.Spec.EphemeralContainers[i].Name] = &pod.Spec.EphemeralContainers[i]
	}
	path := specPath.Child("ephemeralContainers")
	for _, o := range old.Spec.EphemeralContainers {
		n, ok := byName[o.Name]
		switch {
		case !ok:
			errs = append(errs, field.Forbidden(path, fmt.Sprintf("existing ephemeral containers %q may not be removed\n", o.Name)))
		case !apiequality.Semantic.DeepEqual(o, *n):
			errs = append(errs, field.Forbidden(path, fmt.Sprintf("existing ephemeral containers %q may not be changed\n%s", o.Name, specDiff(&o, n))))
		}
	}
	return errs
}
