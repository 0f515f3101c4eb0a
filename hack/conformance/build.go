package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// upstreamBinaries are the programs built from test/conformance.
type upstreamBinaries struct {
	e2e             string // the e2e suite (go test -c k8s.io/kubernetes/test/e2e)
	ginkgo          string // ginkgo CLI of the suite's own ginkgo version
	agnhost         string // static, for the agnhost image
	sampleAPIServer string // static, for the aggregator test's image
}

// upstreamTarget is one binary and how it is built.
type upstreamTarget struct {
	out    string
	args   []string // after "go"
	static bool
}

// buildUpstream builds the suite and its tools unless the binaries on disk
// were built from the same go.mod, go.sum and Go version. The Go build
// cache makes a rebuild cheap except for linking, which for e2e.test alone
// takes a minute here; the stamp saves that too.
func buildUpstream(ctx context.Context, o options, log *slog.Logger) (upstreamBinaries, error) {
	mod := filepath.Join(o.root, "test", "conformance")
	binDir := filepath.Join(o.out, "bin")
	b := upstreamBinaries{
		e2e:             filepath.Join(binDir, "e2e.test"),
		ginkgo:          filepath.Join(binDir, "ginkgo"),
		agnhost:         filepath.Join(binDir, "agnhost"),
		sampleAPIServer: filepath.Join(binDir, "sample-apiserver"),
	}
	targets := []upstreamTarget{
		{out: b.ginkgo, args: []string{"build", "-o", b.ginkgo, "github.com/onsi/ginkgo/v2/ginkgo"}},
		{out: b.agnhost, args: []string{"build", "-ldflags=-s -w", "-o", b.agnhost, "k8s.io/kubernetes/test/images/agnhost"}, static: true},
		{out: b.sampleAPIServer, args: []string{"build", "-ldflags=-s -w", "-o", b.sampleAPIServer, "k8s.io/sample-apiserver"}, static: true},
		{out: b.e2e, args: []string{"test", "-c", "-o", b.e2e, "k8s.io/kubernetes/test/e2e"}},
	}
	stamp, err := buildStamp(mod)
	if err != nil {
		return b, err
	}
	stampFile := filepath.Join(binDir, ".stamp")
	if old, err := os.ReadFile(stampFile); err == nil && string(old) == stamp && allExist(targets) {
		log.Info("upstream suite up to date", "dir", binDir)
		return b, nil
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return b, err
	}
	for _, t := range targets {
		start := time.Now()
		if t.out == b.e2e {
			log.Info("building", "target", filepath.Base(t.out), "note", "a cold build takes about 15 minutes")
		} else {
			log.Info("building", "target", filepath.Base(t.out))
		}
		// nice: a cold build takes both cores for a quarter of an hour.
		cmd := exec.CommandContext(ctx, "nice", append([]string{"-n", "10", "go"}, t.args...)...)
		cmd.Dir = mod
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly")
		if t.static {
			cmd.Env = append(cmd.Env, "CGO_ENABLED=0")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("go %s: %w\n%s", strings.Join(t.args, " "), err, out)
		}
		log.Info("built", "target", filepath.Base(t.out), "took", time.Since(start).Round(time.Second))
	}
	return b, os.WriteFile(stampFile, []byte(stamp), 0o644)
}

// buildStamp identifies what the binaries are built from.
func buildStamp(mod string) (string, error) {
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(mod, f))
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	v, err := exec.Command("go", "version").Output()
	if err != nil {
		return "", fmt.Errorf("go version: %w", err)
	}
	h.Write(v)
	return hex.EncodeToString(h.Sum(nil)), nil
}

func allExist(ts []upstreamTarget) bool {
	for _, t := range ts {
		if _, err := os.Stat(t.out); err != nil {
			return false
		}
	}
	return true
}

// listImages asks the suite which images its tests use.
func listImages(ctx context.Context, e2e string) ([]string, error) {
	out, err := exec.CommandContext(ctx, e2e, "--list-images").Output()
	if err != nil {
		return nil, fmt.Errorf("e2e.test --list-images: %w", err)
	}
	var refs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			refs = append(refs, l)
		}
	}
	return refs, sc.Err()
}
