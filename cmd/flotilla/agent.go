package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/flotilla-io/flotilla/pkg/agent"
	"github.com/flotilla-io/flotilla/pkg/join"
)

// newAgentCommand joins this machine to a cluster as a node.
func newAgentCommand() *cobra.Command {
	var af agentFlags
	var server, token, tokenFile, dataDir string
	var port int
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a node agent that joins another machine's server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if server == "" {
				return errors.New("--server is required")
			}
			if token == "" && tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return err
				}
				token = strings.TrimSpace(string(b))
			}
			if token == "" {
				return errors.New("--token (or --token-file) is required: the server writes it to DATA-DIR/token")
			}
			cfg, err := af.config()
			if err != nil {
				return err
			}
			if cfg.NodeName == "" {
				h, _ := os.Hostname()
				cfg.NodeName = strings.ToLower(h)
			}
			cfg.DataDir = filepath.Join(dataDir, "agent")
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := slog.Default()
			if cfg.NodeIP == "" {
				cfg.NodeIP = agent.DefaultNodeIP(cfg.PodBridge)
			}
			creds, err := join.Bootstrap(ctx, server, token, cfg.NodeName, []net.IP{net.ParseIP(cfg.NodeIP)}, filepath.Join(dataDir, "tls"))
			if err != nil {
				return fmt.Errorf("join %s: %w", server, err)
			}
			rc := creds.Client
			caPEM, err := os.ReadFile(rc.CAFile)
			if err != nil {
				return err
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(caPEM)
			cfg.Stream = &agent.StreamServing{Port: port, CertFile: creds.ServingCertFile, KeyFile: creds.ServingKeyFile, ClientCA: pool}
			a, err := agent.New(cfg, rc, log)
			if err != nil {
				return err
			}
			log.Info("joining", "server", server, "node", cfg.NodeName)
			for {
				err := a.Run(ctx)
				if ctx.Err() != nil {
					return nil
				}
				log.Error("node agent stopped; restarting in 5s", "err", err)
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(5 * time.Second):
				}
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "URL of the server to join, e.g. https://10.0.0.1:6443")
	f.StringVar(&token, "token", "", "join token (the server keeps it in DATA-DIR/token)")
	f.StringVar(&tokenFile, "token-file", "", "file holding the join token")
	f.StringVar(&dataDir, "data-dir", "/var/lib/flotilla-agent", "directory for the agent's credentials, containerd and pods")
	f.IntVar(&port, "agent-port", 10250, "port where the server reaches this agent for logs, exec, attach and port-forward")
	af.register(f)
	return cmd
}
