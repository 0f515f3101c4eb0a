package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/flotilla-io/flotilla/pkg/containerd"
	"github.com/flotilla-io/flotilla/pkg/cri"
	"github.com/flotilla-io/flotilla/pkg/images"
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
}

// Agent runs one node.
type Agent struct {
	cfg            Config
	log            *slog.Logger
	cs             kubernetes.Interface
	runtime        *cri.Client
	runtimeVersion string
	nodeIP         string
	started        metav1.Time

	mu       sync.Mutex
	backoffs map[string]*restartBackoff // container key -> back-off
}

// Run registers the node and runs its pods until ctx ends.
func Run(ctx context.Context, cfg Config, rc *rest.Config, log *slog.Logger) error {
	if cfg.NodeName == "" {
		return errors.New("agent: a node name is required")
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
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("agent dir: %w", err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	a := &Agent{cfg: cfg, log: log.With("component", "agent", "node", cfg.NodeName), cs: cs, nodeIP: hostIP(), started: metav1.Now(), backoffs: map[string]*restartBackoff{}}

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.RuntimeEndpoint == "" {
		sup, err := a.startContainerd(ctx)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = sup.Run(ctx)
		}()
		a.runtime = sup.Client
	} else {
		if a.runtime, err = cri.Dial(cfg.RuntimeEndpoint); err != nil {
			return err
		}
		defer a.runtime.Close()
	}
	v, err := a.runtime.WaitReady(ctx)
	if err != nil {
		return err
	}
	a.runtimeVersion = v.RuntimeName + "://" + v.RuntimeVersion
	if err := a.registerNode(ctx); err != nil {
		return err
	}
	a.log.Info("node registered", "runtime", a.runtimeVersion, "podCIDR", cfg.PodCIDR)
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.heartbeat(ctx)
	}()
	return a.runPods(ctx)
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
	sup, err := containerd.Start(ctx, containerd.Config{Dir: dir, SandboxImage: images.PauseRef, CNIBinDir: a.cfg.CNIBinDir, CNIConfDir: cniConf}, a.log)
	if err != nil {
		return nil, err
	}
	sock := containerd.Socket(dir)
	if err := images.ImportArchive(ctx, sock, "k8s.io", images.Pause); err != nil {
		return nil, fmt.Errorf("import pause image: %w", err)
	}
	if _, err := os.Stat("/bin/busybox"); err == nil {
		if err := images.ImportArchive(ctx, sock, "k8s.io", func(w io.Writer) error { return images.Busybox(w, "/bin/busybox") }); err != nil {
			a.log.Warn("import busybox image", "err", err)
		}
	}
	return sup, nil
}
