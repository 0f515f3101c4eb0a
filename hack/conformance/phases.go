package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// phase is one ginkgo invocation over part of the suite.
type phase struct {
	name   string
	labels string // ginkgo label filter
	procs  func(o options) int
}

var phases = []phase{
	{name: "parallel", labels: "Conformance && !Serial", procs: func(o options) int { return max(o.procs, 1) }},
	// Serial specs change the cluster (taints, node labels, preemption):
	// nothing may run beside them.
	{name: "serial", labels: "Conformance && Serial", procs: func(options) int { return 1 }},
}

func selectedPhases(list string) []phase {
	var out []phase
	for _, p := range phases {
		for _, want := range strings.Split(list, ",") {
			if strings.TrimSpace(want) == p.name {
				out = append(out, p)
			}
		}
	}
	return out
}

// phaseResult is what one phase reported.
type phaseResult struct {
	name  string
	procs int
	wall  time.Duration
	specs []specReport
}

// suiteArgs are the e2e framework's flags for this cluster.
func suiteArgs(o options, cl *cluster, reportDir string) []string {
	return []string{
		"--kubeconfig=" + cl.kubeconfig,
		"--provider=skeleton",
		"--kubectl-path=" + o.kubectl,
		"--report-dir=" + reportDir,
		// The node's containerd runs under the cluster's data directory.
		"--container-runtime-endpoint=unix://" + filepath.Join(cl.dir, "agent", "containerd", "containerd.sock"),
		"--dump-logs-on-failure=false",
	}
}

// ginkgoFilters narrows the suite to the phase and the user's FOCUS/SKIP.
func ginkgoFilters(o options, labels string) []string {
	args := []string{"--label-filter=" + labels}
	if o.focus != "" {
		args = append(args, "--focus="+o.focus)
	}
	if o.skip != "" {
		args = append(args, "--skip="+o.skip)
	}
	return args
}

// runPhase runs the specs of one phase through the ginkgo CLI, which
// spreads them over its processes and runs Serial ones alone.
func runPhase(ctx context.Context, o options, bins upstreamBinaries, cl *cluster, ph phase, log *slog.Logger) (phaseResult, error) {
	dir := filepath.Join(o.out, "reports", ph.name)
	if err := os.RemoveAll(dir); err != nil {
		return phaseResult{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return phaseResult{}, err
	}
	procs := ph.procs(o)
	args := []string{
		fmt.Sprintf("--procs=%d", procs),
		"--timeout=24h",
		"--no-color",
		"--output-dir=" + dir,
		"--json-report=report.json",
		"--junit-report=junit.xml",
		"--silence-skips",
	}
	args = append(args, ginkgoFilters(o, ph.labels)...)
	args = append(args, bins.e2e, "--")
	args = append(args, suiteArgs(o, cl, dir)...)

	logPath := filepath.Join(o.out, ph.name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return phaseResult{}, err
	}
	defer lf.Close()
	log.Info("phase started", "phase", ph.name, "procs", procs, "log", logPath)
	cmd := exec.CommandContext(ctx, bins.ginkgo, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	// Interrupted, ginkgo runs the specs' clean-up and writes its report:
	// give it the interrupt and time, not a kill.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 2 * time.Minute
	cmd.Dir = dir
	start := time.Now()
	runErr := cmd.Run()
	wall := time.Since(start)
	// ginkgo exits non-zero when a spec fails; the report says which.
	specs, err := readReport(filepath.Join(dir, "report.json"))
	if err != nil {
		if runErr != nil {
			return phaseResult{}, fmt.Errorf("ginkgo: %v; no report: %w (see %s)", runErr, err, logPath)
		}
		return phaseResult{}, err
	}
	log.Info("phase done", "phase", ph.name, "took", wall.Round(time.Second), "specs", len(specs))
	return phaseResult{name: ph.name, procs: procs, wall: wall, specs: specs}, nil
}

// lastResults reads the reports the phases of the last run left.
func lastResults(o options) ([]phaseResult, error) {
	var out []phaseResult
	for _, ph := range selectedPhases(o.phases) {
		specs, err := readReport(filepath.Join(o.out, "reports", ph.name, "report.json"))
		if err != nil {
			return nil, fmt.Errorf("phase %s: %w", ph.name, err)
		}
		out = append(out, phaseResult{name: ph.name, specs: specs})
	}
	return out, nil
}

// listSpecs lists the conformance specs the run selects, without running
// them, so specs that never ran are counted too.
func listSpecs(ctx context.Context, o options, bins upstreamBinaries) ([]specReport, error) {
	dir := filepath.Join(o.out, "reports", "list")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "list.json")
	args := []string{"--ginkgo.dry-run", "--ginkgo.no-color", "--ginkgo.silence-skips", "--ginkgo.json-report=" + path}
	for _, f := range ginkgoFilters(o, "Conformance") {
		args = append(args, "--ginkgo."+strings.TrimPrefix(f, "--"))
	}
	cmd := exec.CommandContext(ctx, bins.e2e, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("e2e.test --ginkgo.dry-run: %w\n%s", err, tail(string(out), 20))
	}
	specs, err := readReport(path)
	if err != nil {
		return nil, err
	}
	var selected []specReport
	for _, s := range specs {
		if s.State != "skipped" && s.LeafNodeType == "It" {
			selected = append(selected, s)
		}
	}
	return selected, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
