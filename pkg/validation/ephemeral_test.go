package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func debugger(name string) corev1.EphemeralContainer {
	return corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: name, Image: "busybox", Command: []string{"sh"}, Stdin: true, TTY: true,
		ImagePullPolicy: corev1.PullIfNotPresent, TerminationMessagePath: corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}}
}

// withDebugger is the pod after a write through its ephemeralcontainers
// subresource: old with ecs as its ephemeral containers.
func withDebugger(old *corev1.Pod, ecs ...corev1.EphemeralContainer) *corev1.Pod {
	p := old.DeepCopy()
	p.Spec.EphemeralContainers = ecs
	return p
}

func TestEphemeralContainersNotOnCreate(t *testing.T) {
	p := withDebugger(validPod(), debugger("dbg"))
	expectErr(t, ValidateCreate(p), field.ErrorTypeForbidden, "spec.ephemeralContainers", "cannot be set on create")

	d := validDeployment()
	d.Spec.Template.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugger("dbg")}
	expectErr(t, ValidateCreate(d), field.ErrorTypeForbidden, "spec.template.spec.ephemeralContainers", "ephemeral containers not allowed in pod template")
}

func TestEphemeralContainersUpdate(t *testing.T) {
	old := validPod()
	one := withDebugger(old, debugger("dbg"))

	ok := []struct {
		name     string
		old, pod *corev1.Pod
	}{
		{"add the first", old, one},
		{"add another", one, withDebugger(old, debugger("dbg"), debugger("dbg2"))},
		{"reorder", withDebugger(old, debugger("a"), debugger("b")), withDebugger(old, debugger("b"), debugger("a"))},
		{"no change", one, one.DeepCopy()},
		{"target an app container", old, func() *corev1.Pod {
			ec := debugger("dbg")
			ec.TargetContainerName = "web"
			ec.SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_PTRACE"}}}
			ec.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
			return withDebugger(old, ec)
		}()},
		{"target an init container", old, func() *corev1.Pod {
			ec := debugger("dbg")
			ec.TargetContainerName = "init"
			return withDebugger(old, ec)
		}()},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			if errs := ValidateSubresourceUpdate("ephemeralcontainers", tt.pod, tt.old); len(errs) > 0 {
				t.Errorf("unexpected: %s", errText(errs))
			}
		})
	}

	changed := debugger("dbg")
	changed.Image = "busybox:2"
	bad := []struct {
		name     string
		old, pod *corev1.Pod
		typ      field.ErrorType
		path     string
		msg      string
	}{
		{"remove", one, withDebugger(old), field.ErrorTypeForbidden, "spec.ephemeralContainers", `existing ephemeral containers "dbg" may not be removed`},
		{"replace", one, withDebugger(old, debugger("other")), field.ErrorTypeForbidden, "spec.ephemeralContainers", `existing ephemeral containers "dbg" may not be removed`},
		{"change", one, withDebugger(old, changed), field.ErrorTypeForbidden, "spec.ephemeralContainers", `existing ephemeral containers "dbg" may not be changed`},
		{"name of an app container", old, withDebugger(old, debugger("web")), field.ErrorTypeDuplicate, "spec.ephemeralContainers[0].name", `Duplicate value: "web"`},
		{"name of an init container", old, withDebugger(old, debugger("init")), field.ErrorTypeDuplicate, "spec.ephemeralContainers[0].name", `Duplicate value: "init"`},
		{"same name twice", old, withDebugger(old, debugger("dbg"), debugger("dbg")), field.ErrorTypeDuplicate, "spec.ephemeralContainers[1].name", `Duplicate value: "dbg"`},
		{"no name", old, withDebugger(old, debugger("")), field.ErrorTypeRequired, "spec.ephemeralContainers[0].name", "Required value"},
		{"no image", old, func() *corev1.Pod { ec := debugger("dbg"); ec.Image = ""; return withDebugger(old, ec) }(), field.ErrorTypeRequired, "spec.ephemeralContainers[0].image", "Required value"},
		{"unknown target", old, func() *corev1.Pod {
			ec := debugger("dbg")
			ec.TargetContainerName = "nope"
			return withDebugger(old, ec)
		}(), field.ErrorTypeNotFound, "spec.ephemeralContainers[0].targetContainerName", `Not found: "nope"`},
		{"target another ephemeral container", one, func() *corev1.Pod {
			ec := debugger("dbg2")
			ec.TargetContainerName = "dbg"
			return withDebugger(old, debugger("dbg"), ec)
		}(), field.ErrorTypeNotFound, "spec.ephemeralContainers[1].targetContainerName", `Not found: "dbg"`},
		{"unknown volume", old, func() *corev1.Pod {
			ec := debugger("dbg")
			ec.VolumeMounts = []corev1.VolumeMount{{Name: "nope", MountPath: "/x"}}
			return withDebugger(old, ec)
		}(), field.ErrorTypeNotFound, "spec.ephemeralContainers[0].volumeMounts[0].name", `Not found: "nope"`},
		{"subPath", old, func() *corev1.Pod {
			ec := debugger("dbg")
			ec.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/x", SubPath: "a"}}
			return withDebugger(old, ec)
		}(), field.ErrorTypeForbidden, "spec.ephemeralContainers[0].volumeMounts[0].subPath", "cannot be set for an Ephemeral Container"},
		{"static pod", func() *corev1.Pod {
			p := old.DeepCopy()
			p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
			return p
		}(), func() *corev1.Pod {
			p := withDebugger(old, debugger("dbg"))
			p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
			return p
		}(), field.ErrorTypeForbidden, "[]", "static pods do not support ephemeral containers"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			expectErr(t, ValidateSubresourceUpdate("ephemeralcontainers", tt.pod, tt.old), tt.typ, tt.path, tt.msg)
		})
	}

	// The change is shown field by field.
	errs := ValidateSubresourceUpdate("ephemeralcontainers", withDebugger(old, changed), one)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `-`+" \tImage: \"busybox\",\n+ \tImage: \"busybox:2\"") {
		t.Errorf("change not shown: %s", errText(errs))
	}

	// Through the pod itself, ephemeral containers are a forbidden spec
	// change.
	expectErr(t, ValidateUpdate(one, old), field.ErrorTypeForbidden, "spec", "pod updates may not change fields")
}

// Ports, probes, resources, lifecycle and restart or resize policies are
// the workload's; an ephemeral container may set none of them.
func TestEphemeralContainerForbiddenFields(t *testing.T) {
	old := validPod()
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}}, TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
	always := corev1.ContainerRestartPolicyAlways
	for field, set := range map[string]func(ec *corev1.EphemeralContainer){
		"ports": func(ec *corev1.EphemeralContainer) {
			ec.Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}}
		},
		"resources": func(ec *corev1.EphemeralContainer) {
			ec.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
		},
		"livenessProbe":  func(ec *corev1.EphemeralContainer) { ec.LivenessProbe = probe },
		"readinessProbe": func(ec *corev1.EphemeralContainer) { ec.ReadinessProbe = probe },
		"startupProbe":   func(ec *corev1.EphemeralContainer) { ec.StartupProbe = probe },
		"lifecycle": func(ec *corev1.EphemeralContainer) {
			ec.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
		},
		"restartPolicy": func(ec *corev1.EphemeralContainer) { ec.RestartPolicy = &always },
		"resizePolicy": func(ec *corev1.EphemeralContainer) {
			ec.ResizePolicy = []corev1.ContainerResizePolicy{{ResourceName: corev1.ResourceCPU, RestartPolicy: corev1.NotRequired}}
		},
	} {
		t.Run(field, func(t *testing.T) {
			ec := debugger("dbg")
			set(&ec)
			expectErr(t, ValidateSubresourceUpdate("ephemeralcontainers", withDebugger(old, ec), old),
				"FieldValueForbidden", "spec.ephemeralContainers[0]."+field, "cannot be set for an Ephemeral Container")
		})
	}
}
