package registry

import (
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
)

// EndpointSlices count their changes in metadata.generation as upstream's
// strategy does: 1 at creation, one more for each write that changes
// anything beyond metadata, or the labels. (They have no spec, so the
// generic spec rule does not apply.) The slice controllers compare it
// with the generation they wrote to tell their own writes from others'.
func endpointSliceCreated(obj runtime.Object) {
	obj.(*discoveryv1.EndpointSlice).Generation = 1
}

func endpointSliceUpdated(obj, old runtime.Object) {
	s, o := obj.(*discoveryv1.EndpointSlice), old.(*discoveryv1.EndpointSlice)
	if s.AddressType != o.AddressType || !equality.Semantic.DeepEqual(s.Endpoints, o.Endpoints) ||
		!equality.Semantic.DeepEqual(s.Ports, o.Ports) || !equality.Semantic.DeepEqual(s.Labels, o.Labels) {
		s.Generation = o.Generation + 1
	}
}
