// Package testserver starts a real Flotilla control plane (embedded etcd,
// API server, controllers) inside a test, on temporary directories and
// free loopback ports.
package testserver

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/flotilla-io/flotilla/pkg/apiserver"
	"github.com/flotilla-io/flotilla/pkg/auditlog"
	"github.com/flotilla-io/flotilla/pkg/etcd"
	"github.com/flotilla-io/flotilla/pkg/pki"
	"github.com/flotilla-io/flotilla/pkg/server"
	"github.com/flotilla-io/flotilla/pkg/server/testserver/freeport"
)

// Instance is a running control plane.
type Instance struct {
	*server.Server
	Config  server.Config
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

// Options tune Start.
type Options struct {
	DataDir           string // reuse a data dir (restart tests); "" = t.TempDir()
	DatastoreEndpoint string
	// DisableControllers names controllers (server.ControllerNames) the
	// server does not run: tests that run one of their own.
	DisableControllers []string
	// NodeMonitorGracePeriod shortens node-loss detection (0 = 40 s).
	NodeMonitorGracePeriod time.Duration
	// MetricsResolution is how often the metrics API scrapes the nodes
	// (0 = 15 s).
	MetricsResolution time.Duration
	// Limits are the API's request limits (zero = upstream's defaults).
	Limits apiserver.Limits
	// SecretsEncryption encrypts Secrets at rest (server.Config's).
	SecretsEncryption bool
	// EventTTL is how long Events live (0 = 1 h).
	EventTTL time.Duration
	// Pod garbage collector tuning (server.ControllerConfig's).
	TerminatedPodGCThreshold     int
	PodGCPeriod, PodGCQuarantine time.Duration
	// Audit configures the audit log.
	Audit auditlog.Config
	// Log receives the server's log (nil = stderr at warn, or debug with
	// FLOTILLA_TEST_DEBUG).
	Log *slog.Logger
	// Client TLS files for DatastoreEndpoint.
	DatastoreCAFile, DatastoreCertFile, DatastoreKeyFile string
	// EtcdSnapshots schedules snapshots (zero = none, unlike the server's
	// default of every 12 hours).
	EtcdSnapshots server.EtcdSnapshotConfig
	// EtcdMaintenance tunes compaction and defragmentation (zero = the
	// server's defaults).
	EtcdMaintenance etcd.MaintenanceConfig
	// DisableAdmissionPlugins names admission plugins the server does not
	// run (server.Config's).
	DisableAdmissionPlugins []string
}

// Start runs a control plane until the test ends.
func Start(t testing.TB, opts Options) *Instance {
	t.Helper()
	cfg := server.Config{
		DataDir:           opts.DataDir,
		BindAddress:       "127.0.0.1",
		Port:              0,
		DatastoreEndpoint: opts.DatastoreEndpoint,
		DatastoreCAFile:   opts.DatastoreCAFile,
		DatastoreCertFile: opts.DatastoreCertFile,
		DatastoreKeyFile:  opts.DatastoreKeyFile,
		DisableAgent:      true,
		Controllers: server.ControllerConfig{Disable: opts.DisableControllers, NodeMonitorGracePeriod: opts.NodeMonitorGracePeriod,
			TerminatedPodGCThreshold: opts.TerminatedPodGCThreshold, PodGCPeriod: opts.PodGCPeriod, PodGCQuarantine: opts.PodGCQuarantine},
		EtcdClientPort:    FreePort(t),
		EtcdPeerPort:      FreePort(t),
		MetricsResolution: opts.MetricsResolution,
		Limits:            apiserver.DefaultLimits,
		SecretsEncryption: opts.SecretsEncryption,
		EventTTL:          opts.EventTTL,
		Audit:             opts.Audit,
		EtcdSnapshots:     opts.EtcdSnapshots,
		EtcdMaintenance:   opts.EtcdMaintenance,

		DisableAdmissionPlugins: opts.DisableAdmissionPlugins,
	}
	if opts.EtcdSnapshots == (server.EtcdSnapshotConfig{}) {
		cfg.EtcdSnapshots.Disable = true
	}
	if opts.Limits != (apiserver.Limits{}) {
		cfg.Limits = opts.Limits
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	return StartConfigLog(t, cfg, opts.Log)
}

// StartConfig runs a control plane with an explicit configuration.
func StartConfig(t testing.TB, cfg server.Config) *Instance {
	t.Helper()
	return StartConfigLog(t, cfg, nil)
}

// StartConfigLog is StartConfig logging to log (nil = stderr at warn, or
// debug with FLOTILLA_TEST_DEBUG).
func StartConfigLog(t testing.TB, cfg server.Config, log *slog.Logger) *Instance {
	t.Helper()
	if log == nil {
		level := slog.LevelWarn
		if os.Getenv("FLOTILLA_TEST_DEBUG") != "" {
			level = slog.LevelDebug
		}
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.Start(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatalf("start server: %v", err)
	}
	in := &Instance{Server: s, Config: cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { in.done <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-in.done:
		cancel()
		t.Fatalf("server stopped during start: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("server not ready within 60s")
	}
	t.Cleanup(in.Stop)
	return in
}

// Stop shuts the control plane down and waits for it.
func (in *Instance) Stop() {
	if in.stopped {
		return
	}
	in.stopped = true
	in.cancel()
	select {
	case <-in.done:
	case <-time.After(30 * time.Second):
	}
}

// RESTConfig is an admin client configuration.
func (in *Instance) RESTConfig() *rest.Config {
	cfg := in.LoopbackConfig()
	cfg.UserAgent = "flotilla-test"
	return cfg
}

// Clientset is an admin clientset.
func (in *Instance) Clientset(t testing.TB) kubernetes.Interface {
	cs, err := kubernetes.NewForConfig(in.RESTConfig())
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	return cs
}

// FreePort returns a loopback port that was free a moment ago, outside
// the kernel's ephemeral range (see package freeport).
func FreePort(t testing.TB) int { return freeport.Loopback() }

// UserConfig is a client configuration for user name in groups: a client
// certificate the cluster's CA signs, as an admin would hand a teammate.
func (in *Instance) UserConfig(t testing.TB, name string, groups ...string) *rest.Config {
	t.Helper()
	ca, err := pki.LoadOrCreateCA(filepath.Join(in.Config.DataDir, "tls"), "flotilla-ca")
	if err != nil {
		t.Fatalf("cluster CA: %v", err)
	}
	certPEM, keyPEM, err := ca.Issue(pki.LeafRequest{CommonName: name, Organization: groups})
	if err != nil {
		t.Fatalf("issue a certificate for %s: %v", name, err)
	}
	return &rest.Config{
		Host:            in.URL,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM, CertData: certPEM, KeyData: keyPEM},
		QPS:             -1,
		UserAgent:       "flotilla-test",
	}
}
