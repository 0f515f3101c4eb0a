package images

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// CtrPath is the ctr executable Import runs; a bare name is looked up in PATH.
var CtrPath = "ctr"

// Import loads docker-archive or OCI tarballs into the containerd listening
// on the unix socket address, in namespace ns (the CRI plugin uses "k8s.io").
// For each archive it runs
//
//	ctr --address ADDRESS --namespace NS images import FILE
//
// ctr 1.6 unpacks imported images into containerd's default snapshotter
// (overlayfs unless $CONTAINERD_SNAPSHOTTER says otherwise), which is the
// snapshotter the CRI plugin uses by default, so the images can be run at
// once. Errors include ctr's stderr.
func Import(ctx context.Context, address, ns string, archivePaths ...string) error {
	return ImportSnapshotter(ctx, address, ns, "", archivePaths...)
}

// ImportSnapshotter is Import with an explicit snapshotter to unpack into
// (ctr's --snapshotter); it must match the CRI plugin's snapshotter. An empty
// snapshotter means containerd's default.
func ImportSnapshotter(ctx context.Context, address, ns, snapshotter string, archivePaths ...string) error {
	if address == "" || ns == "" {
		return fmt.Errorf("images: import needs a containerd address and namespace")
	}
	for _, p := range archivePaths {
		args := []string{"--address", address, "--namespace", ns, "images", "import"}
		if snapshotter != "" {
			args = append(args, "--snapshotter", snapshotter)
		}
		args = append(args, p)
		var stderr, stdout bytes.Buffer
		cmd := exec.CommandContext(ctx, CtrPath, args...)
		cmd.Stdout = &stdout
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			msg := strings.TrimSpace(stderr.String())
			if msg == "" {
				msg = strings.TrimSpace(stdout.String())
			}
			return fmt.Errorf("images: ctr images import %s: %w: %s", p, err, msg)
		}
	}
	return nil
}

// ImportArchive writes an archive produced by write (for example Pause, or a
// closure around Busybox) to a temporary file and imports it with Import.
func ImportArchive(ctx context.Context, address, ns string, write func(io.Writer) error) error {
	f, err := os.CreateTemp("", "flotilla-image-*.tar")
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("images: %w", err)
	}
	return Import(ctx, address, ns, f.Name())
}
