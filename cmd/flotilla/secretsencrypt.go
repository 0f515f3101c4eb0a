package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// newSecretsEncryptCommand is k3s's `secrets-encrypt`: it asks the
// running server (as system:masters, with the admin kubeconfig) about or
// to change the keys Secrets are encrypted with.
func newSecretsEncryptCommand() *cobra.Command {
	var dataDir, kubeconfig string
	cmd := &cobra.Command{
		Use:   "secrets-encrypt",
		Short: "Show or rotate the keys Secrets are encrypted with at rest (server started with --secrets-encryption)",
	}
	call := func(cmd *cobra.Command, method, op string) ([]byte, error) {
		path := kubeconfig
		if path == "" {
			path = filepath.Join(dataDir, "kubeconfig.yaml")
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, fmt.Errorf("admin kubeconfig: %w", err)
		}
		hc, err := rest.HTTPClientFor(cfg)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(cmd.Context(), method, strings.TrimSuffix(cfg.Host, "/")+"/v1-flotilla/encrypt/"+op, nil)
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		}
		return body, nil
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Print the keys (the first encrypts) and how many Secrets each holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := call(cmd, http.MethodGet, "status")
			if err != nil {
				return err
			}
			var st struct {
				Keys   []string       `json:"keys"`
				Values map[string]int `json:"values"`
			}
			if err := json.Unmarshal(body, &st); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, "Encryption Status: Enabled")
			fmt.Fprintf(out, "\n%-7s %-10s %-30s %s\n", "Active", "Key Type", "Name", "Secrets")
			for i, k := range st.Keys {
				active := ""
				if i == 0 {
					active = " *"
				}
				typ, name, _ := strings.Cut(k, ":")
				if k == "identity" {
					name = "-"
				}
				fmt.Fprintf(out, "%-7s %-10s %-30s %d\n", active, typ, name, st.Values[k])
			}
			var other []string
			for k, n := range st.Values {
				if !slices.Contains(st.Keys, k) {
					other = append(other, fmt.Sprintf("%s=%d", k, n))
				}
			}
			sort.Strings(other)
			if len(other) > 0 {
				fmt.Fprintf(out, "\nSecrets in keys no longer configured: %s\n", strings.Join(other, " "))
			}
			return nil
		},
	}
	rotate := &cobra.Command{
		Use:   "rotate-keys",
		Short: "Add a new key, re-encrypt every Secret with it, then drop the old keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := call(cmd, http.MethodPost, "rotate-keys")
			if err != nil {
				return err
			}
			var r struct{ Key string }
			if err := json.Unmarshal(body, &r); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "keys rotated: Secrets are now encrypted with %s\n", r.Key)
			return nil
		},
	}
	reencrypt := &cobra.Command{
		Use:   "reencrypt",
		Short: "Rewrite every Secret not yet in the current key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := call(cmd, http.MethodPost, "reencrypt")
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reencrypted: %s", body)
			return nil
		},
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", "/var/lib/flotilla", "the server's data directory (its admin kubeconfig is used)")
	cmd.PersistentFlags().StringVar(&kubeconfig, "kubeconfig", "", "admin kubeconfig (default DATA-DIR/kubeconfig.yaml)")
	cmd.AddCommand(status, rotate, reencrypt)
	return cmd
}
