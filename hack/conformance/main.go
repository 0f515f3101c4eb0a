// Command conformance runs upstream's Kubernetes conformance suite against a
// fresh Flotilla cluster on this machine (`make conformance`).
//
// It builds the suite and its tools from the module in test/conformance
// (pinned to the Kubernetes version the server reports), builds the test
// images locally under their upstream names and imports them into the
// node's containerd, starts a server in a scratch data directory, runs the
// parallel-safe [Conformance] specs in several concurrent ginkgo
// processes and then the [Serial] ones alone, and reports per sig. The
// specs listed in test/conformance/passing.txt must pass: any of them
// failing fails the run, and specs that newly pass are printed so the list
// can grow.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

type options struct {
	root       string // repository root
	out        string // scratch: binaries, images, cluster data, reports
	flotilla   string // built flotilla binary
	kubectl    string
	procs      int
	focus      string
	skip       string
	keep       bool // leave the cluster running afterwards
	update     bool // rewrite passing.txt with what passed
	phases     string
	buildOnly  bool
	reportOnly bool
}

func main() {
	var o options
	flag.StringVar(&o.root, "root", ".", "repository root")
	flag.StringVar(&o.out, "out", "_output/conformance", "directory for binaries, images, cluster data and reports")
	flag.StringVar(&o.flotilla, "flotilla", "bin/flotilla", "flotilla binary under test")
	flag.StringVar(&o.kubectl, "kubectl", "/usr/bin/kubectl", "kubectl the suite drives")
	flag.IntVar(&o.procs, "procs", 4, "concurrent ginkgo processes for the parallel-safe specs")
	flag.StringVar(&o.focus, "focus", "", "regular expression: run only specs whose names match")
	flag.StringVar(&o.skip, "skip", "", "regular expression: leave out specs whose names match")
	flag.BoolVar(&o.keep, "keep", false, "leave the cluster running when done")
	flag.BoolVar(&o.update, "update-passing", false, "add newly passing specs to passing.txt")
	flag.StringVar(&o.phases, "phases", "parallel,serial", "which phases to run: parallel, serial or both")
	flag.BoolVar(&o.buildOnly, "build-only", false, "build the suite, tools and images, then stop")
	flag.BoolVar(&o.reportOnly, "report-only", false, "report the last run's results again (with -update-passing, record them) without running anything")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, o, log)
	var fe failedSpecsError
	switch {
	case errors.As(err, &fe):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	case err != nil:
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, o options, log *slog.Logger) error {
	var err error
	if o.root, err = filepath.Abs(o.root); err != nil {
		return err
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(o.root, p)
	}
	o.out, o.flotilla = abs(o.out), abs(o.flotilla)
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	start := time.Now()

	bins, err := buildUpstream(ctx, o, log)
	if err != nil {
		return fmt.Errorf("build upstream suite: %w", err)
	}
	if o.reportOnly {
		specs, err := listSpecs(ctx, o, bins)
		if err != nil {
			return fmt.Errorf("list conformance specs: %w", err)
		}
		results, err := lastResults(o)
		if err != nil {
			return err
		}
		return report(os.Stdout, o, specs, results, time.Since(start))
	}
	wanted, err := listImages(ctx, bins.e2e)
	if err != nil {
		return err
	}
	built, skipped, err := buildImages(ctx, filepath.Join(o.out, "images"),
		imageInputs{Agnhost: bins.agnhost, SampleAPIServer: bins.sampleAPIServer}, wanted)
	if err != nil {
		return fmt.Errorf("build images: %w", err)
	}
	log.Info("images built", "built", len(built), "skipped", len(skipped))
	for _, s := range skipped {
		log.Debug("image not built", "ref", s)
	}
	if o.buildOnly {
		return nil
	}

	specs, err := listSpecs(ctx, o, bins)
	if err != nil {
		return fmt.Errorf("list conformance specs: %w", err)
	}
	log.Info("conformance specs selected", "count", len(specs))

	cl, err := startCluster(ctx, o, log)
	if err != nil {
		return fmt.Errorf("start cluster: %w", err)
	}
	if !o.keep {
		defer cl.stop(log)
	} else {
		defer log.Info("cluster left running", "kubeconfig", cl.kubeconfig, "pid", cl.pid())
	}
	if err := cl.importImages(ctx, built); err != nil {
		return fmt.Errorf("import images: %w", err)
	}

	var results []phaseResult
	for _, ph := range selectedPhases(o.phases) {
		r, err := runPhase(ctx, o, bins, cl, ph, log)
		if err != nil {
			return fmt.Errorf("phase %s: %w", ph.name, err)
		}
		results = append(results, r)
	}
	return report(os.Stdout, o, specs, results, time.Since(start))
}
