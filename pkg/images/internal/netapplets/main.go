package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// sourceHash is set by the generator (pkg/images/internal/gennetapplets)
// to the hash of this directory's sources the binary was built from, so that
// pkg/images can tell whether its embedded copy is stale.
var sourceHash = "unknown"

// env is what an applet gets from the process: its arguments (without
// argv[0]) and standard streams. Tests run applets in-process with their own.
type env struct {
	args   []string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// applets maps applet names to their entry points, which return the exit
// status.
var applets = map[string]func(e env) int{
	"wget": wgetMain,
	"nc":   ncMain,
}

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if _, ok := applets[name]; !ok && len(args) > 0 {
		// "netapplets wget URL", as "busybox wget URL".
		if args[0] == "--source-hash" {
			fmt.Println(sourceHash)
			return
		}
		name, args = args[0], args[1:]
	}
	run, ok := applets[name]
	if !ok {
		names := make([]string, 0, len(applets))
		for n := range applets {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "%s: applet not found (have: %s)\n", name, strings.Join(names, " "))
		os.Exit(127)
	}
	// Signals keep Go's default action (SIGINT and SIGTERM end the
	// process), as busybox's applets install no handlers either.
	os.Exit(run(env{args: args, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}))
}

// errnoText returns the C library's message for the errno inside err
// ("Connection refused"), as busybox's perror-style messages show it, or
// err's own text when there is none.
func errnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		if s != "" {
			// Go's texts are glibc's, lower-cased at the start.
			return strings.ToUpper(s[:1]) + s[1:]
		}
	}
	return err.Error()
}
