// Package version reports the build's version. The Kubernetes API version
// it implements is fixed at 1.32: the stock kubectl (a version dispatcher
// on these machines) picks its client by the major and minor numbers.
package version

import (
	"runtime"

	"k8s.io/apimachinery/pkg/version"
)

// Set at build time with -ldflags "-X .../pkg/version.flotilla=...".
var (
	flotilla  = "0.1.0-dev"
	gitCommit = "unknown"
	buildDate = "1970-01-01T00:00:00Z"
)

// Info is what /version answers.
func Info() version.Info {
	return version.Info{
		Major:        "1",
		Minor:        "32",
		GitVersion:   "v1.32.0+flotilla-" + flotilla,
		GitCommit:    gitCommit,
		GitTreeState: "clean",
		BuildDate:    buildDate,
		GoVersion:    runtime.Version(),
		Compiler:     runtime.Compiler,
		Platform:     runtime.GOOS + "/" + runtime.GOARCH,
	}
}

// Flotilla is the product version.
func Flotilla() string { return flotilla }
