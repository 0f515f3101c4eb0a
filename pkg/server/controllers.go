package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
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

	"github.com/flotilla-io/flotilla/pkg/controller/disruption"
	"github.com/flotilla-io/flotilla/pkg/controller/namespace"
	"github.com/flotilla-io/flotilla/pkg/controller/nodelifecycle"
	"github.com/flotilla-io/flotilla/pkg/controller/serviceaccount"
	"github.com/flotilla-io/flotilla/pkg/pki"
	"github.com/flotilla-io/flotilla/pkg/scheduler"
)

// ControllerConfig tunes the scheduler and controllers a server runs.
type ControllerConfig struct {
	DisableScheduler bool
	// DisableNodeLifecycle leaves node health and taint-based eviction
	// alone (tests that run that controller themselves).
	DisableNodeLifecycle bool
	// NodeMonitorGracePeriod is how long a node may miss heartbeats
	// before it is NotReady/Unknown (0 = 40 s).
	NodeMonitorGracePeriod time.Duration
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
	cfg := s.LoopbackConfig()
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
					if err := runLeaderControllers(lctx, cfg, s.certs.ca.CertPEM, s.cfg.Controllers, log); err != nil {
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

// runLeaderControllers runs every controller and the scheduler on one
// informer factory until ctx ends.
func runLeaderControllers(ctx context.Context, cfg *rest.Config, caPEM []byte, cc ControllerConfig, log *slog.Logger) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	mc, err := metadata.NewForConfig(cfg)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(cs, 10*time.Hour)
	nsc := namespace.New(cs, mc, factory, log)
	sac := serviceaccount.New(cs, factory, caPEM, log)
	dc := disruption.New(cs, factory, disruption.Config{}, log)
	runs := []func(context.Context){
		func(ctx context.Context) { nsc.Run(ctx, 2) },
		func(ctx context.Context) { sac.Run(ctx, 2) },
		func(ctx context.Context) { dc.Run(ctx, 2) },
	}
	if !cc.DisableNodeLifecycle {
		nlc := nodelifecycle.New(cs, factory, nodelifecycle.Config{GracePeriod: cc.NodeMonitorGracePeriod}, log)
		runs = append(runs, func(ctx context.Context) { nlc.Run(ctx, 2) })
	}
	if !cc.DisableScheduler {
		runs = append(runs, scheduler.New(cs, factory, log).Run)
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
