package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestValidInterfaceName(t *testing.T) {
	for name, want := range map[string]bool{
		"flotilla0": true, "cni0": true, "br-e2e.101": true, "fifteen-bytes15": true,
		"": false, ".": false, "..": false, "sixteen-bytes-16": false,
		"a/b": false, "a:b": false, "a b": false, "a\tb": false,
	} {
		if got := validInterfaceName(name); got != want {
			t.Errorf("validInterfaceName(%q) = %v, want %v", name, got, want)
		}
	}
}

// A bad --pod-bridge stops the start with the flag's name, a good one
// reaches the agent's configuration.
func TestPodBridgeFlag(t *testing.T) {
	parse := func(args ...string) (string, error) {
		var a agentFlags
		fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
		a.register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		cfg, err := a.config()
		return cfg.PodBridge, err
	}
	if got, err := parse(); err != nil || got != "flotilla0" {
		t.Errorf("default: %q, %v; want flotilla0", got, err)
	}
	if got, err := parse("--pod-bridge", "br-e2e"); err != nil || got != "br-e2e" {
		t.Errorf("--pod-bridge br-e2e: %q, %v", got, err)
	}
	if _, err := parse("--pod-bridge", "a/b"); err == nil || !strings.Contains(err.Error(), `--pod-bridge "a/b"`) {
		t.Errorf("--pod-bridge a/b: %v, want the flag's error", err)
	}
}
