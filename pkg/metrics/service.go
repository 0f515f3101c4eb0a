package metrics

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/metadata/metadatalister"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/flotilla-io/flotilla/pkg/extensions"
	"github.com/flotilla-io/flotilla/pkg/metrics/api"
	"github.com/flotilla-io/flotilla/pkg/metrics/collector"
	"github.com/flotilla-io/flotilla/pkg/metrics/scrape"
	"github.com/flotilla-io/flotilla/pkg/metrics/storage"
)

// Config configures the metrics service of a server.
type Config struct {
	// Resolution is how often nodes are scraped (0 = 15 s).
	Resolution time.Duration
	// TLS presents the server's client certificate to the node agents
	// and trusts the cluster CA for their serving certificates.
	TLS *tls.Config
	// Local returns the stats handler of the agent running in this
	// process for a node, or nil (see collector.Config).
	Local func(node string) http.Handler
	Log   *slog.Logger
}

// Service collects and serves resource metrics.
type Service struct {
	cfg       Config
	storage   *storage.Storage
	fetcher   *scrape.Client
	handler   *api.Handler
	caches    atomic.Pointer[api.Caches]
	collector atomic.Pointer[collector.Collector]
}

// New is a Service; its handler answers 503 until Run has synced caches.
func New(cfg Config) *Service {
	if cfg.Resolution <= 0 {
		cfg.Resolution = collector.DefaultResolution
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Service{cfg: cfg, storage: storage.New(cfg.Resolution), fetcher: scrape.NewClient(cfg.TLS)}
	s.handler = api.New(s.storage, s.caches.Load, cfg.Log)
	return s
}

// Handler serves requests below api.Prefix.
func (s *Service) Handler() http.Handler { return s.handler }

// Collector is the running collector, or nil before Run has synced.
func (s *Service) Collector() *collector.Collector { return s.collector.Load() }

// Run watches Nodes and Pods through rc and collects until ctx ends.
func (s *Service) Run(ctx context.Context, rc *rest.Config) error {
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	mc, err := metadata.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	nodeFactory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTransform(trimNode))
	nodes := nodeFactory.Core().V1().Nodes()
	pods := metadatainformer.NewFilteredMetadataInformer(mc, corev1.SchemeGroupVersion.WithResource("pods"), metav1.NamespaceAll, 0,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}, nil)
	if err := pods.Informer().SetTransform(trimPod); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	nodeLister := nodes.Lister()
	podInformer := pods.Informer()
	nodeFactory.Start(ctx.Done())
	go podInformer.RunWithContext(ctx)
	defer nodeFactory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), nodes.Informer().HasSynced, podInformer.HasSynced) {
		return nil // ctx ended
	}
	s.caches.Store(&api.Caches{
		Nodes: nodeLister,
		Pods:  metadatalister.New(podInformer.GetIndexer(), corev1.SchemeGroupVersion.WithResource("pods")),
	})
	c := collector.New(collector.Config{
		Resolution: s.cfg.Resolution,
		Nodes:      nodeLister,
		Fetcher:    s.fetcher,
		Local:      s.cfg.Local,
		Storage:    s.storage,
		Log:        s.cfg.Log,
	})
	s.collector.Store(c)
	c.Run(ctx)
	s.fetcher.CloseIdle()
	return nil
}

// trimNode keeps what the collector and NodeMetrics read of a Node.
func trimNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: n.Name, Namespace: n.Namespace, UID: n.UID, ResourceVersion: n.ResourceVersion,
			Labels: n.Labels, Annotations: endpointAnnotations(n.Annotations),
		},
		Status: corev1.NodeStatus{Addresses: n.Status.Addresses, DaemonEndpoints: n.Status.DaemonEndpoints},
	}, nil
}

// trimPod keeps what PodMetrics read of a pod: its name and labels.
func trimPod(obj any) (any, error) {
	p, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}
	return &metav1.PartialObjectMetadata{
		TypeMeta: p.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion, Labels: p.Labels,
		},
	}, nil
}

func endpointAnnotations(in map[string]string) map[string]string {
	var out map[string]string
	for _, k := range []string{extensions.StatsEndpointAnnotation, extensions.SimulatedNodeAnnotation} {
		if v, ok := in[k]; ok {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}
