package server

import (
	"fmt"
	"log/slog"

	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/scale"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/flotilla-io/flotilla/pkg/controller/podautoscaler"
)

// newPodAutoscaler builds the HPA controller with its clients: scales
// through discovery (any kind serving /scale), pod metrics through the
// metrics.k8s.io API the server serves.
func newPodAutoscaler(cfg *rest.Config, cs kubernetes.Interface, factory informers.SharedInformerFactory, cc ControllerConfig, log *slog.Logger) (*podautoscaler.Controller, error) {
	cached := memory.NewMemCacheClient(cs.Discovery())
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(cached)
	scales, err := scale.NewForConfig(cfg, mapper, dynamic.LegacyAPIPathResolverFunc, scale.NewDiscoveryScaleKindResolver(cached))
	if err != nil {
		return nil, fmt.Errorf("scale client: %w", err)
	}
	mc, err := metricsclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("metrics client: %w", err)
	}
	clients := podautoscaler.Clients{Kube: cs, Scales: scales, Mapper: mapper, Metrics: mc.MetricsV1beta1()}
	return podautoscaler.New(clients, factory, podautoscaler.Config{
		SyncPeriod:             cc.HPASyncPeriod,
		DownscaleStabilization: cc.HPADownscaleStabilization,
	}, log), nil
}
