package podpreset

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/flotilla-io/flotilla/pkg/admission/internal/deps"
	settingsv1alpha1 "github.com/flotilla-io/flotilla/pkg/apis/settings/v1alpha1"
	"github.com/flotilla-io/flotilla/pkg/eventrecorder"
	"github.com/flotilla-io/flotilla/pkg/settingsclient"
)

// eventSource is who the conflict events say reported them, as upstream.
const eventSource = "podpreset-controller"

// NewFromDeps builds the plugin for the admission chain: presets come
// from an informer the chain's informer factory runs, and conflicts go
// out through client-go's event recorder while that informer runs.
func NewFromDeps(d deps.Deps) (admission.Interface, error) {
	if d.Config == nil {
		return nil, errors.New("needs the loopback client configuration (Deps.Config)")
	}
	sc, err := settingsclient.NewForConfig(d.Config)
	if err != nil {
		return nil, err
	}
	events := &runningRecorder{}
	inf := d.Informers.InformerFor(&settingsv1alpha1.PodPreset{}, func(cs kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		return &presetInformer{
			SharedIndexInformer: settingsclient.NewPodPresetInformer(sc, resync),
			sink:                &typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events("")},
			events:              events,
		}
	})
	return New(settingsclient.NewPodPresetLister(inf.GetIndexer()), events, inf.HasSynced, d.Log.With("plugin", PluginName)), nil
}

// presetInformer is the PodPreset informer and the owner of the event
// broadcaster: the broadcaster starts when the informer factory runs the
// informer and is shut down when it stops, so the chain, which has no
// lifecycle of its own, leaves no goroutine behind.
type presetInformer struct {
	cache.SharedIndexInformer
	sink   record.EventSink
	events *runningRecorder
}

func (i *presetInformer) Run(stop <-chan struct{}) {
	i.RunWithContext(wait.ContextForChannel(stop))
}

func (i *presetInformer) RunWithContext(ctx context.Context) {
	rec, stop := eventrecorder.StartToSink(ctx, i.sink, eventSource, "")
	i.events.set(rec)
	defer func() {
		i.events.set(nil)
		stop()
	}()
	i.SharedIndexInformer.RunWithContext(ctx)
}

// runningRecorder hands events to the recorder of the running
// broadcaster; with none (before start, after stop) they are dropped.
type runningRecorder struct {
	mu  sync.Mutex
	rec record.EventRecorder
}

var _ record.EventRecorder = (*runningRecorder)(nil)

func (r *runningRecorder) set(rec record.EventRecorder) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rec = rec
}

func (r *runningRecorder) current() record.EventRecorder {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rec
}

func (r *runningRecorder) Event(obj runtime.Object, eventtype, reason, message string) {
	if rec := r.current(); rec != nil {
		rec.Event(obj, eventtype, reason, message)
	}
}

func (r *runningRecorder) Eventf(obj runtime.Object, eventtype, reason, messageFmt string, args ...any) {
	r.Event(obj, eventtype, reason, fmt.Sprintf(messageFmt, args...))
}

func (r *runningRecorder) AnnotatedEventf(obj runtime.Object, annotations map[string]string, eventtype, reason, messageFmt string, args ...any) {
	if rec := r.current(); rec != nil {
		rec.AnnotatedEventf(obj, annotations, eventtype, reason, messageFmt, args...)
	}
}
