package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/flotilla-io/flotilla/pkg/agent/images"
	"github.com/flotilla-io/flotilla/pkg/agent/podworker"
	"github.com/flotilla-io/flotilla/pkg/agent/prober"
	"github.com/flotilla-io/flotilla/pkg/agent/staticpods"
	"github.com/flotilla-io/flotilla/pkg/agent/stats"
	"github.com/flotilla-io/flotilla/pkg/agent/status"
	"github.com/flotilla-io/flotilla/pkg/agent/stream"
	"github.com/flotilla-io/flotilla/pkg/containerd"
	"github.com/flotilla-io/flotilla/pkg/cri"
	builtin "github.com/flotilla-io/flotilla/pkg/images"
)

// Run registers the node and runs its pods until ctx ends. It may be
// called again after it returns.
func (a *Agent) Run(ctx context.Context) error {
	if err := os.MkdirAll(a.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("agent dir: %w", err)
	}
	// Stopped last, after every part that records Events.
	defer a.events.start(ctx, a.cs, a.cfg.NodeName)()
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
	h := a.checkRuntime(ctx)
	a.health.Store(&h)
	wg.Add(2)
	go func() {
		defer wg.Done()
		a.watchRuntime(ctx)
	}()
	go func() {
		defer wg.Done()
		a.pressure.Run(ctx)
	}()
	if err := a.registerNode(ctx); err != nil {
		return err
	}
	podCIDR, err := a.waitPodCIDR(ctx)
	if err != nil {
		return err
	}
	a.log.Info("node registered", "runtime", a.runtimeVersion, "podCIDR", podCIDR)
	if err := a.startNetwork(ctx, &wg, podCIDR); err != nil {
		return err
	}
	if a.cfg.RuntimeEndpoint == "" {
		if err := a.runtime.WaitNetworkReady(ctx); err != nil {
			return err
		}
	}
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
	return a.runPods(ctx, a.runtime)
}

// runPods builds the pod machinery on the run's runtime and runs it until
// ctx ends: the pod worker, with the prober, the status manager and the
// image puller of this run, and the static pod sources feeding it.
func (a *Agent) runPods(ctx context.Context, rt *cri.Client) error {
	probes := prober.New(rt.Runtime, a.events, a.log, a.nodeIP)
	puller := images.NewPuller(rt.Images, a.objects, a.events, a.log)
	var leases string
	if a.cfg.RuntimeEndpoint == "" {
		// The host-local leases of the pod network this agent writes.
		leases = filepath.Join(filepath.Dir(a.cniConfDir()), "networks")
	}
	w := podworker.New(podworker.Config{
		NodeName:      a.cfg.NodeName,
		Client:        a.cs,
		Runtime:       rt.Runtime,
		Status:        status.New(a.cs.CoreV1(), a.nodeIP, probes),
		Probes:        probes,
		Volumes:       a.volumes,
		Configs:       a.configs,
		Images:        puller,
		Static:        a.static,
		Mirrors:       a.mirrors,
		Events:        a.events,
		Registered:    a.nodeObject,
		Sysctls:       a.sysctls,
		States:        map[string]podworker.PodState{"image_pull_backoff": puller, "probe_workers": probes},
		AddressLeases: leases,
		Housekept:     a.metrics.housekept,
		Log:           a.log,
	})
	a.metrics.worker.Store(w)
	gc := &images.GC{Images: rt.Images, Containers: rt.Runtime, Fs: a.imageFsUsage,
		HighThreshold: a.cfg.Pressure.ImageGCHighThreshold, LowThreshold: a.cfg.Pressure.ImageGCLowThreshold, Log: a.log}
	a.imageGC.Store(gc)
	defer a.imageGC.Store(nil)
	// Whatever ends this run ends its goroutines: cancel first, then wait
	// for the static pod watcher, the image collector and the probers.
	ctx, cancel := context.WithCancel(ctx)
	// Probe results change readiness: the pod's status is rewritten.
	defer probes.Start(ctx, w.Enqueue)()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	// The static pods are known before the worker judges mirror pods as
	// orphans.
	sw := staticpods.NewWatcher(a.static, staticpods.WatcherConfig{
		Dir: a.cfg.StaticPodPath, URL: a.cfg.ManifestURL, NodeName: a.cfg.NodeName, Events: a.events, Log: a.log,
		Changed: func(keys []string) {
			for _, k := range keys {
				w.Enqueue(k)
			}
		},
	})
	sw.Load(ctx)
	wg.Add(3)
	go func() {
		defer wg.Done()
		gc.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		sw.Run(ctx)
	}()
	// The Services containers' env vars name, cached for this run.
	go func() {
		defer wg.Done()
		a.services.Run(ctx)
	}()
	return w.Run(ctx)
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

// statsRuntime is the runtime the usage collector asks, nil before Run
// has one.
func (a *Agent) statsRuntime() stats.Runtime {
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

// cniConfDir is where the agent's own containerd reads the pod network's
// CNI config.
func (a *Agent) cniConfDir() string { return filepath.Join(a.cfg.DataDir, "cni", "net.d") }

// startContainerd starts the supervised containerd and imports the
// sandbox image (and busybox, so `image: busybox` runs on a machine that
// reaches no registry). The CNI config follows once the node's pod range
// is known; containerd watches its directory and picks it up.
func (a *Agent) startContainerd(ctx context.Context) (*containerd.Supervisor, error) {
	if err := os.MkdirAll(a.cniConfDir(), 0o755); err != nil {
		return nil, err
	}
	dir := filepath.Join(a.cfg.DataDir, "containerd")
	sup, err := containerd.Start(ctx, containerd.Config{Dir: dir, SandboxImage: builtin.PauseRef, CNIBinDir: a.cfg.CNIBinDir, CNIConfDir: a.cniConfDir(), RegistryConfigDir: a.RegistryConfigDir(),
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
