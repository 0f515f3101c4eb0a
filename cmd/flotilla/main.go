// Command flotilla is the single binary of Flotilla: `flotilla server`
// runs the control plane, and further subcommands join nodes and manage
// images.
package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/flotilla-io/flotilla/pkg/etcd"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/flotilla-io/flotilla/pkg/admission"
	"github.com/flotilla-io/flotilla/pkg/apiserver"
	"github.com/flotilla-io/flotilla/pkg/controller/podgc"
	"github.com/flotilla-io/flotilla/pkg/etcdsnapshot"
	"github.com/flotilla-io/flotilla/pkg/server"
	"github.com/flotilla-io/flotilla/pkg/version"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	var logLevel string
	root := &cobra.Command{
		Use:           "flotilla",
		Short:         "Flotilla: a Kubernetes-compatible pod orchestrator in one binary",
		SilenceUsage:  true,
		SilenceErrors: false,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			slog.SetDefault(log)
			klog.SetSlogLogger(log.With("component", "client-go"))
			return nil
		},
	}
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.AddCommand(newServerCommand(), newAgentCommand(), newVersionCommand(), newImagesCommand(), newSimCommand(), newSecretsEncryptCommand(), newTokenCommand(), newEtcdSnapshotCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			v := version.Info()
			fmt.Fprintf(cmd.OutOrStdout(), "flotilla version %s (Kubernetes API %s.%s, %s, %s)\n", version.Flotilla(), v.Major, v.Minor, v.GoVersion, v.Platform)
		},
	}
}

func newServerCommand() *cobra.Command {
	cfg := server.Config{}
	var af agentFlags
	extendTokens := true
	var compactionInterval time.Duration
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: API server, etcd, scheduler, controllers (and a node agent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := slog.Default()
			var err error
			if cfg.Agent, err = af.config(); err != nil {
				return err
			}
			cfg.Controllers.ClusterCIDR = cfg.Agent.ClusterCIDR
			if compactionInterval == 0 {
				cfg.EtcdMaintenance.CompactionInterval = -1 // off
			} else {
				cfg.EtcdMaintenance.CompactionInterval = compactionInterval
			}
			if cfg.ClusterReset.RestorePath != "" && !cfg.ClusterReset.Reset {
				return errors.New("--cluster-reset-restore-path needs --cluster-reset")
			}
			if cfg.ClusterReset.Reset {
				// As k3s: reset the embedded etcd's data, then stop; the
				// server is started again without the flag.
				old, err := server.ClusterReset(cfg, log)
				if err != nil {
					return fmt.Errorf("cluster reset: %w", err)
				}
				if old != "" {
					log.Info("old etcd data kept", "path", old)
				}
				log.Info(server.ClusterResetMessage)
				fmt.Fprintln(cmd.OutOrStdout(), server.ClusterResetMessage)
				return nil
			}
			cfg.ServiceAccountKeepShortTokens = !extendTokens
			if cfg.Controllers.TerminatedPodGCThreshold <= 0 {
				cfg.Controllers.TerminatedPodGCThreshold = -1 // upstream: 0 or less turns it off
			}
			cfg.Controllers.DisableIngress = af.disableIngress
			if !af.disableDNS {
				cfg.Controllers.ClusterDNS = cfg.Agent.ClusterDNS
			}
			s, err := server.Start(ctx, cfg, log)
			if err != nil {
				return err
			}
			log.Info("API server listening", "url", s.URL, "kubeconfig", s.Kubeconfig)
			return s.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "/var/lib/flotilla", "directory for etcd data, certificates and the kubeconfig")
	f.StringVar(&cfg.BindAddress, "bind-address", "0.0.0.0", "address the API server listens on (pods reach it through the kubernetes Service at the advertised address, so not a loopback one)")
	f.IntVar(&cfg.Port, "https-listen-port", 6443, "HTTPS port of the API server")
	f.StringVar(&cfg.AdvertiseAddress, "advertise-address", "", "address the kubernetes Service's endpoints name for this server (default: the bind address, or the host's default address when bound to 0.0.0.0)")
	f.StringVar(&cfg.WriteKubeconfig, "write-kubeconfig", "", "where to write the admin kubeconfig (default DATA-DIR/kubeconfig.yaml)")
	f.StringVar(&cfg.DatastoreEndpoint, "datastore-endpoint", "", "comma-separated etcd URLs of an external cluster (empty: embedded etcd)")
	f.StringVar(&cfg.DatastoreCAFile, "datastore-cafile", "", "CA bundle that signs the external etcd's serving certificates")
	f.StringVar(&cfg.DatastoreCertFile, "datastore-certfile", "", "client certificate for the external etcd")
	f.StringVar(&cfg.DatastoreKeyFile, "datastore-keyfile", "", "client key for the external etcd")
	f.BoolVar(&cfg.DisableAgent, "disable-agent", false, "do not run a node agent on this machine")
	f.StringSliceVar(&cfg.Controllers.Disable, "disable-controllers", nil, "controllers not to run, e.g. scheduler (one of: "+strings.Join(server.ControllerNames, ", ")+")")
	f.StringSliceVar(&cfg.DisableAdmissionPlugins, "disable-admission-plugins", nil, "admission plugins not to run (one of: "+strings.Join(admission.Names(), ", ")+")")
	f.IntVar(&cfg.Controllers.MaxEndpointsPerSlice, "max-endpoints-per-slice", 100, "most endpoints the endpointslice controller puts in one EndpointSlice (at most 1000)")
	f.DurationVar(&cfg.Controllers.NodeMonitorGracePeriod, "node-monitor-grace-period", 40*time.Second, "how long a node may miss heartbeats before it is marked unknown and tainted unreachable")
	f.BoolVar(&extendTokens, "service-account-extend-token-expiration", true, "make the kube-api-access tokens of pods (3607 s, for the API) valid for a year, warning after the lifetime asked for, so a late renewal breaks nothing")
	f.DurationVar(&cfg.ServiceAccountMaxTokenExpiration, "service-account-max-token-expiration", 0, "longest lifetime a requested service account token may have; longer requests are shortened (0 = no limit)")
	f.DurationVar(&cfg.MetricsResolution, "metrics-resolution", 15*time.Second, "how often the metrics API (kubectl top, autoscaling) scrapes every node's CPU and memory usage")
	f.IntVar(&cfg.Controllers.TerminatedPodGCThreshold, "terminated-pod-gc-threshold", podgc.DefaultThreshold, "how many terminated pods may exist before the pod garbage collector deletes the oldest (0 or less: never)")
	f.DurationVar(&cfg.Controllers.HPASyncPeriod, "horizontal-pod-autoscaler-sync-period", 15*time.Second, "how often the horizontal pod autoscaler syncs every HorizontalPodAutoscaler")
	f.DurationVar(&cfg.Controllers.HPADownscaleStabilization, "horizontal-pod-autoscaler-downscale-stabilization", 5*time.Minute, "scale-down stabilization window of HorizontalPodAutoscalers that set none")
	f.IntVar(&cfg.EtcdClientPort, "etcd-client-port", 2379, "loopback port of the embedded etcd's client listener")
	f.IntVar(&cfg.Controllers.NodeCIDRMaskSize, "node-cidr-mask-size", 24, "prefix length of the pod range each node is given from --cluster-cidr")
	f.IntVar(&cfg.EtcdPeerPort, "etcd-peer-port", 2380, "loopback port of the embedded etcd's peer listener")
	f.DurationVar(&cfg.Limits.RequestTimeout, "request-timeout", apiserver.DefaultLimits.RequestTimeout, "how long a request that is not long-running (watch, exec, attach, port-forward, proxy, logs) may take before the API server answers 504 (0: no limit)")
	f.StringVar(&cfg.Audit.PolicyFile, "audit-policy-file", "", "audit policy (audit.k8s.io/v1 Policy) deciding which requests the audit log records, at which level and stages")
	f.StringVar(&cfg.Audit.Path, "audit-log-path", "", "file the audit log writes audit.k8s.io/v1 Event JSON lines to (\"-\": standard output; empty: no audit log)")
	f.IntVar(&cfg.Audit.MaxAge, "audit-log-maxage", 0, "days to keep rotated audit log files (0: no limit)")
	f.IntVar(&cfg.Audit.MaxBackups, "audit-log-maxbackup", 0, "rotated audit log files to keep (0: no limit)")
	f.IntVar(&cfg.Audit.MaxSize, "audit-log-maxsize", 0, "megabytes an audit log file may reach before it is rotated (0: lumberjack's default, 100)")
	f.DurationVar(&cfg.EventTTL, "event-ttl", server.DefaultEventTTL, "how long an Event is kept after its last write (etcd deletes it through a lease)")
	f.BoolVar(&cfg.SecretsEncryption, "secrets-encryption", false, "encrypt Secrets at rest in etcd with the keys of DATA-DIR/cred/encryption-config.json (an EncryptionConfiguration, created with a new aescbc key when missing); see `flotilla secrets-encrypt`")
	f.IntVar(&cfg.Limits.MaxRequestsInFlight, "max-requests-inflight", apiserver.DefaultLimits.MaxRequestsInFlight, "most read-only requests served at once; more are answered 429 with Retry-After (0: no limit; system:masters exempt)")
	f.IntVar(&cfg.Limits.MaxMutatingRequestsInFlight, "max-mutating-requests-inflight", apiserver.DefaultLimits.MaxMutatingRequestsInFlight, "most mutating requests served at once; more are answered 429 with Retry-After (0: no limit; system:masters exempt)")
	f.BoolVar(&cfg.ClusterReset.Reset, "cluster-reset", false, "make the embedded etcd a new one-member cluster (restoring --cluster-reset-restore-path if given), then exit; start again without the flag")
	f.StringVar(&cfg.ClusterReset.RestorePath, "cluster-reset-restore-path", "", "snapshot file to restore with --cluster-reset (e.g. one of `flotilla etcd-snapshot ls`)")
	f.BoolVar(&cfg.EtcdSnapshots.Disable, "etcd-disable-snapshots", false, "take no scheduled etcd snapshots")
	f.StringVar(&cfg.EtcdSnapshots.Cron, "etcd-snapshot-schedule-cron", etcdsnapshot.DefaultSchedule, "when to take scheduled etcd snapshots (cron line, local time)")
	f.IntVar(&cfg.EtcdSnapshots.Retention, "etcd-snapshot-retention", etcdsnapshot.DefaultRetention, "how many scheduled etcd snapshots to keep (the oldest are deleted)")
	f.StringVar(&cfg.EtcdSnapshots.Dir, "etcd-snapshot-dir", "", "directory for etcd snapshots (default DATA-DIR/db/snapshots)")
	f.DurationVar(&compactionInterval, "etcd-compaction-interval", 5*time.Minute, "how often etcd's history is compacted (embedded or external; about one interval of history is kept; 0: never)")
	f.Int64Var(&cfg.EtcdMaintenance.DefragMinDBSize, "etcd-defrag-min-db-size", 64<<20, "defragment an etcd member after a compaction only when its database file is at least this many bytes")
	f.Float64Var(&cfg.EtcdMaintenance.DefragMaxInUse, "etcd-defrag-max-in-use", 0.5, "... and when less than this fraction of the file holds live data")
	f.Int64Var(&cfg.EtcdMinFreeSpace, "etcd-min-free-space", etcd.DefaultMinFreeSpace, "bytes the embedded etcd keeps free on its filesystem: below, writes are refused (etcd's NOSPACE alarm) until space returns (0: no guard; etcd then exits on a full disk)")
	af.register(f)
	return cmd
}
