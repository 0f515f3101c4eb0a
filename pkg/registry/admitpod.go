package registry

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/flotilla-io/flotilla/pkg/storage"
)

// Taint keys the node-lifecycle controller sets on nodes that stop
// reporting or report NotReady.
const (
	TaintNodeNotReady    = "node.kubernetes.io/not-ready"
	TaintNodeUnreachable = "node.kubernetes.io/unreachable"
)

// DefaultTolerationSeconds is how long a pod stays bound to a node that
// is not ready or unreachable before it is evicted, unless it says
// otherwise (upstream's DefaultTolerationSeconds admission).
const DefaultTolerationSeconds int64 = 300

// podAdmission completes a new pod from other objects, as upstream's
// admission plugins do: the priority of its PriorityClass, the image
// pull secrets of its ServiceAccount, and the overhead and scheduling of
// its RuntimeClass. Tolerations for node loss are added too.
type podAdmission struct {
	accounts       *Resource
	classes        *Resource
	runtimeClasses *Resource
}

func (p *podAdmission) admit(ctx context.Context, obj runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	addNodeLossTolerations(pod)
	if err := p.setPriority(ctx, pod); err != nil {
		return err
	}
	account := p.serviceAccount(ctx, pod)
	addPullSecrets(pod, account)
	if automount(pod, account) {
		mountServiceAccount(pod)
	}
	return p.admitRuntimeClass(ctx, pod)
}

// addNodeLossTolerations tolerates not-ready and unreachable nodes for
// DefaultTolerationSeconds unless the pod already tolerates them.
func addNodeLossTolerations(pod *corev1.Pod) {
	tolerates := func(key string) bool {
		for _, t := range pod.Spec.Tolerations {
			if (t.Key == key || (t.Key == "" && t.Operator == corev1.TolerationOpExists)) &&
				(t.Effect == "" || t.Effect == corev1.TaintEffectNoExecute) {
				return true
			}
		}
		return false
	}
	for _, key := range []string{TaintNodeNotReady, TaintNodeUnreachable} {
		if !tolerates(key) {
			secs := DefaultTolerationSeconds
			pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
				Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &secs,
			})
		}
	}
}

// setPriority resolves priorityClassName (or the global default class)
// into spec.priority and preemptionPolicy.
func (p *podAdmission) setPriority(ctx context.Context, pod *corev1.Pod) error {
	var class *schedulingv1.PriorityClass
	if name := pod.Spec.PriorityClassName; name != "" {
		obj, err := p.classes.Store.Get(ctx, p.classes.Store.Key("", name))
		if storage.IsNotFound(err) {
			return apierrors.NewForbidden(corev1.Resource("pods"), pod.Name, fmt.Errorf("no PriorityClass with name %s was found", name))
		}
		if err != nil {
			return err
		}
		class = obj.(*schedulingv1.PriorityClass)
	} else {
		list, err := p.classes.Store.List(ctx, p.classes.Store.Prefix(""), storage.ListOptions{})
		if err != nil {
			return err
		}
		for _, item := range list.Items {
			if pc := item.(*schedulingv1.PriorityClass); pc.GlobalDefault && (class == nil || pc.Value > class.Value) {
				class = pc
			}
		}
	}
	if class == nil {
		if pod.Spec.Priority == nil {
			zero := int32(0)
			pod.Spec.Priority = &zero
		}
		return nil
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != class.Value {
		return apierrors.NewForbidden(corev1.Resource("pods"), pod.Name, fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, class.Value))
	}
	value := class.Value
	pod.Spec.Priority = &value
	pod.Spec.PriorityClassName = class.Name
	if pod.Spec.PreemptionPolicy == nil {
		policy := corev1.PreemptLowerPriority
		if class.PreemptionPolicy != nil {
			policy = *class.PreemptionPolicy
		}
		pod.Spec.PreemptionPolicy = &policy
	}
	return nil
}

// serviceAccount reads the pod's ServiceAccount. A missing account is not
// an error here (nil): the agent reports what the pod then lacks.
func (p *podAdmission) serviceAccount(ctx context.Context, pod *corev1.Pod) *corev1.ServiceAccount {
	if pod.Namespace == "" {
		return nil
	}
	name := pod.Spec.ServiceAccountName
	if name == "" {
		name = "default"
	}
	obj, err := p.accounts.Store.Get(ctx, p.accounts.Store.Key(pod.Namespace, name))
	if err != nil {
		return nil
	}
	return obj.(*corev1.ServiceAccount)
}

// addPullSecrets gives a pod without image pull secrets those of its
// ServiceAccount.
func addPullSecrets(pod *corev1.Pod, account *corev1.ServiceAccount) {
	if len(pod.Spec.ImagePullSecrets) > 0 || account == nil {
		return
	}
	pod.Spec.ImagePullSecrets = append(pod.Spec.ImagePullSecrets, account.ImagePullSecrets...)
}

// automount says whether the pod gets its account's credentials: the
// pod's automountServiceAccountToken decides, else the account's, else
// yes.
func automount(pod *corev1.Pod, account *corev1.ServiceAccount) bool {
	if a := pod.Spec.AutomountServiceAccountToken; a != nil {
		return *a
	}
	if account != nil && account.AutomountServiceAccountToken != nil {
		return *account.AutomountServiceAccountToken
	}
	return true
}
