package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/ingress"
)

// managedByLabel marks the IngressClass the server created, so that
// --disable-ingress removes that one and never a class an admin made.
const (
	managedByLabel = "app.kubernetes.io/managed-by"
	managedBy      = "flotilla"
)

// ingressRun is the leader's "ingress" controller: with the ingress on it
// creates the IngressClass the agents' controllers serve (unless it
// exists: an admin's changes, say no longer the default, are kept) and
// writes the served Ingresses' status; with --disable-ingress it removes
// the class it once created, which makes every agent stop listening.
func ingressRun(cs kubernetes.Interface, factory informers.SharedInformerFactory, cc ControllerConfig, log *slog.Logger) func(context.Context) {
	if cc.DisableIngress {
		return func(ctx context.Context) {
			if err := removeIngressClass(ctx, cs, log); err != nil {
				log.Error("remove the ingress class", "err", err)
			}
		}
	}
	status := ingress.NewStatusController(cs, factory, log)
	return func(ctx context.Context) {
		for {
			err := ensureIngressClass(ctx, cs)
			if err == nil {
				break
			}
			log.Warn("create the ingress class; retrying", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(2 * time.Second):
			}
		}
		status.Run(ctx, 2)
	}
}

// ingressClass is the class the server creates: the cluster's default,
// as k3s makes traefik's.
func ingressClass() *networkingv1.IngressClass {
	return &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        ingress.DefaultClassName,
			Labels:      map[string]string{managedByLabel: managedBy},
			Annotations: map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"},
		},
		Spec: networkingv1.IngressClassSpec{Controller: ingress.ControllerName},
	}
}

func ensureIngressClass(ctx context.Context, cs kubernetes.Interface) error {
	_, err := cs.NetworkingV1().IngressClasses().Create(ctx, ingressClass(), metav1.CreateOptions{FieldManager: "flotilla-bootstrap"})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("ingress class %s: %w", ingress.DefaultClassName, err)
	}
	return nil
}

func removeIngressClass(ctx context.Context, cs kubernetes.Interface, log *slog.Logger) error {
	ic, err := cs.NetworkingV1().IngressClasses().Get(ctx, ingress.DefaultClassName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ingress class %s: %w", ingress.DefaultClassName, err)
	}
	if ic.Labels[managedByLabel] != managedBy {
		return nil // not ours to remove
	}
	err = cs.NetworkingV1().IngressClasses().Delete(ctx, ic.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &ic.UID}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete ingress class %s: %w", ic.Name, err)
	}
	log.Info("ingress disabled: removed the ingress class", "class", ic.Name)
	return nil
}
