package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

// appletEnv, when set, makes the test binary act as the applet it names
// (with the test binary's arguments), so that tests can run the real
// process: nc -e replaces the process, which in-process runs cannot show.
const appletEnv = "NETAPPLETS_TEST_AS"

func TestMain(m *testing.M) {
	if name := os.Getenv(appletEnv); name != "" {
		os.Args[0] = "/bin/" + name
		main()
		return
	}
	os.Exit(m.Run())
}

// runApplet runs an applet in-process with stdin and returns its status,
// stdout and stderr.
func runApplet(t *testing.T, stdin string, name string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	var in io.Reader = strings.NewReader(stdin)
	code := applets[name](env{args: args, stdin: in, stdout: &out, stderr: &errb})
	return code, out.String(), errb.String()
}

// appletCommand is the applet as a process of the test binary.
func appletCommand(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), appletEnv+"="+name)
	return cmd
}

func TestParseOpts(t *testing.T) {
	spec := optSpec{
		short: map[byte]argKind{'q': noArg, 'O': requiredArg, 'T': requiredArg, 'n': optionalArg},
		long: map[string]longOpt{
			"quiet": {"q", noArg}, "output-document": {"O", requiredArg}, "spider": {"spider", noArg},
			"no-cache": {"ignored", noArg}, "no-clobber": {"ignored", noArg}, "no-parent": {"other", noArg},
		},
	}
	tests := []struct {
		args     []string
		opts     []opt
		operands []string
		err      string
	}{
		{args: []string{"-qO-", "URL"}, opts: []opt{{"q", ""}, {"O", "-"}}, operands: []string{"URL"}},
		{args: []string{"-T", "3", "-q", "-O-", "URL"}, opts: []opt{{"T", "3"}, {"q", ""}, {"O", "-"}}, operands: []string{"URL"}},
		{args: []string{"URL", "-T3", "--output-document=f", "--spider"}, opts: []opt{{"T", "3"}, {"O", "f"}, {"spider", ""}}, operands: []string{"URL"}},
		{args: []string{"--output-doc", "f", "-nv", "-", "--", "-q"}, opts: []opt{{"O", "f"}, {"n", "v"}}, operands: []string{"-", "-q"}},
		{args: []string{"--no-c"}, opts: []opt{{"ignored", ""}}},
		{args: []string{"--no"}, err: "ambiguous"},
		{args: []string{"-x"}, err: "invalid option -- 'x'"},
		{args: []string{"-T"}, err: "requires an argument"},
		{args: []string{"--quiet=1"}, err: "doesn't allow an argument"},
		{args: []string{"--bogus"}, err: "unrecognized option '--bogus'"},
	}
	for _, tc := range tests {
		opts, operands, err := parseOpts(tc.args, spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseOpts(%q) error = %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(opts, tc.opts) || !reflect.DeepEqual(operands, tc.operands) {
			t.Errorf("parseOpts(%q) = %v, %q, %v; want %v, %q", tc.args, opts, operands, err, tc.opts, tc.operands)
		}
	}
}

func TestDispatch(t *testing.T) {
	out, err := appletCommand("netapplets", "--source-hash").Output()
	if err != nil || strings.TrimSpace(string(out)) != sourceHash {
		t.Errorf("--source-hash = %q, %v; want %q", out, err, sourceHash)
	}
	// "netapplets wget ..." runs wget, like "busybox wget ...".
	var stderr bytes.Buffer
	cmd := appletCommand("netapplets", "wget")
	cmd.Stderr = &stderr
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "Usage: wget") {
		t.Errorf("netapplets wget = %v, stderr %q; want wget's usage and status 1", err, stderr.String())
	}
	stderr.Reset()
	cmd = appletCommand("ping", "x")
	cmd.Stderr = &stderr
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 127 || !strings.Contains(stderr.String(), "applet not found") {
		t.Errorf("unknown applet = %v, stderr %q; want status 127", err, stderr.String())
	}
}
