package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/flotilla-io/flotilla/pkg/admission"
	"github.com/flotilla-io/flotilla/pkg/agent"
	"github.com/flotilla-io/flotilla/pkg/apiserver"
	"github.com/flotilla-io/flotilla/pkg/auditlog"
	nodeauth "github.com/flotilla-io/flotilla/pkg/auth/node"
	"github.com/flotilla-io/flotilla/pkg/encryption"
	"github.com/flotilla-io/flotilla/pkg/etcd"
	"github.com/flotilla-io/flotilla/pkg/join"
	"github.com/flotilla-io/flotilla/pkg/metrics"
	metricsapi "github.com/flotilla-io/flotilla/pkg/metrics/api"
	"github.com/flotilla-io/flotilla/pkg/openapi"
	"github.com/flotilla-io/flotilla/pkg/pki"
	"github.com/flotilla-io/flotilla/pkg/registry"
	"github.com/flotilla-io/flotilla/pkg/serviceaccount"
	"github.com/flotilla-io/flotilla/pkg/version"
)

// Config is the configuration of `flotilla server`.
type Config struct {
	DataDir           string
	BindAddress       string
	Port              int
	WriteKubeconfig   string // "" = DataDir/kubeconfig.yaml
	DatastoreEndpoint string // external etcd URLs; "" = embedded
	// Client TLS for an external etcd; all empty = plain connections.
	DatastoreCAFile, DatastoreCertFile, DatastoreKeyFile string
	DisableAgent                                         bool
	EtcdClientPort                                       int // embedded etcd listeners (loopback, mutual TLS)
	EtcdPeerPort                                         int
	// Agent configures the node agent that runs in the server's process
	// unless DisableAgent (DataDir and NodeName default from the server's).
	Agent agent.Config
	// Controllers tunes the scheduler and controllers.
	Controllers ControllerConfig
	// AdvertiseAddress is the address the `kubernetes` Service's
	// endpoints name for this server ("" = the bind address, or the
	// host's default address when bound to every address).
	AdvertiseAddress string
	// MetricsResolution is how often the metrics API scrapes every
	// node's resource metrics (0 = 15 s, metrics-server's default).
	MetricsResolution time.Duration
	// ServiceAccountMaxTokenExpiration caps the lifetime of requested
	// service account tokens (0 = no cap).
	ServiceAccountMaxTokenExpiration time.Duration
	// Limits bound the API's request deadlines and concurrency (zero =
	// none; the command line sets upstream's defaults).
	Limits apiserver.Limits
	// SecretsEncryption keeps Secrets encrypted in etcd with the keys of
	// DataDir/cred/encryption-config.json (created when missing).
	SecretsEncryption bool
	// Audit configures the audit log (no path = none).
	Audit auditlog.Config
	// ServiceAccountKeepShortTokens turns off upstream's extension of
	// kube-api-access tokens to a year (--service-account-extend-token-expiration=false).
	ServiceAccountKeepShortTokens bool
	// EtcdSnapshots schedules snapshots of the datastore.
	EtcdSnapshots EtcdSnapshotConfig
	// EtcdMaintenance tunes compaction and defragmentation of the
	// datastore (a negative interval turns both off).
	EtcdMaintenance etcd.MaintenanceConfig
	// EtcdMinFreeSpace is the room the embedded etcd keeps on its
	// filesystem: below it writes are refused (etcd's NOSPACE alarm)
	// instead of etcd dying on a full disk (0 = no guard).
	EtcdMinFreeSpace int64
	// ClusterReset is acted on by ClusterReset, not by Start.
	ClusterReset ClusterResetConfig
	// EventTTL is how long an Event lives after its last write (0 = 1 h,
	// upstream's --event-ttl).
	EventTTL time.Duration
	// DisableAdmissionPlugins names admission plugins (admission.Names)
	// the server does not run, as upstream's --disable-admission-plugins.
	DisableAdmissionPlugins []string
}

// Server is a running control plane.
type Server struct {
	cfg    Config
	log    *slog.Logger
	certs  *certs
	etcd   *etcd.Embedded
	client *clientv3.Client
	api    *apiserver.Server
	ln     net.Listener
	ready  chan struct{}
	pods   *podConnector
	// metrics collects nodes' usage and serves metrics.k8s.io.
	metrics *metrics.Service
	// ids issues the components' own client certificates.
	ids *identities
	// nodeGraph indexes pods by node for the Node authorizer.
	nodeGraph *nodeauth.Graph
	// saSigner signs and checks service account tokens.
	saSigner *serviceaccount.Signer
	// tokens authenticates service account tokens.
	tokens *tokenAuth
	// encryption owns the keys of Secrets at rest (nil = plaintext).
	encryption *encryption.Manager
	// audit is the audit log (nil = none).
	audit *auditlog.Log
	// admissionInformers feed the admission plugins (pkg/admission).
	admissionInformers informers.SharedInformerFactory
	// admissionStop is closed when the server stops (admission workers).
	admissionStop chan struct{}
	// authz authorizes every API request.
	authz *authz
	// URL is where the API answers; Kubeconfig is the admin kubeconfig.
	URL        string
	Kubeconfig string
}

// Start brings up the control plane and returns once the API serves. Run
// keeps it going until ctx ends.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("a data directory is required")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	for _, name := range cfg.Controllers.Disable {
		if !slices.Contains(ControllerNames, name) {
			return nil, fmt.Errorf("cannot disable unknown controller %q (known: %s)", name, strings.Join(ControllerNames, ", "))
		}
	}
	if _, err := admission.Without(cfg.DisableAdmissionPlugins); err != nil {
		return nil, fmt.Errorf("cannot disable: %w", err)
	}
	advertised, err := advertiseAddress(cfg)
	if err != nil {
		return nil, err
	}
	if l := cfg.Limits; l.RequestTimeout < 0 || l.MaxRequestsInFlight < 0 || l.MaxMutatingRequestsInFlight < 0 {
		return nil, errors.New("request timeout and in-flight limits cannot be negative")
	}
	if r := cfg.MetricsResolution; r != 0 && r < time.Second {
		return nil, fmt.Errorf("metrics resolution must be at least 1s, not %v", r)
	}
	if n := cfg.Controllers.MaxEndpointsPerSlice; n < 0 || n > 1000 {
		return nil, fmt.Errorf("max endpoints per slice must be between 1 and 1000, not %d", n)
	}
	s := &Server{cfg: cfg, log: log, ready: make(chan struct{})}
	if !cfg.EtcdSnapshots.Disable {
		if _, err := s.snapshotSchedule().Parse(); err != nil {
			return nil, err
		}
	}
	t0 := time.Now()
	if s.certs, err = loadCerts(cfg.DataDir, cfg.BindAddress, advertised, registry.KubernetesServiceIP.AsSlice()); err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	s.pods = newPodConnector(s.certs.ca, s.certs.agentClient, func() (kubernetes.Interface, error) {
		return kubernetes.NewForConfig(s.LoopbackConfig())
	}, log.With("component", "podproxy"))
	s.metrics = metrics.New(metrics.Config{
		Resolution: cfg.MetricsResolution,
		TLS:        &tls.Config{RootCAs: s.certs.ca.Pool(), Certificates: []tls.Certificate{s.certs.agentClient}, MinVersion: tls.VersionTLS12},
		Local:      s.localStats,
		Log:        log.With("component", "metrics"),
	})
	s.ids = newIdentities(s.certs.ca, func() string { return s.URL })
	s.nodeGraph = nodeauth.NewGraph()
	if _, err = join.LoadOrCreateToken(cfg.DataDir, s.certs.ca.CertPEM); err != nil {
		return nil, err
	}
	if s.saSigner, err = serviceaccount.LoadOrCreate(filepath.Join(cfg.DataDir, "tls", "service-account.key")); err != nil {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	tCerts := time.Now()
	if err := s.startStorage(ctx); err != nil {
		return nil, err
	}
	tStorage := time.Now()
	if err := s.startAPI(); err != nil {
		s.closeStorage()
		return nil, err
	}
	log.Debug("control plane started", "certs", tCerts.Sub(t0), "storage", tStorage.Sub(tCerts), "api", time.Since(tStorage))
	return s, nil
}

func (s *Server) startStorage(ctx context.Context) error {
	if s.cfg.DatastoreEndpoint != "" {
		var tlsConfig *tls.Config
		if s.cfg.DatastoreCAFile != "" || s.cfg.DatastoreCertFile != "" || s.cfg.DatastoreKeyFile != "" {
			info := transport.TLSInfo{CertFile: s.cfg.DatastoreCertFile, KeyFile: s.cfg.DatastoreKeyFile, TrustedCAFile: s.cfg.DatastoreCAFile}
			var err error
			if tlsConfig, err = info.ClientConfig(); err != nil {
				return fmt.Errorf("datastore TLS: %w", err)
			}
		}
		c, err := etcd.Dial(ctx, s.cfg.DatastoreEndpoint, tlsConfig, s.log)
		if err != nil {
			return err
		}
		s.client = c
		return nil
	}
	tlsDir := s.certs.etcdServer
	e, err := etcd.Start(ctx, etcd.Config{
		DataDir:   filepath.Join(s.cfg.DataDir, "etcd"),
		ClientURL: "https://127.0.0.1:" + strconv.Itoa(s.cfg.EtcdClientPort),
		PeerURL:   "https://127.0.0.1:" + strconv.Itoa(s.cfg.EtcdPeerPort),
		CertFile:  filepath.Join(tlsDir, "etcd-server.crt"),
		KeyFile:   filepath.Join(tlsDir, "etcd-server.key"),
		TrustedCA: filepath.Join(tlsDir, "ca.crt"),
	}, s.log)
	if err != nil {
		return err
	}
	s.etcd, s.client = e, e.Client
	return nil
}

func (s *Server) closeStorage() {
	if s.etcd != nil {
		s.etcd.Close()
	} else if s.client != nil {
		s.client.Close()
	}
}

func (s *Server) startAPI() error {
	if err := registry.AddConversions(scheme.Scheme); err != nil {
		return fmt.Errorf("conversions: %w", err)
	}
	if err := registry.AddKinds(scheme.Scheme); err != nil {
		return fmt.Errorf("register kinds: %w", err)
	}
	codec := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	resources := registry.Catalog(s.client, codec)
	s.expireEvents(resources)
	if err := s.encryptResources(resources); err != nil {
		return err
	}
	spec, err := openapi.New(openapiResources(resources))
	if err != nil {
		return fmt.Errorf("openapi: %w", err)
	}
	tc, err := managedfields.NewTypeConverter(spec.Definitions(), false)
	if err != nil {
		return fmt.Errorf("server-side apply schemas: %w", err)
	}
	if s.audit, err = auditlog.New(s.cfg.Audit); err != nil {
		return err
	}
	var auditor apiserver.Auditor
	if s.audit != nil {
		auditor = s.audit
	}
	addr := net.JoinHostPort(s.cfg.BindAddress, strconv.Itoa(s.cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.ln = ln
	host := s.cfg.BindAddress
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	s.URL = "https://" + net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	if s.tokens, err = s.newTokenAuth(); err != nil {
		_ = ln.Close()
		return fmt.Errorf("service account token authenticator: %w", err)
	}
	chain, err := s.newAdmission()
	if err != nil {
		_ = ln.Close()
		return err
	}
	// The authorizer's caches read through the loopback client, which
	// needs the URL; they start filling once Run serves.
	if s.authz, err = s.newAuthz(); err != nil {
		_ = ln.Close()
		return fmt.Errorf("authorizer: %w", err)
	}
	s.guardRBACWrites(resources)
	s.api, err = apiserver.New(apiserver.Config{
		Scheme:               scheme.Scheme,
		Resources:            resources,
		OpenAPI:              spec,
		ServiceAccountIssuer: s.saSigner.DiscoveryHandler(),
		TypeConverter:        tc,
		Authenticate:         s.authenticate,
		Authorizer:           s.authz.authorizer,
		Ready:                s.readyCheck,
		Version:              version.Info(),
		Pods:                 s.pods,
		Tokens: func(r serviceaccount.Request, now time.Time) (string, time.Time, error) {
			return s.saSigner.Issue(r, now)
		},
		TokenMaxExpiration:    s.cfg.ServiceAccountMaxTokenExpiration,
		TokenExtendExpiration: !s.cfg.ServiceAccountKeepShortTokens,
		Groups: append([]apiserver.HandlerGroup{{
			GroupVersion: metricsapi.GroupVersion, Resources: metricsapi.Resources(), Handler: s.metrics.Handler(),
		}}, s.reviewGroups()...),
		Limits:    s.cfg.Limits,
		Audit:     auditor,
		Admission: chain,
		Log:       s.log.With("component", "apiserver"),
	})
	if err != nil {
		_ = ln.Close()
		return err
	}
	s.Kubeconfig = s.cfg.WriteKubeconfig
	if s.Kubeconfig == "" {
		s.Kubeconfig = filepath.Join(s.cfg.DataDir, "kubeconfig.yaml")
	}
	return pki.WriteKubeconfig(s.Kubeconfig, pki.Kubeconfig{
		Server: s.URL, CAPEM: s.certs.ca.CertPEM, CertPEM: s.certs.adminCert, KeyPEM: s.certs.adminKey, Name: "default",
	})
}

// authenticate accepts client certificates signed by the cluster CA and
// service account tokens signed by the cluster's key.
func (s *Server) authenticate(r *http.Request) (apiserver.User, bool) {
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return s.tokens.authenticateBearer(r, bearer)
	}
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return apiserver.User{}, false
	}
	cert := r.TLS.VerifiedChains[0][0]
	return apiserver.User{Name: cert.Subject.CommonName, Groups: cert.Subject.Organization}, true
}

func (s *Server) readyCheck(ctx context.Context) error {
	select {
	case <-s.ready:
	default:
		return errors.New("bootstrap not finished")
	}
	if _, err := s.client.Get(ctx, "/flotilla-readyz", clientv3.WithCountOnly()); err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	return nil
}

// LoopbackConfig returns a client configuration for the control plane's
// own components.
func (s *Server) LoopbackConfig() *rest.Config {
	certPEM, keyPEM, _ := pairPEM(filepath.Join(s.cfg.DataDir, "tls", "controller.crt"), filepath.Join(s.cfg.DataDir, "tls", "controller.key"))
	return &rest.Config{
		Host:            s.URL,
		TLSClientConfig: rest.TLSClientConfig{CAData: s.certs.ca.CertPEM, CertData: certPEM, KeyData: keyPEM},
		QPS:             -1, // in-process components are not rate limited
		UserAgent:       "flotilla-server",
	}
}

// Run serves until ctx ends, then shuts down in order.
func (s *Server) Run(ctx context.Context) error {
	// Requests that end get the request timeout (plus a grace to write
	// the handler's own 504) to send their body and receive the answer;
	// the API handler lifts both deadlines for long-running requests.
	var rw time.Duration
	if t := s.cfg.Limits.RequestTimeout; t > 0 {
		rw = t + min(t, apiserver.WriteGrace)
	}
	srv := &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: 30 * time.Second,
		ReadTimeout:       rw,
		WriteTimeout:      rw,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{s.certs.serving},
			ClientAuth:   tls.VerifyClientCertIfGiven,
			ClientCAs:    s.certs.ca.Pool(),
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"h2", "http/1.1"},
		},
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.ServeTLS(s.ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve API: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		s.tokens.run(gctx)
		return nil
	})
	if s.etcd != nil {
		g.Go(func() error {
			select {
			case err := <-s.etcd.Err():
				return fmt.Errorf("embedded etcd: %w", err)
			case <-gctx.Done():
				return nil
			}
		})
	}
	g.Go(func() error {
		s.runAdmissionInformers(gctx)
		return nil
	})
	g.Go(func() error { return s.runEtcdSnapshots(gctx) })
	g.Go(func() error {
		s.runEtcdMaintenance(gctx)
		return nil
	})
	if s.etcd != nil {
		g.Go(func() error {
			s.etcd.GuardSpace(gctx, s.cfg.EtcdMinFreeSpace, s.log.With("component", "etcd-space"))
			return nil
		})
	}
	g.Go(func() error {
		cs, err := kubernetes.NewForConfig(s.LoopbackConfig())
		if err != nil {
			return err
		}
		if err := bootstrap(gctx, cs, s.ln.Addr().(*net.TCPAddr).Port, s.log); err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
		if err := reconcilePolicy(gctx, cs, s.log); err != nil {
			return fmt.Errorf("default RBAC policy: %w", err)
		}
		if err := s.authz.waitForPolicy(gctx); err != nil {
			return err
		}
		close(s.ready)
		return s.runControllers(gctx)
	})
	// Every server (not only the leader) keeps itself in the kubernetes
	// Service's endpoints; before the API stops it takes itself out.
	endpointsDone := make(chan struct{})
	g.Go(func() error {
		defer close(endpointsDone)
		select {
		case <-s.ready:
		case <-gctx.Done():
			return nil
		}
		s.runAPIEndpoints(gctx)
		return nil
	})
	// Every server serves metrics.k8s.io, so every server collects.
	g.Go(func() error {
		select {
		case <-s.ready:
		case <-gctx.Done():
			return nil
		}
		return s.metrics.Run(gctx, s.LoopbackConfig())
	})
	g.Go(func() error {
		select {
		case <-s.ready:
		case <-gctx.Done():
			return nil
		}
		cs, err := kubernetes.NewForConfig(s.LoopbackConfig())
		if err != nil {
			return err
		}
		return s.nodeGraph.Run(gctx, cs)
	})
	if !s.cfg.DisableAgent {
		g.Go(func() error {
			select {
			case <-s.ready:
			case <-gctx.Done():
				return nil
			}
			s.runAgent(gctx)
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		select {
		case <-endpointsDone:
		case <-time.After(5 * time.Second):
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	})
	err := g.Wait()
	s.closeStorage()
	if s.audit != nil {
		_ = s.audit.Close()
	}
	return err
}

// handler routes the join endpoints (authenticated by the join token, not
// a client certificate) and everything else to the API.
func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	var reserved []string
	if !s.cfg.DisableAgent {
		reserved = append(reserved, s.agentNodeName())
	}
	hostname, _ := os.Hostname()
	joinH := join.Handler(join.HandlerConfig{
		CA:            s.certs.ca,
		Token:         func() (join.Token, error) { return join.LoadToken(s.cfg.DataDir) },
		Passwords:     join.SecretPasswords{Client: func() (kubernetes.Interface, error) { return kubernetes.NewForConfig(s.LoopbackConfig()) }},
		ReservedNodes: reserved,
		ServerNames:   []string{strings.ToLower(hostname)},
		ServerIPs:     s.certs.servingIPs,
		Log:           s.log.With("component", "join"),
	})
	mux.Handle(join.CACertsPath, joinH)
	mux.Handle(join.CertPath, joinH)
	mux.Handle(encryptPathPrefix, http.HandlerFunc(s.serveEncryption))
	mux.Handle("/", s.api)
	return mux
}

// runAgent runs this machine's node agent, starting it again when it
// fails: a broken runtime must not take the control plane down with it.
func (s *Server) runAgent(ctx context.Context) {
	cfg := s.cfg.Agent
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(s.cfg.DataDir, "agent")
	}
	cfg.NodeName = s.agentNodeName()
	// The agent acts as its node, as a joined one does: the Node
	// authorizer holds it to its own node's objects.
	rc, err := s.ids.node(cfg.NodeName)
	if err != nil {
		s.log.Error("node agent", "err", err)
		return
	}
	a, err := agent.New(cfg, rc, s.log)
	if err != nil {
		s.log.Error("node agent", "err", err)
		return
	}
	s.pods.agent.Store(a)
	for {
		err := a.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		s.log.Error("node agent stopped; restarting in 5s", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

// NodeAuthorizer decides node agents' requests (system:node:NAME in
// system:nodes) from the pods bound to each node; the server's
// authorizer puts it between the privileged groups and RBAC.
func (s *Server) NodeAuthorizer() *nodeauth.Authorizer { return nodeauth.New(s.nodeGraph) }

// agentNodeName is the node name of the in-process agent.
func (s *Server) agentNodeName() string {
	if s.cfg.Agent.NodeName != "" {
		return s.cfg.Agent.NodeName
	}
	return defaultNodeName()
}

// defaultNodeName is the host name in lower case, as the kubelet's.
func defaultNodeName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "flotilla-node"
	}
	return strings.ToLower(h)
}

// localStats is the stats handler of this process's node agent when it
// runs node; nil for any other node.
func (s *Server) localStats(node string) http.Handler {
	if a := s.pods.agent.Load(); a != nil && a.NodeName() == node {
		return a.StatsHandler()
	}
	return nil
}

// Metrics is the metrics service (the benchmark reads its rounds).
func (s *Server) Metrics() *metrics.Service { return s.metrics }

// Ready is closed once bootstrap objects exist.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// EtcdClient is the server's etcd client (tests compact through it).
func (s *Server) EtcdClient() *clientv3.Client { return s.client }
