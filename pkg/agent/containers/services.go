package containers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/flotilla-io/flotilla/pkg/agent/staticpods"
)

// ServiceSource is where the Builder reads Services: a lister of an
// informer's cache and whether that cache has been filled once. A nil
// lister means no cache is running.
type ServiceSource interface {
	ServiceLister() (lister corelisters.ServiceLister, synced bool)
}

// masterService is the API server's Service, whose variables every
// container gets (KUBERNETES_SERVICE_HOST and _PORT are how in-cluster
// clients find the API server).
const masterService = "kubernetes"

// errServicesNotSynced is the kubelet's refusal to start a container
// before the Services were read once: it would miss
// KUBERNETES_SERVICE_HOST for good. The pod worker tries again.
var errServicesNotSynced = errors.New("services have not yet been read at least once, cannot construct envvars")

// serviceEnv is the kubelet's Service environment of a container of pod:
// the variables of the `kubernetes` Service of the default namespace
// always, and with enableServiceLinks (nil counts as its default, true)
// those of every Service of the pod's namespace — a Service there named
// `kubernetes` taking the place of the API server's. Services without a
// cluster IP (headless, ExternalName) have none.
func (b *Builder) serviceEnv(pod *corev1.Pod) (map[string]string, error) {
	if b.cfg.Services == nil {
		return nil, nil
	}
	lister, synced := b.cfg.Services.ServiceLister()
	// A static pod may start before the API server answers, as with the
	// kubelet; it gets what the cache holds.
	if !synced && !staticpods.IsStatic(pod) {
		return nil, errServicesNotSynced
	}
	if lister == nil {
		return nil, nil
	}
	byName := map[string]*corev1.Service{}
	master, err := lister.Services(metav1.NamespaceDefault).Get(masterService)
	switch {
	case err == nil && clusterIPSet(master):
		byName[masterService] = master
	case err != nil && !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("failed to list services when setting up env vars: %w", err)
	}
	if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
		svcs, err := lister.Services(pod.Namespace).List(labels.Everything())
		if err != nil {
			return nil, fmt.Errorf("failed to list services when setting up env vars: %w", err)
		}
		for _, s := range svcs {
			if clusterIPSet(s) {
				byName[s.Name] = s
			}
		}
	}
	env := map[string]string{}
	for _, s := range byName {
		for _, kv := range serviceVars(s) {
			env[kv[0]] = kv[1]
		}
	}
	return env, nil
}

func clusterIPSet(s *corev1.Service) bool {
	return s.Spec.ClusterIP != "" && s.Spec.ClusterIP != corev1.ClusterIPNone
}

// envName is a Service name as a variable name: upper case, '-' as '_'.
func envName(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }

// serviceVars are one Service's variables, as upstream names them:
// NAME_SERVICE_HOST, NAME_SERVICE_PORT (the first port) and
// NAME_SERVICE_PORT_PORTNAME for each named port, then Docker's link
// variables: NAME_PORT (the first port's URL) and for each port
// NAME_PORT_NUMBER_PROTO with _PROTO, _PORT and _ADDR.
func serviceVars(s *corev1.Service) [][2]string {
	if len(s.Spec.Ports) == 0 {
		return nil
	}
	prefix := envName(s.Name)
	ip := s.Spec.ClusterIP
	out := [][2]string{
		{prefix + "_SERVICE_HOST", ip},
		{prefix + "_SERVICE_PORT", strconv.Itoa(int(s.Spec.Ports[0].Port))},
	}
	for _, p := range s.Spec.Ports {
		if p.Name != "" {
			out = append(out, [2]string{prefix + "_SERVICE_PORT_" + envName(p.Name), strconv.Itoa(int(p.Port))})
		}
	}
	for i, p := range s.Spec.Ports {
		proto := string(p.Protocol)
		if proto == "" {
			proto = string(corev1.ProtocolTCP)
		}
		lower := strings.ToLower(proto)
		port := strconv.Itoa(int(p.Port))
		url := lower + "://" + net.JoinHostPort(ip, port)
		if i == 0 {
			out = append(out, [2]string{prefix + "_PORT", url})
		}
		pp := prefix + "_PORT_" + port + "_" + strings.ToUpper(proto)
		out = append(out, [2]string{pp, url}, [2]string{pp + "_PROTO", lower}, [2]string{pp + "_PORT", port}, [2]string{pp + "_ADDR", ip})
	}
	return out
}

// sortedKeys are m's keys in order: the Service variables a container
// gets after its own, in a stable order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ServiceCache is a ServiceSource backed by an informer on all Services
// that runs while Run does (the kubelet's service lister). The agent
// keeps one for its life and runs it within each of its runs.
type ServiceCache struct {
	client kubernetes.Interface

	mu     sync.Mutex
	lister corelisters.ServiceLister
	synced cache.InformerSynced
}

// NewServiceCache is a ServiceCache reading through client.
func NewServiceCache(client kubernetes.Interface) *ServiceCache {
	return &ServiceCache{client: client}
}

// ServiceLister is the running informer's lister and whether it has
// listed once; nil between runs.
func (c *ServiceCache) ServiceLister() (corelisters.ServiceLister, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lister == nil {
		return nil, false
	}
	return c.lister, c.synced()
}

// Run watches the Services until ctx ends and returns once the informer
// has stopped. Each run starts from an empty cache.
func (c *ServiceCache) Run(ctx context.Context) {
	factory := informers.NewSharedInformerFactory(c.client, 0)
	inf := factory.Core().V1().Services()
	c.mu.Lock()
	c.lister, c.synced = inf.Lister(), inf.Informer().HasSynced
	c.mu.Unlock()
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
	c.mu.Lock()
	c.lister, c.synced = nil, nil
	c.mu.Unlock()
}
