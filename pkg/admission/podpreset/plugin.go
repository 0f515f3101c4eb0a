package podpreset

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/tools/record"

	settingsv1alpha1 "github.com/flotilla-io/flotilla/pkg/apis/settings/v1alpha1"
)

// PluginName is the plugin's name in the admission chain, as upstream's.
const PluginName = "PodPreset"

const (
	annotationPrefix = "podpreset.admission.kubernetes.io"
	// ExcludeAnnotation set to "true" on a pod opts it out of every preset.
	ExcludeAnnotation = annotationPrefix + "/exclude"
	// AppliedAnnotationPrefix + a preset's name records, with the preset's
	// resourceVersion as value, that the preset was applied.
	AppliedAnnotationPrefix = annotationPrefix + "/podpreset-"
	// EventReason is the reason of the Warning event a conflict raises.
	EventReason = "PodPreset"
)

// Presets lists the PodPresets of a namespace; in the server, a lister
// on a shared informer. The plugin never modifies what it returns.
type Presets interface {
	List(namespace string) ([]*settingsv1alpha1.PodPreset, error)
}

// Plugin is the PodPreset mutating admission plugin.
type Plugin struct {
	*admission.Handler
	presets Presets
	events  record.EventRecorder
	log     *slog.Logger
}

var _ admission.MutationInterface = (*Plugin)(nil)

// New returns the plugin reading presets from presets and reporting
// conflicts through events. ready, when not nil, is the informer's
// HasSynced: until it reports true the plugin refuses pods, as upstream's
// admission handlers do, rather than admit them without their presets.
func New(presets Presets, events record.EventRecorder, ready func() bool, log *slog.Logger) *Plugin {
	p := &Plugin{Handler: admission.NewHandler(admission.Create), presets: presets, events: events, log: log}
	if ready != nil {
		p.SetReadyFunc(ready)
	}
	return p
}

// Admit applies the matching presets to a pod being created.
func (p *Plugin) Admit(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetSubresource() != "" || a.GetResource().GroupResource() != corev1.Resource("pods") || a.GetOperation() != admission.Create {
		return nil
	}
	pod, ok := a.GetObject().(*corev1.Pod)
	if !ok {
		return apierrors.NewBadRequest("Resource was marked with kind Pod but was unable to be converted")
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return nil
	}
	if pod.Annotations[ExcludeAnnotation] == "true" {
		return nil
	}
	if !p.WaitForReady() {
		return admission.NewForbidden(a, fmt.Errorf("not yet ready to handle request"))
	}
	list, err := p.presets.List(a.GetNamespace())
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("listing pod presets failed: %w", err))
	}
	matching, err := matchingPresets(list, pod)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("filtering pod presets failed: %w", err))
	}
	if len(matching) == 0 {
		return nil
	}
	names := make([]string, len(matching))
	for i, pp := range matching {
		names[i] = pp.Name
	}
	merged, err := merge(pod, matching)
	if err != nil {
		msg := fmt.Sprintf("conflict occurred while applying podpresets: %s on pod: %v err: %v", strings.Join(names, ","), podName(pod), err)
		if !a.IsDryRun() { // a dry run has no side effects
			p.recordConflict(pod, msg)
		}
		p.log.WarnContext(ctx, "pod presets not applied", "pod", podName(pod), "ns", pod.Namespace, "presets", names, "err", err)
		return nil
	}
	*pod = *merged
	p.log.DebugContext(ctx, "pod presets applied", "pod", podName(pod), "ns", pod.Namespace, "presets", names)
	return nil
}

// matchingPresets are the presets whose selector matches the pod, by
// name so the injected lists come out in the same order every time.
func matchingPresets(list []*settingsv1alpha1.PodPreset, pod *corev1.Pod) ([]*settingsv1alpha1.PodPreset, error) {
	var out []*settingsv1alpha1.PodPreset
	for _, pp := range list {
		sel, err := metav1.LabelSelectorAsSelector(&pp.Spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("label selector conversion failed: %v for selector: %w", pp.Spec.Selector, err)
		}
		if sel.Matches(labels.Set(pod.Labels)) {
			out = append(out, pp)
		}
	}
	slices.SortFunc(out, func(a, b *settingsv1alpha1.PodPreset) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// podName names the pod in messages: its name, else the prefix it is to
// be named from.
func podName(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	return pod.GenerateName
}

// recordConflict raises the Warning on the pod, which does not exist yet
// (admission runs before it is stored; the event names it all the same,
// as upstream's did, with the UID it is given if it has one so that
// `kubectl describe pod` shows it), and on its controller, where whoever
// created the pod will look.
func (p *Plugin) recordConflict(pod *corev1.Pod, msg string) {
	if p.events == nil {
		return
	}
	p.events.Event(&corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID}, corev1.EventTypeWarning, EventReason, msg)
	if ref := metav1.GetControllerOf(pod); ref != nil {
		p.events.Event(&corev1.ObjectReference{Kind: ref.Kind, APIVersion: ref.APIVersion, Name: ref.Name, UID: ref.UID, Namespace: pod.Namespace}, corev1.EventTypeWarning, EventReason, msg)
	}
}
