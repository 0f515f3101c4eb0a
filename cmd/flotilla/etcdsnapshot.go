package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/client/pkg/v3/transport"

	"github.com/flotilla-io/flotilla/pkg/etcd"
	"github.com/flotilla-io/flotilla/pkg/etcdsnapshot"
)

// newEtcdSnapshotCommand is k3s's `etcd-snapshot`: save, list, delete and
// prune snapshots of the datastore on this server.
//
// save talks to etcd directly (the embedded member's loopback listener
// with a client certificate of the cluster CA from DATA-DIR/tls, or the
// external cluster named by --datastore-endpoint) instead of asking the
// API server: a backup is most needed when the control plane is
// unhealthy (API wedged, admission or authorization broken, etcd's space
// quota exhausted so the API refuses writes), and etcd still answers its
// maintenance API then. The snapshot directory is local to the server, so
// the command runs on the server's machine either way.
func newEtcdSnapshotCommand() *cobra.Command {
	var o struct {
		dataDir, dir, node                                          string
		datastoreEndpoint, datastoreCA, datastoreCert, datastoreKey string
		etcdClientPort                                              int
	}
	cmd := &cobra.Command{
		Use:   "etcd-snapshot",
		Short: "Save, list, delete and prune snapshots of the cluster's etcd",
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.dataDir, "data-dir", "/var/lib/flotilla", "the server's data directory")
	pf.StringVar(&o.dir, "dir", "", "directory holding the snapshots (default DATA-DIR/db/snapshots)")
	snapDir := func() string {
		if o.dir != "" {
			return o.dir
		}
		return etcdsnapshot.Dir(o.dataDir)
	}

	var name string
	save := &cobra.Command{
		Use:   "save",
		Short: "Take a snapshot now, named NAME-NODE-UNIXTIME",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			endpoint := o.datastoreEndpoint
			var tlsConfig *tls.Config
			var err error
			if endpoint == "" {
				endpoint = "https://127.0.0.1:" + strconv.Itoa(o.etcdClientPort)
				tlsDir := filepath.Join(o.dataDir, "tls")
				info := transport.TLSInfo{CertFile: filepath.Join(tlsDir, "admin.crt"), KeyFile: filepath.Join(tlsDir, "admin.key"), TrustedCAFile: filepath.Join(tlsDir, "ca.crt")}
				if tlsConfig, err = info.ClientConfig(); err != nil {
					return fmt.Errorf("etcd client certificate: %w", err)
				}
			} else if o.datastoreCA != "" || o.datastoreCert != "" || o.datastoreKey != "" {
				info := transport.TLSInfo{CertFile: o.datastoreCert, KeyFile: o.datastoreKey, TrustedCAFile: o.datastoreCA}
				if tlsConfig, err = info.ClientConfig(); err != nil {
					return fmt.Errorf("datastore TLS: %w", err)
				}
			}
			c, err := etcd.Dial(cmd.Context(), endpoint, tlsConfig, slog.Default())
			if err != nil {
				return err
			}
			defer c.Close()
			node := o.node
			if node == "" {
				if node, err = os.Hostname(); err != nil || node == "" {
					node = "server"
				}
			}
			snap, err := etcdsnapshot.Save(cmd.Context(), c, snapDir(), etcdsnapshot.FileName(name, node, time.Now()))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Snapshot %s saved.\n", snap.Name)
			return nil
		},
	}
	sf := save.Flags()
	sf.StringVar(&name, "name", etcdsnapshot.OnDemandPrefix, "first part of the snapshot's name")
	sf.StringVar(&o.node, "node-name", "", "node name in the snapshot's name (default the host name)")
	sf.IntVar(&o.etcdClientPort, "etcd-client-port", 2379, "loopback port of the embedded etcd (the server's --etcd-client-port)")
	sf.StringVar(&o.datastoreEndpoint, "datastore-endpoint", "", "comma-separated URLs of an external etcd (the server's --datastore-endpoint)")
	sf.StringVar(&o.datastoreCA, "datastore-cafile", "", "CA bundle of the external etcd")
	sf.StringVar(&o.datastoreCert, "datastore-certfile", "", "client certificate for the external etcd")
	sf.StringVar(&o.datastoreKey, "datastore-keyfile", "", "client key for the external etcd")

	ls := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the snapshots, oldest first",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			snaps, err := etcdsnapshot.List(snapDir())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 1, ' ', 0)
			fmt.Fprintln(w, "Name\tLocation\tSize\tCreated")
			for _, s := range snaps {
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", s.Name, s.Location, s.Size, s.Created.Format(time.RFC3339))
			}
			return w.Flush()
		},
	}

	del := &cobra.Command{
		Use:     "delete NAME...",
		Aliases: []string{"rm"},
		Short:   "Delete snapshots by name",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, names []string) error {
			for _, n := range names {
				if err := etcdsnapshot.Delete(snapDir(), n); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Snapshot %s deleted.\n", n)
			}
			return nil
		},
	}

	var retention int
	var prefix string
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Delete all but the newest --snapshot-retention snapshots named --name-*",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			removed, err := etcdsnapshot.Prune(snapDir(), prefix, retention)
			for _, n := range removed {
				fmt.Fprintf(cmd.OutOrStdout(), "Snapshot %s deleted.\n", n)
			}
			return err
		},
	}
	prune.Flags().IntVar(&retention, "snapshot-retention", etcdsnapshot.DefaultRetention, "how many snapshots to keep")
	prune.Flags().StringVar(&prefix, "name", etcdsnapshot.OnDemandPrefix, "prune the snapshots whose name begins with this")

	cmd.AddCommand(save, ls, del, prune)
	return cmd
}
