package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/flotilla-io/flotilla/pkg/flowcontrol"
	"github.com/flotilla-io/flotilla/pkg/openapi"
	"github.com/flotilla-io/flotilla/pkg/registry"
)

// builtinNamespaces exist in every cluster.
var builtinNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// bootstrap creates the built-in objects through the API, retrying until
// the server answers.
func bootstrap(ctx context.Context, cs kubernetes.Interface, apiPort int, log *slog.Logger) error {
	for _, name := range builtinNamespaces {
		for {
			_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{FieldManager: "flotilla-bootstrap"})
			if err == nil || apierrors.IsAlreadyExists(err) {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			log.Debug("bootstrap retry", "ns", name, "err", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: registry.KubernetesServiceIP.String(),
			Ports:     []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(int32(apiPort))}},
		},
	}
	if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{FieldManager: "flotilla-bootstrap"}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("kubernetes service: %w", err)
	}
	for _, pc := range systemPriorityClasses {
		if _, err := cs.SchedulingV1().PriorityClasses().Create(ctx, pc, metav1.CreateOptions{FieldManager: "flotilla-bootstrap"}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("priority class %s: %w", pc.Name, err)
		}
	}
	return bootstrapFlowControl(ctx, cs)
}

// apfFieldManager is the manager upstream's servers create the API
// Priority and Fairness objects with.
const apfFieldManager = "api-priority-and-fairness-config-producer-v1"

// bootstrapFlowControl creates the mandatory and suggested priority
// levels and flow schemas that are missing, as upstream's servers do at
// start; existing ones (perhaps changed by an admin) are left alone.
func bootstrapFlowControl(ctx context.Context, cs kubernetes.Interface) error {
	opts := metav1.CreateOptions{FieldManager: apfFieldManager}
	for _, pl := range append(flowcontrol.MandatoryPriorityLevels(), flowcontrol.SuggestedPriorityLevels()...) {
		if _, err := cs.FlowcontrolV1().PriorityLevelConfigurations().Create(ctx, pl, opts); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("priority level %s: %w", pl.Name, err)
		}
	}
	for _, fs := range append(flowcontrol.MandatoryFlowSchemas(), flowcontrol.SuggestedFlowSchemas()...) {
		if _, err := cs.FlowcontrolV1().FlowSchemas().Create(ctx, fs, opts); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("flow schema %s: %w", fs.Name, err)
		}
	}
	return nil
}

// systemPriorityClasses are upstream's two built-in classes, for the
// cluster's own critical pods.
var systemPriorityClasses = []*schedulingv1.PriorityClass{
	{ObjectMeta: metav1.ObjectMeta{Name: "system-node-critical"}, Value: 2000001000, Description: "Used for system critical pods that must not be moved from their current node."},
	{ObjectMeta: metav1.ObjectMeta{Name: "system-cluster-critical"}, Value: 2000000000, Description: "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."},
}

// openapiResources describes the served resources for the OpenAPI
// generator.
func openapiResources(resources []*registry.Resource) []openapi.Resource {
	out := make([]openapi.Resource, 0, len(resources))
	for _, r := range resources {
		or := openapi.Resource{
			GVK:        r.GVK(),
			Plural:     r.Plural,
			Namespaced: r.Namespaced,
			Verbs:      registry.VerbsAll,
			Object:     r.New(),
			ListObject: r.NewList(),
		}
		for _, sub := range r.Subresources {
			proto := r.New()
			if sub.Kind != r.GVK() {
				obj, err := scheme.Scheme.New(sub.Kind)
				if err != nil {
					continue // connect-only options kinds have no body schema
				}
				proto = obj
			}
			or.Subresources = append(or.Subresources, openapi.Subresource{Name: sub.Name, GVK: sub.Kind, Object: proto, Verbs: sub.Verbs})
		}
		out = append(out, or)
	}
	return out
}
