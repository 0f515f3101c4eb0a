package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httputil"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/flotilla-io/flotilla/pkg/eventrecorder"
)

// Controller serves one node's Ingress traffic.
type Controller struct {
	cfg     Config
	log     *slog.Logger
	factory informers.SharedInformerFactory
	// secretFactory informs of TLS Secrets only (factory without a client).
	secretFactory informers.SharedInformerFactory
	src           sources
	synced        []cache.InformerSynced
	defCert       *tls.Certificate
	proxy         *httputil.ReverseProxy

	table atomic.Pointer[table]
	// building is set while a table is being built: a Service, slice or
	// Secret event then triggers another build even if the current table
	// does not name the object, since the one being built may.
	building atomic.Bool
	trigger  chan struct{} // a rebuild is wanted
	// servingChanged is signalled when the table's serving flips.
	servingChanged chan struct{}
	addrs          atomic.Pointer[[2]string] // bound HTTP, HTTPS addresses
	running        atomic.Bool

	// Owned by the table-building goroutine.
	certs    *certCache
	reported map[string]bool // secret problems already reported
	recorder eventrecorder.Recorder
}

const sliceIndex = "flotilla-ingress-service"

// TLSSecretFieldSelector is how the proxy lists the Secrets it may use.
const TLSSecretFieldSelector = "type=" + string(corev1.SecretTypeTLS)

// New builds a controller on factory's Ingress, IngressClass, Service,
// EndpointSlice and Secret informers. The caller starts the factory after
// New (Run starts it too, which is harmless when it already runs).
func New(factory informers.SharedInformerFactory, cfg Config) (*Controller, error) {
	cfg.complete()
	c := &Controller{
		cfg: cfg, log: cfg.Log.With("component", "ingress"), factory: factory,
		defCert: cfg.DefaultCertificate,
		trigger: make(chan struct{}, 1), servingChanged: make(chan struct{}, 1),
		certs: newCertCache(), reported: map[string]bool{},
	}
	if c.defCert == nil {
		cert, err := selfSigned()
		if err != nil {
			return nil, fmt.Errorf("ingress: %w", err)
		}
		c.defCert = cert
	}
	c.proxy = newReverseProxy(cfg, c.log)
	ings := factory.Networking().V1().Ingresses()
	classes := factory.Networking().V1().IngressClasses()
	svcs := factory.Core().V1().Services()
	slices := factory.Discovery().V1().EndpointSlices()
	// TLS Secrets come from a factory of their own that lists and
	// watches only Secrets of type kubernetes.io/tls: a node agent may
	// read no others (the Node authorizer), and the proxy, which
	// terminates TLS for every Ingress on every node, needs only those.
	secretFactory := factory
	if cfg.Client != nil {
		secretFactory = informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = TLSSecretFieldSelector
		}))
	}
	c.secretFactory = secretFactory
	secrets := secretFactory.Core().V1().Secrets()
	c.src = sources{
		ingresses: ings.Lister(), classes: classes.Lister(), services: svcs.Lister(), secrets: secrets.Lister(),
	}
	// An index of slices by Service; a factory whose informer already
	// runs cannot take one, and then the label selector does the job.
	sliceLister := slices.Lister()
	c.src.slicesOf = func(ns, name string) []*discoveryv1.EndpointSlice {
		out, _ := sliceLister.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name}))
		return out
	}
	if err := slices.Informer().AddIndexers(cache.Indexers{sliceIndex: sliceServiceIndex}); err == nil {
		idx := slices.Informer().GetIndexer()
		c.src.slicesOf = func(ns, name string) []*discoveryv1.EndpointSlice {
			objs, _ := idx.ByIndex(sliceIndex, ns+"/"+name)
			out := make([]*discoveryv1.EndpointSlice, 0, len(objs))
			for _, o := range objs {
				if s, ok := o.(*discoveryv1.EndpointSlice); ok {
					out = append(out, s)
				}
			}
			return out
		}
	}
	c.synced = []cache.InformerSynced{
		ings.Informer().HasSynced, classes.Informer().HasSynced, svcs.Informer().HasSynced,
		slices.Informer().HasSynced, secrets.Informer().HasSynced,
	}
	always := handler(func(any) bool { return true }, c.kick)
	if _, err := ings.Informer().AddEventHandler(always); err != nil {
		return nil, fmt.Errorf("ingress: %w", err)
	}
	if _, err := classes.Informer().AddEventHandler(always); err != nil {
		return nil, fmt.Errorf("ingress: %w", err)
	}
	if _, err := svcs.Informer().AddEventHandler(handler(c.serviceNamed, c.kick)); err != nil {
		return nil, fmt.Errorf("ingress: %w", err)
	}
	if _, err := slices.Informer().AddEventHandler(handler(c.sliceNamed, c.kick)); err != nil {
		return nil, fmt.Errorf("ingress: %w", err)
	}
	if _, err := secrets.Informer().AddEventHandler(handler(c.secretNamed, c.kick)); err != nil {
		return nil, fmt.Errorf("ingress: %w", err)
	}
	c.table.Store(&table{})
	return c, nil
}

func sliceServiceIndex(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || s.Labels[discoveryv1.LabelServiceName] == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName]}, nil
}

// handler calls kick for an added, changed (old or new object) or deleted
// object that relevant accepts.
func handler(relevant func(any) bool, kick func()) cache.ResourceEventHandler {
	on := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if relevant(obj) {
			kick()
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    on,
		UpdateFunc: func(o, n any) { on(o); on(n) },
		DeleteFunc: on,
	}
}

// The events of Services, EndpointSlices and Secrets (most of a cluster's
// churn) rebuild the table only when it names the object.
func (c *Controller) named(pick func(*table) map[string]bool, key string) bool {
	return c.building.Load() || pick(c.table.Load())[key]
}

func (c *Controller) serviceNamed(obj any) bool {
	s, ok := obj.(*corev1.Service)
	return ok && c.named(func(t *table) map[string]bool { return t.services }, s.Namespace+"/"+s.Name)
}

func (c *Controller) sliceNamed(obj any) bool {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	return ok && c.named(func(t *table) map[string]bool { return t.services }, s.Namespace+"/"+s.Labels[discoveryv1.LabelServiceName])
}

func (c *Controller) secretNamed(obj any) bool {
	s, ok := obj.(*corev1.Secret)
	return ok && c.named(func(t *table) map[string]bool { return t.secrets }, s.Namespace+"/"+s.Name)
}

func (c *Controller) kick() {
	select {
	case c.trigger <- struct{}{}:
	default:
	}
}

// Addresses are where the controller listens now (host:port of HTTP and
// of HTTPS); empty while it does not.
func (c *Controller) Addresses() (httpAddr, httpsAddr string) {
	if a := c.addrs.Load(); a != nil {
		return a[0], a[1]
	}
	return "", ""
}

// Run serves until ctx ends: once the caches are filled it listens on
// the configured addresses whenever an IngressClass of ours exists, and
// stops listening (letting requests in flight finish) when none does. It
// returns the error of a failed bind or server, nil when ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("ingress: controller already ran")
	}
	c.factory.Start(ctx.Done())
	if c.secretFactory != c.factory {
		c.secretFactory.Start(ctx.Done())
		defer c.secretFactory.Shutdown()
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil // ctx ended first
	}
	if c.cfg.Client != nil {
		rec, stopEvents := eventrecorder.Start(ctx, c.cfg.Client, "flotilla-ingress", c.cfg.NodeName)
		defer stopEvents()
		c.recorder = rec
	}
	c.rebuild()
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-c.trigger:
				c.rebuild()
			}
		}
	}()
	defer c.proxy.Transport.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	for {
		if !c.table.Load().serving {
			c.log.Info("no IngressClass with controller " + ControllerName + ": not listening")
			for !c.table.Load().serving {
				select {
				case <-ctx.Done():
					return nil
				case <-c.servingChanged:
				}
			}
		}
		if err := c.serve(ctx); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// rebuild builds a new table from the caches and reports the TLS Secrets
// it could not use, each once per Ingress and Secret version.
func (c *Controller) rebuild() {
	c.building.Store(true)
	t, problems := build(c.src, c.certs)
	old := c.table.Swap(t)
	c.building.Store(false)
	if old.serving != t.serving {
		select {
		case c.servingChanged <- struct{}{}:
		default:
		}
	}
	reported := make(map[string]bool, len(problems))
	for _, p := range problems {
		key := string(p.ingress.UID) + "|" + p.secret + "|" + p.version
		reported[key] = true
		if c.reported[key] {
			continue
		}
		msg := fmt.Sprintf("TLS Secret %s cannot be used (%v); its hosts get the default certificate", p.secret, p.err)
		c.log.Warn("ingress TLS secret", "ingress", p.ingress.Namespace+"/"+p.ingress.Name, "secret", p.secret, "err", p.err)
		if c.recorder != nil {
			c.recorder.Event(p.ingress, corev1.EventTypeWarning, "InvalidTLSSecret", msg)
		}
	}
	c.reported = reported
}
