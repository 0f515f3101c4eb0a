package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/flotilla-io/flotilla/pkg/extensions"
	"github.com/flotilla-io/flotilla/pkg/sim"
)

// newSimCommand runs simulated nodes against a cluster, for testing and
// benchmarking the scheduler and controllers at scale.
func newSimCommand() *cobra.Command {
	var (
		kubeconfig, cpu, memory string
		labels, taints          []string
		qps                     float32
		burst                   int
		cfg                     sim.Config
		token, tokenFile        string
		stats                   sim.StatsConfig
	)
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Register simulated nodes that run the pods bound to them without running anything",
		Long: `Registers N nodes named PREFIX-0 … PREFIX-(N-1) that renew their leases and
report Ready, and moves the pods bound to them to Running without running any
container. A pod annotated ` + sim.AnnotationExitAfter + `: "2s" (and optionally
` + sim.AnnotationExitCode + `: "1") has its containers exit after that time.
Stopping the command stops the leases; the nodes stay unless --delete-nodes-on-exit.

With the server's join token (--token or --token-file, as an agent joins) the
nodes also serve resource usage as agents do (/metrics/resource and
/stats/summary, HTTPS on --stats-address, to the API server only), each Node
announcing its endpoint in ` + extensions.StatsEndpointAnnotation + `. A pod reports the
usage of its annotations ` + sim.AnnotationCPU + ` and ` + sim.AnnotationMemory + `: a quantity
("250m", "64Mi") or a ramp FROM->TO/DURATION ("100m->900m/60s": linear from
the pod's start, then holding), split evenly between its containers; none is
0. A node uses its pods' sum plus ` + sim.NodeBaseCPU.String() + ` CPU and ` + sim.NodeBaseMemory.String() + ` memory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if kubeconfig == "" {
				return errors.New("--kubeconfig is required")
			}
			var err error
			if cfg.CPU, err = resource.ParseQuantity(cpu); err != nil {
				return fmt.Errorf("--cpu %q: %w", cpu, err)
			}
			if cfg.Memory, err = resource.ParseQuantity(memory); err != nil {
				return fmt.Errorf("--memory %q: %w", memory, err)
			}
			if cfg.Labels, err = parseSimLabels(labels); err != nil {
				return err
			}
			if cfg.Taints, err = parseSimTaints(taints); err != nil {
				return err
			}
			rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("--kubeconfig %s: %w", kubeconfig, err)
			}
			if token == "" && tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("--token-file: %w", err)
				}
				token = strings.TrimSpace(string(b))
			}
			if token != "" {
				stats.Server, stats.Token = rc.Host, token
				cfg.Stats = &stats
			}
			rc.QPS, rc.Burst, rc.UserAgent = qps, burst, "flotilla-sim"
			cs, err := kubernetes.NewForConfig(rc)
			if err != nil {
				return fmt.Errorf("client: %w", err)
			}
			log := slog.Default()
			s, err := sim.New(cs, cfg, log)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log.Info("starting simulated nodes", "server", rc.Host, "nodes", cfg.Nodes, "prefix", cfg.NamePrefix)
			return s.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster to join (required)")
	f.IntVar(&cfg.Nodes, "nodes", 1, "number of simulated nodes")
	f.StringVar(&cfg.NamePrefix, "name-prefix", sim.DefaultNamePrefix, "nodes are named PREFIX-0 … PREFIX-(N-1)")
	f.StringVar(&cpu, "cpu", "32", "CPU capacity of each node")
	f.StringVar(&memory, "memory", "256Gi", "memory capacity of each node")
	f.IntVar(&cfg.Pods, "pods", sim.DefaultPods, "pods each node accepts")
	f.StringArrayVar(&labels, "label", nil, "label KEY=VALUE for every node (repeatable)")
	f.StringArrayVar(&taints, "taint", nil, "taint KEY[=VALUE]:EFFECT for every new node (repeatable)")
	f.Float32Var(&qps, "qps", 500, "API requests per second this process may make")
	f.IntVar(&burst, "burst", 1000, "API request burst this process may make")
	f.DurationVar(&cfg.RestartDelay, "restart-delay", sim.DefaultRestartDelay, "how long exited containers that restart stay terminated")
	f.IntVar(&cfg.Workers, "workers", sim.DefaultWorkers, "concurrent API writers for pods and for heartbeats")
	f.BoolVar(&cfg.DeleteNodesOnExit, "delete-nodes-on-exit", false, "delete the nodes and their leases when stopping")
	f.StringVar(&token, "token", os.Getenv("FLOTILLA_TOKEN"), "the server's join token (DATA-DIR/token; env FLOTILLA_TOKEN): with it the nodes serve resource usage")
	f.StringVar(&tokenFile, "token-file", "", "file holding the join token")
	f.StringVar(&stats.Address, "stats-address", "127.0.0.1:0", "IP:PORT where the nodes' usage endpoints listen")
	f.StringVar(&stats.Dir, "stats-cert-dir", "", "where to keep the usage endpoints' certificate (default: a temporary directory)")
	return cmd
}

func parseSimLabels(list []string) (map[string]string, error) {
	labels := map[string]string{}
	for _, l := range list {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--label %q: want KEY=VALUE", l)
		}
		labels[k] = v
	}
	return labels, nil
}

func parseSimTaints(list []string) ([]corev1.Taint, error) {
	var taints []corev1.Taint
	for _, t := range list {
		kv, effect, ok := strings.Cut(t, ":")
		k, v, _ := strings.Cut(kv, "=")
		switch corev1.TaintEffect(effect) {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			ok = false
		}
		if !ok || k == "" {
			return nil, fmt.Errorf("--taint %q: want KEY[=VALUE]:NoSchedule|PreferNoSchedule|NoExecute", t)
		}
		taints = append(taints, corev1.Taint{Key: k, Value: v, Effect: corev1.TaintEffect(effect)})
	}
	return taints, nil
}
