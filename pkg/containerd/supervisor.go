package containerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/flotilla-io/flotilla/pkg/cri"
)

// Config places and configures the supervised containerd.
type Config struct {
	Dir          string // containerd's root, state, socket and config live here
	SandboxImage string // an image already imported (the pause image)
	CNIBinDir    string // where the CNI plugins are installed
	CNIConfDir   string // where the agent writes the network config
	Binary       string // containerd executable; "" = looked up on PATH
	// RegistryConfigDir holds containerd's per-registry hosts.toml files
	// (DIR/HOST[:PORT]/hosts.toml: mirrors, plain HTTP, CAs); read at
	// every pull, so it can change while containerd runs.
	RegistryConfigDir string
	// RuntimeAliases are more CRI runtime handlers, each running runc
	// exactly as the default handler does. No conformant node needs one;
	// test clusters add upstream's "test-handler" this way, for the e2e
	// suite's RuntimeClass specs.
	RuntimeAliases []string
}

// Socket is the CRI and containerd API socket under dir.
func Socket(dir string) string { return filepath.Join(dir, "containerd.sock") }

// Supervisor owns the containerd child process.
type Supervisor struct {
	cfg    Config
	log    *slog.Logger
	cmd    *exec.Cmd // touched only by the goroutine that runs Start, then Run
	pid    atomic.Int64
	exited chan error
	// Client is a CRI client of the supervised containerd; it reconnects
	// by itself across restarts.
	Client *cri.Client
}

// Start renders the config, starts containerd and waits until its CRI
// answers.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Supervisor, error) {
	if cfg.Binary == "" {
		bin, err := exec.LookPath("containerd")
		if err != nil {
			return nil, fmt.Errorf("containerd is not installed (make run installs it): %w", err)
		}
		cfg.Binary = bin
	}
	for _, d := range []string{cfg.Dir, cfg.CNIConfDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	if err := os.WriteFile(filepath.Join(cfg.Dir, "config.toml"), []byte(renderConfig(cfg)), 0o600); err != nil {
		return nil, fmt.Errorf("write containerd config: %w", err)
	}
	client, err := cri.Dial(Socket(cfg.Dir))
	if err != nil {
		return nil, err
	}
	s := &Supervisor{cfg: cfg, log: log.With("component", "containerd"), Client: client}
	if err := s.spawn(ctx); err != nil {
		client.Close()
		return nil, err
	}
	return s, nil
}

// spawn starts one containerd process and waits for its CRI.
func (s *Supervisor) spawn(ctx context.Context) error {
	_ = os.Remove(Socket(s.cfg.Dir)) // a stale socket from a killed run
	logf, err := os.OpenFile(filepath.Join(s.cfg.Dir, "containerd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("containerd log: %w", err)
	}
	cmd := exec.Command(s.cfg.Binary, "--config", filepath.Join(s.cfg.Dir, "config.toml"))
	cmd.Stdout, cmd.Stderr = logf, logf
	// containerd goes when the agent goes; the pods' shims stay.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start containerd: %w", err)
	}
	exited := make(chan error, 1)
	go func() {
		exited <- cmd.Wait()
		logf.Close()
	}()
	s.cmd, s.exited = cmd, exited
	s.pid.Store(int64(cmd.Process.Pid))
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ready := make(chan error, 1)
	go func() {
		v, err := s.Client.WaitReady(wctx)
		if err == nil {
			s.log.Info("containerd ready", "pid", cmd.Process.Pid, "runtime", v.RuntimeName, "version", v.RuntimeVersion)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			s.stop()
			return fmt.Errorf("containerd (log %s): %w", filepath.Join(s.cfg.Dir, "containerd.log"), err)
		}
		return nil
	case err := <-exited:
		cancel()
		<-ready
		return fmt.Errorf("containerd exited during start (%v); see %s", err, filepath.Join(s.cfg.Dir, "containerd.log"))
	}
}

// Run restarts containerd whenever it exits, with a growing pause, until
// ctx ends; then it stops the child.
func (s *Supervisor) Run(ctx context.Context) error {
	defer s.Client.Close()
	backoff := time.Second
	for {
		select {
		case <-ctx.Done():
			s.stop()
			return nil
		case err := <-s.exited:
			s.log.Warn("containerd exited; restarting", "err", err, "in", backoff)
		}
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 30*time.Second)
			if err := s.spawn(ctx); err != nil {
				if errors.Is(err, context.Canceled) {
					return nil
				}
				s.log.Error("containerd restart failed", "err", err)
				continue
			}
			backoff = time.Second
			break
		}
	}
}

// Pid is the running containerd's process id.
func (s *Supervisor) Pid() int { return int(s.pid.Load()) }

// stop ends the child: SIGTERM, then SIGKILL after 10 s.
func (s *Supervisor) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

func renderConfig(cfg Config) string {
	q := strconv.Quote
	return `# Written by the flotilla agent at every start; edits are lost.
version = 2
root = ` + q(filepath.Join(cfg.Dir, "root")) + `
state = ` + q(filepath.Join(cfg.Dir, "state")) + `

[grpc]
  address = ` + q(Socket(cfg.Dir)) + `

[ttrpc]
  address = ` + q(Socket(cfg.Dir)+".ttrpc") + `

[plugins."io.containerd.internal.v1.opt"]
  path = ` + q(filepath.Join(cfg.Dir, "opt")) + `

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ` + q(cfg.SandboxImage) + `
  # Negative oom_score_adj is refused on these machines; without this the
  # sandbox fails to start with an opaque runc error.
  restrict_oom_score_adj = true
  enable_selinux = false
  # exec/attach/port-forward URLs: loopback only, the agent proxies to them.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_tls_streaming = false

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
` + runcRuntime("runc") + runtimeAliases(cfg.RuntimeAliases) + `
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ` + q(cfg.CNIBinDir) + `
    conf_dir = ` + q(cfg.CNIConfDir) + `
    max_conf_num = 1
` + registrySection(cfg.RegistryConfigDir)
}

// runcRuntime declares the CRI runtime handler name as runc.
func runcRuntime(name string) string {
	return `
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.` + name + `]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.` + name + `.options]
        SystemdCgroup = false
`
}

func runtimeAliases(names []string) string {
	var out string
	for _, n := range names {
		if n != "runc" {
			out += runcRuntime(n)
		}
	}
	return out
}

func registrySection(dir string) string {
	if dir == "" {
		return ""
	}
	return `
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = ` + strconv.Quote(dir) + `
`
}
