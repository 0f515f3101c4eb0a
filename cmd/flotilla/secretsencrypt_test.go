package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// TestSecretsEncryptCommand runs `flotilla secrets-encrypt` against a
// server started with --secrets-encryption: status names the key, and
// rotate-keys moves to a new one that status then shows as active.
func TestSecretsEncryptCommand(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{SecretsEncryption: true})
	run := func(args ...string) string {
		t.Helper()
		cmd := newSecretsEncryptCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append(args, "--kubeconfig", srv.Kubeconfig))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("secrets-encrypt %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	out := run("status")
	if !strings.Contains(out, "Encryption Status: Enabled") || !strings.Contains(out, " *      aescbc     aescbckey ") {
		t.Fatalf("status:\n%s", out)
	}
	out = run("rotate-keys")
	key := strings.TrimSpace(strings.TrimPrefix(out, "keys rotated: Secrets are now encrypted with "))
	if !strings.HasPrefix(key, "aescbckey-") {
		t.Fatalf("rotate-keys:\n%s", out)
	}
	out = run("status")
	if !strings.Contains(out, " *      aescbc     "+key) || strings.Contains(out, "aescbckey ") {
		t.Fatalf("status after rotation:\n%s", out)
	}
	t.Logf("status after rotation:\n%s", out)
}
