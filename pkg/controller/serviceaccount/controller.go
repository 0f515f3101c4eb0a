// Package serviceaccount keeps in every active namespace what pods use to
// reach the API: the `default` ServiceAccount and the `kube-root-ca.crt`
// ConfigMap with the cluster CA, recreating them when they are deleted, as
// upstream's serviceaccount and root-CA publisher controllers do.
package serviceaccount

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/flotilla-io/flotilla/pkg/controller/worker"
)

// RootCAConfigMap is the ConfigMap every namespace gets, holding ca.crt.
const RootCAConfigMap = "kube-root-ca.crt"

// Controller reconciles namespaces.
type Controller struct {
	client     kubernetes.Interface
	namespaces listersv1.NamespaceLister
	accounts   listersv1.ServiceAccountLister
	configMaps listersv1.ConfigMapLister
	synced     []cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string]
	caPEM      string
	log        *slog.Logger
}

// New builds the controller on a shared informer factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, caPEM []byte, log *slog.Logger) *Controller {
	ns, sa, cm := factory.Core().V1().Namespaces(), factory.Core().V1().ServiceAccounts(), factory.Core().V1().ConfigMaps()
	c := &Controller{
		client: client, namespaces: ns.Lister(), accounts: sa.Lister(), configMaps: cm.Lister(),
		synced: []cache.InformerSynced{ns.Informer().HasSynced, sa.Informer().HasSynced, cm.Informer().HasSynced},
		queue:  workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "serviceaccount"}),
		caPEM:  string(caPEM),
		log:    log.With("controller", "serviceaccount"),
	}
	byNamespace := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if m, ok := obj.(metav1.Object); ok {
			ns := m.GetNamespace()
			if ns == "" {
				ns = m.GetName() // the namespace itself
			}
			c.queue.Add(ns)
		}
	}
	handler := cache.ResourceEventHandlerFuncs{AddFunc: byNamespace, UpdateFunc: func(_, n any) { byNamespace(n) }, DeleteFunc: byNamespace}
	_, _ = ns.Informer().AddEventHandler(handler)
	_, _ = sa.Informer().AddEventHandler(handler)
	_, _ = cm.Informer().AddEventHandler(handler)
	return c
}

// Run works the queue until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	worker.Run(ctx, c.queue, workers, c.sync, c.log)
}

func (c *Controller) sync(ctx context.Context, name string) error {
	ns, err := c.namespaces.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating {
		return nil
	}
	if _, err := c.accounts.ServiceAccounts(name).Get("default"); apierrors.IsNotFound(err) {
		_, err := c.client.CoreV1().ServiceAccounts(name).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{FieldManager: "flotilla-serviceaccount"})
		if err != nil && !apierrors.IsAlreadyExists(err) && !isTerminating(err) {
			return fmt.Errorf("create default service account: %w", err)
		}
	}
	cm, err := c.configMaps.ConfigMaps(name).Get(RootCAConfigMap)
	switch {
	case apierrors.IsNotFound(err):
		_, err := c.client.CoreV1().ConfigMaps(name).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: RootCAConfigMap, Annotations: map[string]string{"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
			Data:       map[string]string{"ca.crt": c.caPEM},
		}, metav1.CreateOptions{FieldManager: "flotilla-root-ca-publisher"})
		if err != nil && !apierrors.IsAlreadyExists(err) && !isTerminating(err) {
			return fmt.Errorf("create %s: %w", RootCAConfigMap, err)
		}
	case err == nil && cm.Data["ca.crt"] != c.caPEM:
		fresh := cm.DeepCopy()
		fresh.Data = map[string]string{"ca.crt": c.caPEM}
		if _, err := c.client.CoreV1().ConfigMaps(name).Update(ctx, fresh, metav1.UpdateOptions{FieldManager: "flotilla-root-ca-publisher"}); err != nil && !apierrors.IsConflict(err) {
			return fmt.Errorf("update %s: %w", RootCAConfigMap, err)
		}
	}
	return nil
}

// isTerminating recognises the refusal to create in a namespace being
// deleted: nothing to do there.
func isTerminating(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsNotFound(err)
}
