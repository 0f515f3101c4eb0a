// Package flowschema keeps each FlowSchema's Dangling condition, as
// upstream's API servers do: True (reason NotFound) while the
// PriorityLevelConfiguration it names does not exist, False (reason
// Found) once it does. The mandatory levels (exempt, catch-all) always
// count as existing: servers recreate them. The condition is written by
// server-side apply of the status, under upstream's field manager, so
// conditions others set are kept.
package flowschema

import (
	"context"
	"fmt"
	"log/slog"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	flowcontrolapply "k8s.io/client-go/applyconfigurations/flowcontrol/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	flowcontrollisters "k8s.io/client-go/listers/flowcontrol/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/flotilla-io/flotilla/pkg/controller/worker"
)

// FieldManager is the manager upstream's servers write the condition as.
const FieldManager = "api-priority-and-fairness-config-consumer-v1"

// Controller maintains the Dangling condition of FlowSchemas.
type Controller struct {
	client  kubernetes.Interface
	schemas flowcontrollisters.FlowSchemaLister
	levels  flowcontrollisters.PriorityLevelConfigurationLister
	synced  []cache.InformerSynced
	queue   workqueue.TypedRateLimitingInterface[string]
	log     *slog.Logger
}

// New builds the controller on a shared informer factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	fs, pl := factory.Flowcontrol().V1().FlowSchemas(), factory.Flowcontrol().V1().PriorityLevelConfigurations()
	c := &Controller{
		client: client, schemas: fs.Lister(), levels: pl.Lister(),
		synced: []cache.InformerSynced{fs.Informer().HasSynced, pl.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "flowschema"}),
		log: log.With("controller", "flowschema"),
	}
	enqueue := func(obj any) {
		if s, ok := obj.(*flowcontrolv1.FlowSchema); ok {
			c.queue.Add(s.Name)
		}
	}
	_, _ = fs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, n any) { enqueue(n) }})
	// A level coming or going changes the schemas that name it.
	levelChanged := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		l, ok := obj.(*flowcontrolv1.PriorityLevelConfiguration)
		if !ok {
			return
		}
		all, _ := c.schemas.List(labels.Everything())
		for _, s := range all {
			if s.Spec.PriorityLevelConfiguration.Name == l.Name {
				c.queue.Add(s.Name)
			}
		}
	}
	_, _ = pl.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: levelChanged, DeleteFunc: levelChanged})
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

// Dangling returns the condition a schema should carry given whether the
// level it names exists.
func Dangling(level string, exists bool) flowcontrolv1.FlowSchemaCondition {
	if exists {
		return flowcontrolv1.FlowSchemaCondition{Type: flowcontrolv1.FlowSchemaConditionDangling, Status: flowcontrolv1.ConditionFalse, Reason: "Found",
			Message: fmt.Sprintf("This FlowSchema references the PriorityLevelConfiguration object named %q and it exists", level)}
	}
	return flowcontrolv1.FlowSchemaCondition{Type: flowcontrolv1.FlowSchemaConditionDangling, Status: flowcontrolv1.ConditionTrue, Reason: "NotFound",
		Message: fmt.Sprintf("This FlowSchema references the PriorityLevelConfiguration object named %q but there is no such object", level)}
}

func (c *Controller) sync(ctx context.Context, name string) error {
	fs, err := c.schemas.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	level := fs.Spec.PriorityLevelConfiguration.Name
	exists := level == flowcontrolv1.PriorityLevelConfigurationNameExempt || level == flowcontrolv1.PriorityLevelConfigurationNameCatchAll
	if !exists {
		_, err := c.levels.Get(level)
		switch {
		case err == nil:
			exists = true
		case !apierrors.IsNotFound(err):
			return err
		}
	}
	want := Dangling(level, exists)
	for _, cond := range fs.Status.Conditions {
		if cond.Type == want.Type && cond.Status == want.Status && cond.Reason == want.Reason && cond.Message == want.Message {
			return nil
		}
	}
	apply := flowcontrolapply.FlowSchema(name).WithStatus(flowcontrolapply.FlowSchemaStatus().WithConditions(
		flowcontrolapply.FlowSchemaCondition().WithType(want.Type).WithStatus(want.Status).WithReason(want.Reason).
			WithMessage(want.Message).WithLastTransitionTime(metav1.Now())))
	_, err = c.client.FlowcontrolV1().FlowSchemas().ApplyStatus(ctx, apply, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
