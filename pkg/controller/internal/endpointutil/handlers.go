package endpointutil

import (
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// SliceHandlers are the EndpointSlice informer handlers of both slice
// controllers: an event queues the key of the slice's Service when the
// slice is one the controller manages (managed) and the tracker did not
// expect the change (the controller's own writes are skipped); a slice
// moved to another Service queues both, and a slice that stopped or
// started being managed queues its Service.
func SliceHandlers(managed func(*discoveryv1.EndpointSlice) bool, tracker *SliceTracker, enqueue func(key string)) cache.ResourceEventHandlerFuncs {
	queue := func(s *discoveryv1.EndpointSlice) {
		if key := ServiceKeyOfSlice(s); key != "" {
			enqueue(key)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if s := SliceFromObject(obj); s != nil && managed(s) && tracker.ShouldSync(s) {
				queue(s)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, cur := SliceFromObject(oldObj), SliceFromObject(newObj)
			if old == nil || cur == nil {
				return
			}
			if old.Labels[discoveryv1.LabelServiceName] != cur.Labels[discoveryv1.LabelServiceName] {
				queue(cur)
				queue(old)
				return
			}
			if managed(old) != managed(cur) || (managed(cur) && tracker.ShouldSync(cur)) {
				queue(cur)
			}
		},
		DeleteFunc: func(obj any) {
			s := SliceFromObject(obj)
			if s != nil && managed(s) && tracker.Has(s) && !tracker.HandleDeletion(s) {
				queue(s)
			}
		},
	}
}
