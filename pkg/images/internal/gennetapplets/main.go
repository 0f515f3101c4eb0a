// Command gennetapplets builds pkg/images/internal/netapplets as a static
// linux/amd64 executable stamped with the hash of its sources and writes it
// gzip-compressed to the file named by its argument. `go generate
// ./pkg/images` runs it from pkg/images; the output is committed, so that
// building flotilla needs nothing but `go build`.
package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/flotilla-io/flotilla/pkg/images/internal/srchash"
)

// source is the package built, relative to pkg/images.
const source = "./internal/netapplets"

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gennetapplets OUTPUT.gz (run from pkg/images)")
		os.Exit(2)
	}
	if err := generate(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gennetapplets:", err)
		os.Exit(1)
	}
}

func generate(out string) error {
	hash, err := srchash.Dir(source)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "gennetapplets-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "netapplets")
	// Static (no cgo: the image has no C library for it), stripped, and
	// reproducible: no build ID, VCS stamp or local paths.
	cmd := exec.Command(goTool(), "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid= -X main.sourceHash="+hash, "-o", bin, source)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", source, err)
	}
	raw, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := zw.Write(raw); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gennetapplets: %s: %d bytes (%d uncompressed), sources %s\n", out, buf.Len(), len(raw), hash)
	return nil
}

// goTool is the go command of the toolchain running us (go generate puts
// its GOROOT in the environment), else the one on PATH.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
