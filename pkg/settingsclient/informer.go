package settingsclient

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/listers"
	"k8s.io/client-go/tools/cache"

	settingsv1alpha1 "github.com/flotilla-io/flotilla/pkg/apis/settings/v1alpha1"
)

// NewPodPresetInformer watches the PodPresets of every namespace, indexed
// by namespace. The caller runs it and stops it.
func NewPodPresetInformer(c *Client, resync time.Duration) cache.SharedIndexInformer {
	all := c.PodPresets(metav1.NamespaceAll)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return all.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return all.Watch(ctx, opts)
		},
	}
	return cache.NewSharedIndexInformer(lw, &settingsv1alpha1.PodPreset{}, resync,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
}

// PodPresetLister reads PodPresets from an informer's cache.
type PodPresetLister struct {
	all listers.ResourceIndexer[*settingsv1alpha1.PodPreset]
}

// NewPodPresetLister reads from the indexer of NewPodPresetInformer.
func NewPodPresetLister(indexer cache.Indexer) PodPresetLister {
	return PodPresetLister{all: listers.New[*settingsv1alpha1.PodPreset](indexer, settingsv1alpha1.Resource("podpreset"))}
}

// List returns the PodPresets of namespace. They are the cache's own
// objects: callers must not modify them.
func (l PodPresetLister) List(namespace string) ([]*settingsv1alpha1.PodPreset, error) {
	return listers.NewNamespaced(l.all, namespace).List(labels.Everything())
}
