package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/flotilla-io/flotilla/pkg/agent/admission"
	"github.com/flotilla-io/flotilla/pkg/agent/images"
	"github.com/flotilla-io/flotilla/pkg/agent/staticpods"
	"github.com/flotilla-io/flotilla/pkg/agent/stream"
	"github.com/flotilla-io/flotilla/pkg/containerd"
	"github.com/flotilla-io/flotilla/pkg/cri"
	builtin "github.com/flotilla-io/flotilla/pkg/images"
)

// Config is what one node agent needs; the flags of `flotilla agent` and
// `flotilla server` fill it.
type Config struct {
	NodeName string
	DataDir  string // the agent's own directory (containerd, CNI, pod logs)
	// RuntimeEndpoint is an existing CRI socket; "" starts and supervises
	// the agent's own containerd under DataDir.
	RuntimeEndpoint string
	Labels          map[string]string
	Taints          []corev1.Taint
	MaxPods         int
	PodCIDR         netip.Prefix // this node's pod addresses
	CNIBinDir       string
	// StaticPodPath is a directory of pod manifests and ManifestURL a URL
	// serving them: static pods this node runs without the API server.
	StaticPodPath string
	ManifestURL   string
	// LogMaxSize (bytes) and LogMaxFiles bound each container's logs.
	LogMaxSize  int64
	LogMaxFiles int
	// NodeIP is the address the node reports ("" = the first global
	// unicast IPv4 address of the machine).
	NodeIP string
	// Stream, when set, is where the agent serves the API server's
	// logs, exec, attach and port-forward requests for its pods. An agent
	// running inside the server needs none.
	Stream *StreamServing
	// RuntimeHandlerAliases are more runtime handlers of the agent's own
	// containerd, each running runc as the default one does (test
	// clusters add upstream's "test-handler" for RuntimeClass specs).
	RuntimeHandlerAliases []string
}

// StreamServing is the streaming endpoint of an agent on another machine
// than the server.
type StreamServing = stream.Serving

// The streaming endpoint's names the API server shares with its agents.
const (
	// APIServerClientName is the common name of the certificate the API
	// server presents to node agents; it is the only client an agent's
	// streaming endpoint serves.
	APIServerClientName = stream.APIServerClientName
	// StreamPath is where an agent serves a pod's streaming subresource:
	// StreamPath + NAMESPACE/NAME/SUBRESOURCE, with the API request's query.
	StreamPath = stream.Path
	// StreamPodUIDHeader carries the UID of the pod the API server
	// resolved, so the agent serves that pod and not a namesake created
	// since.
	StreamPodUIDHeader = stream.PodUIDHeader
)

// Agent runs one node.
type Agent struct {
	cfg            Config
	log            *slog.Logger
	cs             kubernetes.Interface
	runtime        *cri.Client
	runtimeVersion string
	nodeIP         string
	started        metav1.Time

	events  *eventRecorder
	objects apiObjects
	static  *staticpods.Table // pods of StaticPodPath and ManifestURL
	mirrors *staticpods.Mirrors
	streams *stream.Server
	images  *images.Puller // set by Run

	mu       sync.Mutex
	backoffs map[string]*restartBackoff // container key -> back-off
	volumes  volumeRefresher

	probes prober // liveness, readiness and startup probers with their results

	admission *admission.Admitter // set by runPods before the first sync
}

// New checks the configuration and prepares an agent; Run starts it.
func New(cfg Config, rc *rest.Config, log *slog.Logger) (*Agent, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("agent: a node name is required")
	}
	if cfg.MaxPods == 0 {
		cfg.MaxPods = 110
	}
	if !cfg.PodCIDR.IsValid() {
		cfg.PodCIDR = netip.MustParsePrefix("10.42.0.0/24")
	}
	if cfg.CNIBinDir == "" {
		cfg.CNIBinDir = "/usr/lib/cni"
	}
	if cfg.LogMaxSize <= 0 {
		cfg.LogMaxSize = stream.DefaultLogMaxSize
	}
	if cfg.LogMaxFiles < 2 {
		cfg.LogMaxFiles = stream.DefaultLogMaxFiles
	}
	if cfg.NodeIP == "" {
		cfg.NodeIP = hostIP()
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	log = log.With("component", "agent", "node", cfg.NodeName)
	a := &Agent{cfg: cfg, log: log, cs: cs, nodeIP: cfg.NodeIP, backoffs: map[string]*restartBackoff{},
		events:  &eventRecorder{cs: cs, node: cfg.NodeName, log: log},
		objects: apiObjects{cs: cs},
		static:  &staticpods.Table{},
		mirrors: staticpods.NewMirrors(cs, cfg.NodeName, log),
	}
	a.streams = stream.New(stream.Config{NodeName: cfg.NodeName, DataDir: cfg.DataDir, Pods: cs.CoreV1(), Runtime: a.streamRuntime, Static: a.static, Log: log})
	return a, nil
}

// ServePod serves a pod's log, exec, attach or portforward request for
// the API server in the agent's own process.
func (a *Agent) ServePod(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, subresource string) error {
	return a.streams.ServePod(w, r, pod, subresource)
}

// RegistryConfigDir is where the agent's own containerd reads registry
// settings: one directory per registry host holding a containerd
// hosts.toml (plain HTTP, mirrors, CA files).
func (a *Agent) RegistryConfigDir() string { return filepath.Join(a.cfg.DataDir, "registries.d") }

// NodeName is the node this agent runs.
func (a *Agent) NodeName() string { return a.cfg.NodeName }

// Run registers the node and runs its pods until ctx ends. It may be
// called again after it returns.
func (a *Agent) Run(ctx context.Context) error {
	if err := os.MkdirAll(a.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("agent dir: %w", err)
	}
	a.started = metav1.Now()
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if a.cfg.RuntimeEndpoint == "" {
		sup, err := a.startContainerd(ctx)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = sup.Run(ctx)
		}()
		a.setRuntime(sup.Client)
	} else {
		rt, err := cri.Dial(a.cfg.RuntimeEndpoint)
		if err != nil {
			return err
		}
		defer rt.Close()
		a.setRuntime(rt)
	}
	v, err := a.runtime.WaitReady(ctx)
	if err != nil {
		return err
	}
	a.runtimeVersion = v.RuntimeName + "://" + v.RuntimeVersion
	if err := a.registerNode(ctx); err != nil {
		return err
	}
	a.log.Info("node registered", "runtime", a.runtimeVersion, "podCIDR", a.cfg.PodCIDR)
	if a.cfg.Stream != nil {
		srv, err := a.streams.TLSServer(a.cfg.Stream)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.streams.Serve(ctx, srv)
		}()
	}
	a.images = images.NewPuller(a.runtime.Images, a.objects, a.log)
	rot := stream.NewRotator(a.runtime.Runtime, a.cfg.LogMaxSize, a.cfg.LogMaxFiles, a.log)
	wg.Add(1)
	go func() {
		defer wg.Done()
		rot.Run(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.heartbeat(ctx)
	}()
	return a.runPods(ctx)
}

func (a *Agent) setRuntime(c *cri.Client) {
	a.mu.Lock()
	a.runtime = c
	a.mu.Unlock()
}

// streamRuntime is the runtime the streaming endpoints use, nil before
// Run has one.
func (a *Agent) streamRuntime() stream.Runtime {
	if c := a.runtimeClient(); c != nil {
		return c.Runtime
	}
	return nil
}

// runtimeClient is the CRI client for request handlers, nil before Run.
func (a *Agent) runtimeClient() *cri.Client {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.runtime
}

// startContainerd writes the CNI config, starts the supervised containerd
// and imports the sandbox image (and busybox, so `image: busybox` runs on
// a machine that reaches no registry).
func (a *Agent) startContainerd(ctx context.Context) (*containerd.Supervisor, error) {
	cniConf := filepath.Join(a.cfg.DataDir, "cni", "net.d")
	if err := writeCNIConfig(cniConf, a.cfg.PodCIDR); err != nil {
		return nil, err
	}
	dir := filepath.Join(a.cfg.DataDir, "containerd")
	sup, err := containerd.Start(ctx, containerd.Config{Dir: dir, SandboxImage: builtin.PauseRef, CNIBinDir: a.cfg.CNIBinDir, CNIConfDir: cniConf, RegistryConfigDir: a.RegistryConfigDir(),
		RuntimeAliases: a.cfg.RuntimeHandlerAliases}, a.log)
	if err != nil {
		return nil, err
	}
	sock := containerd.Socket(dir)
	if err := builtin.ImportArchive(ctx, sock, "k8s.io", builtin.Pause); err != nil {
		return nil, fmt.Errorf("import pause image: %w", err)
	}
	if _, err := os.Stat("/bin/busybox"); err == nil {
		if err := builtin.ImportArchive(ctx, sock, "k8s.io", func(w io.Writer) error { return builtin.Busybox(w, "/bin/busybox") }); err != nil {
			a.log.Warn("import busybox image", "err", err)
		}
	}
	return sup, nil
}
