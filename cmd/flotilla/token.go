package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flotilla-io/flotilla/pkg/join"
)

// newTokenCommand manages the server's join token.
func newTokenCommand() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage the join token agents present to join the cluster",
	}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Replace the join token; print the new one",
		Long: `Replace the server's join token (DATA-DIR/token) with a new secret and print it.
A running server refuses the old token from then on; agents that already joined keep
working with their certificates.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := join.RotateToken(dataDir)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), t.String())
			return nil
		},
	}
	rotate.Flags().StringVar(&dataDir, "data-dir", "/var/lib/flotilla", "the server's data directory")
	cmd.AddCommand(rotate)
	return cmd
}
