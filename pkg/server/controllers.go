package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/flotilla-io/flotilla/pkg/controller/clusterdns"
	"github.com/flotilla-io/flotilla/pkg/controller/clusterroleaggregation"
	"github.com/flotilla-io/flotilla/pkg/controller/cronjob"
	"github.com/flotilla-io/flotilla/pkg/controller/daemonset"
	"github.com/flotilla-io/flotilla/pkg/controller/deployment"
	"github.com/flotilla-io/flotilla/pkg/controller/disruption"
	"github.com/flotilla-io/flotilla/pkg/controller/endpoints"
	"github.com/flotilla-io/flotilla/pkg/controller/endpointslice"
	"github.com/flotilla-io/flotilla/pkg/controller/endpointslicemirroring"
	"github.com/flotilla-io/flotilla/pkg/controller/flowschema"
	"github.com/flotilla-io/flotilla/pkg/controller/garbagecollector"
	"github.com/flotilla-io/flotilla/pkg/controller/job"
	"github.com/flotilla-io/flotilla/pkg/controller/namespace"
	"github.com/flotilla-io/flotilla/pkg/controller/nodeipam"
	"github.com/flotilla-io/flotilla/pkg/controller/nodelifecycle"
	"github.com/flotilla-io/flotilla/pkg/controller/nodepassword"
	"github.com/flotilla-io/flotilla/pkg/controller/persistentvolume"
	"github.com/flotilla-io/flotilla/pkg/controller/podgc"
	"github.com/flotilla-io/flotilla/pkg/controller/replicaset"
	"github.com/flotilla-io/flotilla/pkg/controller/resourcequota"
	"github.com/flotilla-io/flotilla/pkg/controller/serviceaccount"
	"github.com/flotilla-io/flotilla/pkg/controller/serviceaccounttoken"
	"github.com/flotilla-io/flotilla/pkg/controller/servicelb"
	"github.com/flotilla-io/flotilla/pkg/controller/statefulset"
	"github.com/flotilla-io/flotilla/pkg/controller/ttlafterfinished"
	"github.com/flotilla-io/flotilla/pkg/pki"
	"github.com/flotilla-io/flotilla/pkg/scheduler"
)

// ControllerConfig tunes the scheduler and controllers a server runs.
type ControllerConfig struct {
	// Disable names controllers (ControllerNames) this server does not
	// run, e.g. "scheduler" when another scheduler binds pods, or a
	// controller a test runs itself.
	Disable []string
	// NodeMonitorGracePeriod is how long a node may miss heartbeats
	// before it is NotReady/Unknown (0 = 40 s).
	NodeMonitorGracePeriod time.Duration
	// StorageDir is where the local-path provisioner puts volumes
	// ("" = DATA-DIR/storage).
	StorageDir string
	// ClusterCIDR is the pod range the nodeipam controller hands out to
	// Nodes in blocks of NodeCIDRMaskSize bits (0 = /24); an invalid
	// (zero) prefix turns the controller off.
	ClusterCIDR      netip.Prefix
	NodeCIDRMaskSize int
	// ClusterDNS is the kube-dns Service's address the clusterdns
	// controller keeps (invalid: the controller is off).
	ClusterDNS netip.Addr
	// MaxEndpointsPerSlice caps the endpoints of one EndpointSlice the
	// endpointslice controller writes (0 = 100).
	MaxEndpointsPerSlice int
	// DisableIngress: no IngressClass for the agents' built-in ingress
	// (the one created before is removed), so none of them listens.
	DisableIngress bool
	// HPASyncPeriod is how often the horizontal pod autoscaler syncs
	// every HPA (0 = 15 s); HPADownscaleStabilization its default
	// scale-down stabilization window (0 = 5 min).
	HPASyncPeriod             time.Duration
	HPADownscaleStabilization time.Duration
	// TerminatedPodGCThreshold is how many terminated pods may exist
	// before the pod garbage collector deletes the oldest (0 = 12500,
	// negative = never); PodGCPeriod and PodGCQuarantine shorten its
	// period (20 s) and its wait for a missing Node (40 s) in tests.
	TerminatedPodGCThreshold int
	PodGCPeriod              time.Duration
	PodGCQuarantine          time.Duration
	// tokenIssuer signs the legacy tokens the serviceaccount-token
	// controller writes (the server's service account key).
	tokenIssuer serviceaccounttoken.Issuer
}

// Leader election: servers sharing one etcd run the scheduler and the
// controllers in turn, as upstream's components do through a Lease.
const (
	leaderLease         = "flotilla-controllers"
	leaseDuration       = 15 * time.Second
	renewDeadline       = 10 * time.Second
	leaderRetryInterval = 2 * time.Second
)

// runControllers runs the built-in controllers and the scheduler while
// this server holds the leader lease, until ctx ends.
func (s *Server) runControllers(ctx context.Context) error {
	cfg, err := s.ids.controllerManager()
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	id, err := s.identity()
	if err != nil {
		return err
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: "kube-system", Name: leaderLease},
		Client:     cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	log := s.log.With("component", "controllers")
	for ctx.Err() == nil {
		leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   leaseDuration,
			RenewDeadline:   renewDeadline,
			RetryPeriod:     leaderRetryInterval,
			ReleaseOnCancel: true,
			Name:            leaderLease,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(lctx context.Context) {
					log.Info("leading: starting scheduler and controllers", "identity", id)
					cc := s.cfg.Controllers
					cc.tokenIssuer = s.saSigner
					if cc.StorageDir == "" {
						cc.StorageDir = filepath.Join(s.cfg.DataDir, "storage")
					}
					if err := runLeaderControllers(lctx, s.ids, s.certs.ca.CertPEM, cc, log); err != nil {
						log.Error("controllers", "err", err)
					}
				},
				OnStoppedLeading: func() {
					if ctx.Err() == nil {
						log.Warn("lost the leader lease; controllers stopped", "identity", id)
					}
				},
			},
		})
	}
	return nil
}

// identity names this server in the leader lease. It is kept in the data
// directory so a restarted server takes its lease back at once instead of
// waiting for it to expire.
func (s *Server) identity() (string, error) {
	path := filepath.Join(s.cfg.DataDir, "server-id")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 6)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	host, _ := os.Hostname()
	id := host + "_" + hex.EncodeToString(buf)
	return id, pki.WriteFile(path, []byte(id+"\n"), 0o600)
}

// controllerClient is how one controller talks to the API.
type controllerClient struct {
	cfg *rest.Config
	cs  kubernetes.Interface
	mc  metadata.Interface
}

// ControllerNames are the controllers a server runs, by the names
// ControllerConfig.Disable takes.
var ControllerNames = []string{
	"namespace", "serviceaccount", "serviceaccount-token", "garbagecollector", "disruption", "nodelifecycle", "scheduler",
	"replicaset", "replicationcontroller", "deployment", "daemonset", "statefulset", "persistentvolume",
	"job", "cronjob", "ttlafterfinished", "flowschema", "nodeipam",
	"endpoint", "endpointslice", "endpointslicemirroring", "clusterdns", "servicelb", "ingress",
	"horizontalpodautoscaling", "clusterrole-aggregation", "nodepassword", "resourcequota", "podgc",
}

func (cc ControllerConfig) enabled(name string) bool { return !slices.Contains(cc.Disable, name) }

// runLeaderControllers runs every controller and the scheduler on one
// informer factory until ctx ends.
func runLeaderControllers(ctx context.Context, ids *identities, caPEM []byte, cc ControllerConfig, log *slog.Logger) error {
	// The shared informers read as the controller manager (read access
	// to everything, as upstream's); each controller writes with its own
	// identity and role.
	readCfg, err := ids.controllerManager()
	if err != nil {
		return err
	}
	readCS, err := kubernetes.NewForConfig(readCfg)
	if err != nil {
		return err
	}
	clients := map[string]*controllerClient{}
	for _, name := range ControllerNames {
		sa, ok := controllerServiceAccounts[name]
		if !cc.enabled(name) || name == "scheduler" {
			continue
		}
		if !ok {
			return fmt.Errorf("controller %s has no identity", name)
		}
		cfg, err := ids.controller(sa)
		if err != nil {
			return err
		}
		c := &controllerClient{cfg: cfg}
		if c.cs, err = kubernetes.NewForConfig(cfg); err != nil {
			return err
		}
		if c.mc, err = metadata.NewForConfig(cfg); err != nil {
			return err
		}
		clients[name] = c
	}
	schedCfg, err := ids.scheduler()
	if err != nil {
		return err
	}
	schedCS, err := kubernetes.NewForConfig(schedCfg)
	if err != nil {
		return err
	}
	cs := func(name string) kubernetes.Interface { return clients[name].cs }
	factory := informers.NewSharedInformerFactoryWithOptions(readCS, 10*time.Hour, informers.WithTransform(dropManagedFields))
	// Each constructor registers its informers, so all run before the
	// factory starts.
	constructors := map[string]func() func(context.Context){
		"namespace": func() func(context.Context) {
			c := namespace.New(cs("namespace"), clients["namespace"].mc, factory, log)
			return func(ctx context.Context) { c.Run(ctx, 2) }
		},
		"serviceaccount": func() func(context.Context) {
			c := serviceaccount.New(cs("serviceaccount"), factory, caPEM, log)
			return func(ctx context.Context) { c.Run(ctx, 2) }
		},
		"serviceaccount-token": func() func(context.Context) {
			c := serviceaccounttoken.New(cs("serviceaccount-token"), factory, cc.tokenIssuer, caPEM, log)
			return func(ctx context.Context) { c.Run(ctx, 2) }
		},
		"disruption": func() func(context.Context) {
			c := disruption.New(cs("disruption"), factory, disruption.Config{}, log)
			return func(ctx context.Context) { c.Run(ctx, 2) }
		},
		"nodelifecycle": func() func(context.Context) {
			c := nodelifecycle.New(cs("nodelifecycle"), factory, nodelifecycle.Config{GracePeriod: cc.NodeMonitorGracePeriod}, log)
			return func(ctx context.Context) { c.Run(ctx, 2) }
		},
		"scheduler": func() func(context.Context) { return scheduler.New(schedCS, factory, log).Run },
		"clusterrole-aggregation": func() func(context.Context) {
			c := clusterroleaggregation.New(cs("clusterrole-aggregation"), factory, log)
			return func(ctx context.Context) { c.Run(ctx, 1) }
		},
		"garbagecollector": func() func(context.Context) {
			c := garbagecollector.New(clients["garbagecollector"].mc, cs("garbagecollector").Discovery(), garbagecollector.Config{}, log)
			return func(ctx context.Context) { c.Run(ctx, 4) }
		},
		"statefulset": func() func(context.Context) {
			c := statefulset.New(cs("statefulset"), factory, log)
			return func(ctx context.Context) { c.Run(ctx, 2) }
		},
		"persistentvolume": func() func(context.Context) {
			c := persistentvolume.New(cs("persistentvolume"), factory, persistentvolume.Config{BaseDir: cc.StorageDir}, log)
			return func(ctx context.Context) { c.Run(ctx, 2) }
		},
		"daemonset": func() func(context.Context) {
			c := daemonset.New(cs("daemonset"), factory, log)
			return func(ctx context.Context) { c.Run(ctx, 2) }
		},
		"deployment": func() func(context.Context) {
			c := deployment.New(cs("deployment"), factory, log)
			return func(ctx context.Context) { c.Run(ctx, 2) }
		},
		"job": func() func(context.Context) {
			c := job.New(cs("job"), factory, job.Config{}, log)
			return func(ctx context.Context) { c.Run(ctx, 4) }
		},
		"cronjob": func() func(context.Context) {
			c := cronjob.New(cs("cronjob"), factory, cronjob.Config{}, log)
			return func(ctx context.Context) { c.Run(ctx, 2) }
		},
		"nodepassword": func() func(context.Context) {
			c := nodepassword.New(cs("nodepassword"), factory, 0, log)
			return func(ctx context.Context) { c.Run(ctx, 1) }
		},
		"ttlafterfinished": func() func(context.Context) {
			c := ttlafterfinished.New(cs("ttlafterfinished"), factory, ttlafterfinished.Config{}, log)
			return func(ctx context.Context) { c.Run(ctx, 2) }
		},
		"replicaset": func() func(context.Context) {
			c := replicaset.New(cs("replicaset"), factory, log)
			return func(ctx context.Context) { c.Run(ctx, 5) }
		},
		"replicationcontroller": func() func(context.Context) {
			c := replicaset.NewReplicationController(cs("replicationcontroller"), factory, log)
			return func(ctx context.Context) { c.Run(ctx, 5) }
		},
		"nodeipam": func() func(context.Context) {
			if !cc.ClusterCIDR.IsValid() {
				return nil
			}
			c, err := nodeipam.New(cs("nodeipam"), factory, nodeipam.Config{ClusterCIDR: cc.ClusterCIDR, NodeMaskSize: cc.NodeCIDRMaskSize}, log)
			if err != nil {
				log.Error("node IPAM controller not started", "err", err)
				return nil
			}
			return c.Run
		},
		"endpoint": func() func(context.Context) {
			c := endpoints.New(cs("endpoint"), factory, log)
			return func(ctx context.Context) { c.Run(ctx, 5) }
		},
		"endpointslice": func() func(context.Context) {
			c := endpointslice.New(cs("endpointslice"), factory, endpointslice.Config{MaxEndpointsPerSlice: cc.MaxEndpointsPerSlice}, log)
			return func(ctx context.Context) { c.Run(ctx, 5) }
		},
		"endpointslicemirroring": func() func(context.Context) {
			c := endpointslicemirroring.New(cs("endpointslicemirroring"), factory, endpointslicemirroring.Config{}, log)
			return func(ctx context.Context) { c.Run(ctx, 2) }
		},
		"servicelb": func() func(context.Context) {
			c := servicelb.New(cs("servicelb"), factory, log)
			return func(ctx context.Context) { c.Run(ctx, 2) }
		},
		"clusterdns": func() func(context.Context) {
			if !cc.ClusterDNS.IsValid() {
				return nil
			}
			c, err := clusterdns.New(cs("clusterdns"), factory, cc.ClusterDNS, log)
			if err != nil {
				log.Error("cluster DNS controller not started", "err", err)
				return nil
			}
			return c.Run
		},
		"ingress": func() func(context.Context) { return ingressRun(cs("ingress"), factory, cc, log) },
		"horizontalpodautoscaling": func() func(context.Context) {
			c, err := newPodAutoscaler(clients["horizontalpodautoscaling"].cfg, cs("horizontalpodautoscaling"), factory, cc, log)
			if err != nil {
				log.Error("horizontal pod autoscaler not started", "err", err)
				return nil
			}
			return func(ctx context.Context) { c.Run(ctx, 5) }
		},
		"resourcequota": func() func(context.Context) {
			c := resourcequota.New(cs("resourcequota"), factory, resourcequota.Config{}, log)
			return func(ctx context.Context) { c.Run(ctx, 5) }
		},
		"podgc": func() func(context.Context) {
			return podgc.New(cs("podgc"), factory, podgc.Config{Threshold: cc.TerminatedPodGCThreshold, Period: cc.PodGCPeriod, Quarantine: cc.PodGCQuarantine}, log).Run
		},
		"flowschema": func() func(context.Context) {
			c := flowschema.New(cs("flowschema"), factory, log)
			return func(ctx context.Context) { c.Run(ctx, 1) }
		},
	}
	var runs []func(context.Context)
	for _, name := range ControllerNames {
		if construct, ok := constructors[name]; ok && cc.enabled(name) {
			if run := construct(); run != nil {
				runs = append(runs, run)
			}
		}
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	var wg sync.WaitGroup
	for _, run := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(ctx)
		}()
	}
	wg.Wait()
	return nil
}

// dropManagedFields keeps the informer caches small: no controller reads
// managedFields, and they are often the largest part of an object.
func dropManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
