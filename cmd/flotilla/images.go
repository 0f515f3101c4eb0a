package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/flotilla-io/flotilla/pkg/containerd"
	"github.com/flotilla-io/flotilla/pkg/images"
)

func newImagesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "images", Short: "Manage the images of this node's runtime"}
	var dataDir string
	imp := &cobra.Command{
		Use:   "import FILE.tar...",
		Short: "Load docker-archive or OCI tarballs into the node agent's containerd",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			sock := containerd.Socket(filepath.Join(dataDir, "agent", "containerd"))
			if _, err := os.Stat(sock); err != nil {
				return fmt.Errorf("no running node agent uses %s (%v)", dataDir, err)
			}
			if err := images.Import(ctx, sock, "k8s.io", files...); err != nil {
				return err
			}
			for _, f := range files {
				fmt.Fprintf(cmd.OutOrStdout(), "imported %s\n", f)
			}
			return nil
		},
	}
	imp.Flags().StringVar(&dataDir, "data-dir", "/var/lib/flotilla", "data directory of the node agent")
	cmd.AddCommand(imp)
	return cmd
}
