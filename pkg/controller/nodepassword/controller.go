package nodepassword

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
	"github.com/flotilla-io/flotilla/pkg/join"
)

// Controller frees the names of deleted nodes.
type Controller struct {
	client kubernetes.Interface
	nodes  listersv1.NodeLister
	synced cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
	log    *slog.Logger
}

// New builds the controller on a shared informer factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	nodes := factory.Core().V1().Nodes()
	c := &Controller{
		client: client, nodes: nodes.Lister(), synced: nodes.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodepassword"}),
		log:   log.With("controller", "nodepassword"),
	}
	_, _ = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if n, ok := obj.(*corev1.Node); ok {
			c.queue.Add(n.Name)
		}
	}})
	return c
}

// Run works the queue until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return
	}
	worker.Run(ctx, c.queue, workers, c.sync, c.log)
}

// sync deletes the password Secret of a deleted node, unless a Node of
// that name exists again (the same machine registered anew).
func (c *Controller) sync(ctx context.Context, node string) error {
	if _, err := c.nodes.Get(node); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	name := join.PasswordSecretName(node)
	err := c.client.CoreV1().Secrets(metav1.NamespaceSystem).Delete(ctx, name, metav1.DeleteOptions{})
	switch {
	case err == nil:
		c.log.Info("deleted the password secret of a deleted node", "node", node, "secret", name)
	case apierrors.IsNotFound(err):
	default:
		return fmt.Errorf("delete %s/%s: %w", metav1.NamespaceSystem, name, err)
	}
	return nil
}
