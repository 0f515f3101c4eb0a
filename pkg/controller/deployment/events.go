package deployment

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/tools/cache"
)

// event records an Event on d; a failure only costs the Event.
func (c *Controller) event(_ context.Context, d *appsv1.Deployment, typ, reason, message string) {
	c.recorder.Event(d, typ, reason, message)
}

func keyOf(d *appsv1.Deployment) (string, error) { return cache.MetaNamespaceKeyFunc(d) }
