package garbagecollector

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	fakediscovery "k8s.io/client-go/discovery/fake"
	fakemetadata "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
)

// TestDependentGoneWithoutEvent checks that an owner deleted in Foreground
// is released when a dependent the graph still holds turns out to be gone
// although its deletion event never came, as when the monitor that watched
// it was stopped before the object was deleted.
func TestDependentGoneWithoutEvent(t *testing.T) {
	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	cmInfo := resourceInfo{gvr: cmGVR, kind: "ConfigMap", namespaced: true}
	widgetInfo := resourceInfo{gvr: schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}, kind: "Widget", namespaced: true}
	now := metav1.Now()
	owner := &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "owner", Namespace: "ns", UID: "owner", ResourceVersion: "7",
			DeletionTimestamp: &now, Finalizers: []string{metav1.FinalizerDeleteDependents},
		},
	}
	block := true
	// The widget was deleted; only the graph still has it.
	widget := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Name: "w", Namespace: "ns", UID: "w",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: "owner", BlockOwnerDeletion: &block}},
	}}
	scheme := fakemetadata.NewTestScheme()
	scheme.AddKnownTypeWithName(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, &metav1.PartialObjectMetadata{})
	md := fakemetadata.NewSimpleMetadataClient(scheme, owner)
	disc := &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}}
	c := New(md, disc, Config{}, slog.New(slog.DiscardHandler))
	defer c.deleteQueue.ShutDown()
	defer c.orphanQueue.ShutDown()

	c.observe(widgetInfo, widget)
	c.observe(cmInfo, owner)

	// Work the queue as the workers do, until nothing is left.
	ctx := context.Background()
	for c.deleteQueue.Len() > 0 {
		uid, _ := c.deleteQueue.Get()
		if err := c.attemptToDelete(ctx, uid); err != nil {
			t.Fatalf("attempt to delete %s: %v", uid, err)
		}
		c.deleteQueue.Done(uid)
	}

	if _, ok := c.view("w"); ok {
		t.Error("the graph keeps the widget that is gone")
	}
	released := false
	for _, a := range md.Actions() {
		p, ok := a.(clienttesting.PatchAction)
		if !ok || p.GetResource() != cmGVR || p.GetName() != "owner" || p.GetPatchType() != types.MergePatchType {
			continue
		}
		var patch metaPatch
		if err := json.Unmarshal(p.GetPatch(), &patch); err != nil {
			t.Fatal(err)
		}
		if f := patch.Metadata.Finalizers; f != nil && len(*f) == 0 {
			released = true
		}
	}
	if !released {
		t.Fatalf("owner kept %s; actions: %v", metav1.FinalizerDeleteDependents, md.Actions())
	}
}
