package garbagecollector

import (
	"context"
	"log/slog"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	fakediscovery "k8s.io/client-go/discovery/fake"
	fakemetadata "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
)

var (
	configMaps = &metav1.APIResourceList{GroupVersion: "v1", APIResources: []metav1.APIResource{
		{Name: "configmaps", Kind: "ConfigMap", Namespaced: true, Verbs: metav1.Verbs{"list", "watch", "delete", "get"}},
		{Name: "bindings", Kind: "Binding", Namespaced: true, Verbs: metav1.Verbs{"create"}},
		{Name: "pods/status", Kind: "Pod", Namespaced: true, Verbs: metav1.Verbs{"get", "patch"}},
	}}
	widgets = &metav1.APIResourceList{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{
		{Name: "widgets", Kind: "Widget", Namespaced: false, Verbs: metav1.Verbs{"list", "watch", "delete", "get"}},
	}}
)

// TestRediscover checks that resources appearing and disappearing are
// watched and forgotten, and that references to a kind that becomes
// served are looked at again.
func TestRediscover(t *testing.T) {
	disc := &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}}
	disc.Resources = []*metav1.APIResourceList{configMaps}
	c := New(fakemetadata.NewSimpleMetadataClient(fakemetadata.NewTestScheme()), disc, Config{}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		c.wg.Wait()
		c.deleteQueue.ShutDown()
		c.orphanQueue.ShutDown()
	}()
	watched := func() map[schema.GroupVersionResource]bool {
		c.monMu.Lock()
		defer c.monMu.Unlock()
		out := map[schema.GroupVersionResource]bool{}
		for gvr := range c.monitors {
			out[gvr] = true
		}
		return out
	}
	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	widgetGVR := schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}

	if err := c.rediscover(ctx); err != nil {
		t.Fatal(err)
	}
	if w := watched(); len(w) != 1 || !w[cmGVR] {
		t.Fatalf("watched %v, want only configmaps", w)
	}
	if _, ok := c.mapper.Load().resolve("example.com/v1", "Widget"); ok {
		t.Fatal("Widget resolves before it is served")
	}

	// A dependent with an owner of a kind not served yet.
	dep := types.UID("dep")
	c.observe(resourceInfo{gvr: cmGVR, kind: "ConfigMap", namespaced: true}, &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Name: "dep", Namespace: "ns", UID: dep,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "example.com/v1", Kind: "Widget", Name: "w", UID: "w"}},
	}})
	if uid, _ := c.deleteQueue.Get(); uid != dep {
		t.Fatalf("queued %q, want the dependent of an unseen owner", uid)
	}
	c.deleteQueue.Done(dep)
	c.markUnresolved(dep)

	disc.Resources = []*metav1.APIResourceList{configMaps, widgets}
	if err := c.rediscover(ctx); err != nil {
		t.Fatal(err)
	}
	if w := watched(); len(w) != 2 || !w[widgetGVR] {
		t.Fatalf("watched %v, want configmaps and widgets", w)
	}
	info, ok := c.mapper.Load().resolve("example.com/v1", "Widget")
	if !ok || info.gvr != widgetGVR || info.namespaced {
		t.Fatalf("Widget resolves to %+v, %v", info, ok)
	}
	if c.deleteQueue.Len() != 1 {
		t.Fatalf("queue holds %d, want the unresolved dependent again", c.deleteQueue.Len())
	}

	disc.Resources = []*metav1.APIResourceList{configMaps}
	if err := c.rediscover(ctx); err != nil {
		t.Fatal(err)
	}
	if w := watched(); len(w) != 1 || w[widgetGVR] {
		t.Fatalf("watched %v after widgets went away", w)
	}
}
