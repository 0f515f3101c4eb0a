package nodepassword

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

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

// DefaultRegistrationGrace is how long a password Secret may exist
// without its Node before the start-up sweep frees it: a joined machine
// registers its Node within seconds.
const DefaultRegistrationGrace = 2 * time.Minute

// Controller frees the names of deleted nodes.
type Controller struct {
	client kubernetes.Interface
	nodes  listersv1.NodeLister
	synced cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
	log    *slog.Logger
	grace  time.Duration
	now    func() time.Time

	mu sync.Mutex
	// deleted holds the creation time of each Node seen deleted: a
	// password Secret created no later than that belonged to it.
	deleted map[string]time.Time
}

// New builds the controller on a shared informer factory. grace is the
// registration grace period (0 = DefaultRegistrationGrace).
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, grace time.Duration, log *slog.Logger) *Controller {
	if grace <= 0 {
		grace = DefaultRegistrationGrace
	}
	nodes := factory.Core().V1().Nodes()
	c := &Controller{
		client: client, nodes: nodes.Lister(), synced: nodes.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodepassword"}),
		log:   log.With("controller", "nodepassword"),
		grace: grace, now: time.Now,
		deleted: map[string]time.Time{},
	}
	_, _ = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if n, ok := obj.(*corev1.Node); ok {
			c.mu.Lock()
			c.deleted[n.Name] = n.CreationTimestamp.Time
			c.mu.Unlock()
			c.queue.Add(n.Name)
		}
	}})
	return c
}

// Run sweeps the password Secrets once, then works the queue until ctx
// ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return
	}
	if err := c.sweep(ctx); err != nil {
		// Not fatal: Node deletions seen from now on are still handled.
		c.log.Error("sweep of node password secrets", "err", err)
	}
	worker.Run(ctx, c.queue, workers, c.sync, c.log)
}

// sweep queues the node of every password Secret that has no Node.
func (c *Controller) sweep(ctx context.Context) error {
	list, err := c.client.CoreV1().Secrets(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list %s secrets: %w", metav1.NamespaceSystem, err)
	}
	for i := range list.Items {
		if node, ok := join.PasswordSecretNode(list.Items[i].Name); ok {
			if _, err := c.nodes.Get(node); apierrors.IsNotFound(err) {
				c.queue.Add(node)
			}
		}
	}
	return nil
}

// sync deletes the password Secret of a node that is gone, unless a Node
// of that name exists again (the same machine registered anew) or the
// Secret may belong to a machine that joined but has not registered yet.
func (c *Controller) sync(ctx context.Context, node string) error {
	if _, err := c.nodes.Get(node); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	secrets := c.client.CoreV1().Secrets(metav1.NamespaceSystem)
	name := join.PasswordSecretName(node)
	s, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("get %s/%s: %w", metav1.NamespaceSystem, name, err)
	}
	created := s.CreationTimestamp.Time
	c.mu.Lock()
	nodeCreated, seen := c.deleted[node]
	c.mu.Unlock()
	// Timestamps have second resolution: a Secret written in the same
	// second as the deleted Node counts as that Node's.
	ofDeletedNode := seen && !created.After(nodeCreated)
	if age := c.now().Sub(created); !ofDeletedNode && age < c.grace {
		c.queue.AddAfter(node, c.grace-age)
		return nil
	}
	err = secrets.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
	switch {
	case err == nil:
		c.mu.Lock()
		delete(c.deleted, node)
		c.mu.Unlock()
		c.log.Info("deleted the password secret of a deleted node", "node", node, "secret", name)
	case apierrors.IsNotFound(err):
	case apierrors.IsConflict(err):
		c.queue.Add(node) // replaced by a new join meanwhile: look again
	default:
		return fmt.Errorf("delete %s/%s: %w", metav1.NamespaceSystem, name, err)
	}
	return nil
}
