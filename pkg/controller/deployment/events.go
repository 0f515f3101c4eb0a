package deployment

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// eventTimeout bounds an event write: losing an event is better than
// holding up a rollout.
const eventTimeout = 5 * time.Second

// event records an Event on d; a failure only costs the Event.
func (c *Controller) event(ctx context.Context, d *appsv1.Deployment, typ, reason, message string) {
	ctx, cancel := context.WithTimeout(ctx, eventTimeout)
	defer cancel()
	now := metav1.NewTime(c.now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", d.Name, now.UnixNano()), Namespace: d.Namespace},
		InvolvedObject: corev1.ObjectReference{
			Kind: controllerKind.Kind, APIVersion: controllerKind.GroupVersion().String(),
			Namespace: d.Namespace, Name: d.Name, UID: d.UID, ResourceVersion: d.ResourceVersion,
		},
		Reason: reason, Message: message, Type: typ,
		Source:         corev1.EventSource{Component: component},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}
	if _, err := c.client.CoreV1().Events(d.Namespace).Create(ctx, ev, metav1.CreateOptions{FieldManager: fieldManager}); err != nil && ctx.Err() == nil {
		c.log.Warn("record event", "deployment", d.Namespace+"/"+d.Name, "reason", reason, "err", err)
	}
}

func keyOf(d *appsv1.Deployment) (string, error) { return cache.MetaNamespaceKeyFunc(d) }
