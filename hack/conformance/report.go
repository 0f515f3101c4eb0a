package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// specReport is the part of a ginkgo v2 JSON spec report this tool reads.
// The ginkgo types are not imported: the product module does not depend on
// ginkgo, and these few fields are a stable part of its report format.
type specReport struct {
	ContainerHierarchyTexts []string
	LeafNodeType            string
	LeafNodeText            string
	State                   string
	RunTime                 time.Duration
	ParallelProcess         int
	Failure                 struct {
		Message  string
		Location struct {
			FileName   string
			LineNumber int
		}
	}
}

func (s specReport) name() string {
	return strings.TrimSpace(strings.Join(append(slices.Clone(s.ContainerHierarchyTexts), s.LeafNodeText), " "))
}

type suiteReport struct {
	SpecReports []specReport
}

func readReport(path string) ([]specReport, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var suites []suiteReport
	if err := json.Unmarshal(b, &suites); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	var out []specReport
	for _, s := range suites {
		out = append(out, s.SpecReports...)
	}
	return out, nil
}

var sigRE = regexp.MustCompile(`\[(sig-[a-z0-9-]+)\]`)

func sigOf(name string) string {
	if m := sigRE.FindStringSubmatch(name); m != nil {
		return m[1]
	}
	return "other"
}

// outcome is what happened to one selected spec.
type outcome struct {
	spec   specReport
	ran    bool
	passed bool
}

// passingFile is the committed list of specs that must keep passing.
func passingFile(o options) string {
	return filepath.Join(o.root, "test", "conformance", "passing.txt")
}

func readPassing(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "#") {
			out[l] = true
		}
	}
	return out, sc.Err()
}

func writePassing(path string, names map[string]bool) error {
	list := make([]string, 0, len(names))
	for n := range names {
		list = append(list, n)
	}
	sort.Strings(list)
	var b strings.Builder
	b.WriteString("# Upstream v1.32 [Conformance] specs that pass against Flotilla (make conformance).\n")
	b.WriteString("# make conformance fails when one of these fails; it prints specs that newly pass.\n")
	for _, n := range list {
		b.WriteString(n)
		b.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// failedSpecsError says which listed specs no longer pass.
type failedSpecsError struct{ names []string }

func (e failedSpecsError) Error() string {
	return fmt.Sprintf("%d spec(s) listed in test/conformance/passing.txt failed:\n  %s", len(e.names), strings.Join(e.names, "\n  "))
}

// report prints the per-sig table, every failure with its reason, the wall
// times, and checks the passing list.
func report(w io.Writer, o options, selected []specReport, results []phaseResult, total time.Duration) error {
	byName := map[string]*outcome{}
	var order []string
	for _, s := range selected {
		n := s.name()
		if _, dup := byName[n]; !dup {
			order = append(order, n)
		}
		byName[n] = &outcome{spec: s}
	}
	var setupFailures []specReport
	for _, r := range results {
		for _, s := range r.specs {
			if s.LeafNodeType != "It" {
				if isFailure(s.State) {
					setupFailures = append(setupFailures, s)
				}
				continue
			}
			oc, ok := byName[s.name()]
			if !ok || s.State == "skipped" || s.State == "pending" {
				continue
			}
			oc.spec, oc.ran, oc.passed = s, true, s.State == "passed"
		}
	}

	type counts struct{ passed, failed, notRun int }
	sigs := map[string]*counts{}
	var failed []*outcome
	tot := counts{}
	for _, n := range order {
		oc := byName[n]
		sig := sigOf(n)
		c := sigs[sig]
		if c == nil {
			c = &counts{}
			sigs[sig] = c
		}
		switch {
		case !oc.ran:
			c.notRun++
			tot.notRun++
		case oc.passed:
			c.passed++
			tot.passed++
		default:
			c.failed++
			tot.failed++
			failed = append(failed, oc)
		}
	}
	names := make([]string, 0, len(sigs))
	for s := range sigs {
		names = append(names, s)
	}
	sort.Strings(names)

	fmt.Fprintf(w, "\nConformance: %d of %d passed, %d failed, %d not run\n\n", tot.passed, len(order), tot.failed, tot.notRun)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "sig\tpassed\tfailed\tnot run\t")
	for _, s := range names {
		c := sigs[s]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", s, c.passed, c.failed, c.notRun)
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t\n", tot.passed, tot.failed, tot.notRun)
	tw.Flush()

	fmt.Fprintln(w, "\nWall time:")
	for _, r := range results {
		fmt.Fprintf(w, "  phase %-8s %3d procs  %v\n", r.name, r.procs, r.wall.Round(time.Second))
		busy := map[int]time.Duration{}
		count := map[int]int{}
		for _, s := range r.specs {
			if s.LeafNodeType == "It" && s.State != "skipped" {
				busy[s.ParallelProcess] += s.RunTime
				count[s.ParallelProcess]++
			}
		}
		procs := make([]int, 0, len(busy))
		for p := range busy {
			procs = append(procs, p)
		}
		sort.Ints(procs)
		for _, p := range procs {
			fmt.Fprintf(w, "    process %d: %3d specs, busy %v\n", p, count[p], busy[p].Round(time.Second))
		}
	}
	fmt.Fprintf(w, "  total (build, images, cluster, phases) %v\n", total.Round(time.Second))

	for _, s := range setupFailures {
		fmt.Fprintf(w, "\nSUITE SETUP FAILED (%s): %s\n", s.LeafNodeType, firstLine(s.Failure.Message))
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "\nFailures (%d):\n", len(failed))
		for _, oc := range failed {
			fmt.Fprintf(w, "  [%s] %s\n      %s\n", oc.spec.State, oc.spec.name(), reason(oc.spec))
		}
	}

	path := passingFile(o)
	listed, err := readPassing(path)
	if err != nil {
		return err
	}
	var regressed, newly []string
	for _, n := range order {
		oc := byName[n]
		switch {
		case listed[n] && oc.ran && !oc.passed:
			regressed = append(regressed, n)
		case listed[n] && !oc.ran && o.focus == "" && o.skip == "" && len(results) == len(phases):
			// A full run that never reached a listed spec lost it too.
			regressed = append(regressed, n)
		case !listed[n] && oc.passed:
			newly = append(newly, n)
		}
	}
	if len(newly) > 0 {
		fmt.Fprintf(w, "\nNewly passing, not yet in %s (%d):\n", path, len(newly))
		for _, n := range newly {
			fmt.Fprintf(w, "  %s\n", n)
		}
		if o.update {
			for _, n := range newly {
				listed[n] = true
			}
			if err := writePassing(path, listed); err != nil {
				return err
			}
			fmt.Fprintf(w, "(added to %s)\n", path)
		} else {
			fmt.Fprintln(w, "(make conformance UPDATE=1 adds them)")
		}
	}
	fmt.Fprintf(w, "\nReports: %s\n", filepath.Join(o.out, "reports"))
	if len(regressed) > 0 {
		return failedSpecsError{names: regressed}
	}
	return nil
}

func isFailure(state string) bool {
	switch state {
	case "failed", "panicked", "timedout", "interrupted", "aborted":
		return true
	}
	return false
}

// reason is the one-line cause of a failure.
func reason(s specReport) string {
	msg := firstLine(s.Failure.Message)
	if msg == "" {
		msg = s.State
	}
	if loc := s.Failure.Location.FileName; loc != "" {
		msg += fmt.Sprintf("  (%s:%d)", trimModPath(loc), s.Failure.Location.LineNumber)
	}
	return msg
}

// firstLine folds a failure message onto one line, cut at 240 bytes:
// gomega's messages spread one assertion over several lines.
func firstLine(s string) string {
	l := strings.Join(strings.Fields(s), " ")
	if len(l) > 240 {
		l = l[:240] + "…"
	}
	return l
}

// trimModPath shortens a source path from the module cache to its path in
// the Kubernetes tree.
func trimModPath(p string) string {
	if i := strings.Index(p, "/test/e2e/"); i >= 0 {
		return p[i+1:]
	}
	return filepath.Base(p)
}
