package e2e

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Seed 001 names the PodPreset; this is upstream's PodPreset walkthrough
// ("Inject Information into Pods Using a PodPreset") with the stock
// kubectl on a node running real containers: the preset's env var and
// volume are visible inside the container, a conflicting pod is left as
// it is with a Warning event, an excluded pod gets nothing.
func TestPodPresetWalkthrough(t *testing.T) {
	t.Parallel()
	nc := startNodeCluster(t)
	read := func(name string) string { return readTestdata(t, "podpreset", name) }
	preset := filepath.Join("testdata", "podpreset", "preset.yaml")
	contains(t, nc.ok("", "apply", "-f", preset), "podpreset.settings.k8s.io/allow-database created")
	contains(t, nc.ok("", "apply", "-f", preset), "podpreset.settings.k8s.io/allow-database unchanged")
	list := nc.ok("", "get", "podpreset")
	if h := header(list); !slices.Equal(h, []string{"NAME", "AGE"}) {
		t.Fatalf("podpreset header %v\n%s", h, list)
	}
	if !regexp.MustCompile(`(?m)^allow-database\s+\d+s$`).MatchString(list) {
		t.Fatalf("podpreset row:\n%s", list)
	}
	contains(t, nc.ok("", "describe", "podpreset", "allow-database"), "Name:", "allow-database", "Namespace:", "default", "DB_PORT", "6379", "cache-volume", "/cache")
	contains(t, nc.ok("", "explain", "podpreset.spec"), "GROUP:", "settings.k8s.io", "KIND:", "PodPreset", "VERSION:", "v1alpha1",
		"PodPresetSpec is a description of a pod preset.", "selector", "volumeMounts")
	contains(t, nc.ok("", "api-resources", "--api-group=settings.k8s.io"), "podpresets", "settings.k8s.io/v1alpha1", "true", "PodPreset")

	// The admission plugin reads presets from a cache: wait until a
	// server-side dry run shows it has this one.
	nc.eventually(60*time.Second, func() (bool, string) {
		r := nc.kubectl(bound(read("pod.yaml")), "create", "--dry-run=server", "-f", "-", "-o", "jsonpath={.metadata.annotations}")
		return r.code == 0 && strings.Contains(r.stdout, "podpreset-allow-database"), r.String()
	})
	contains(t, nc.ok(bound(read("pod.yaml")), "create", "-f", "-"), "pod/website created")
	nc.waitPhase("website", "Running")
	rv := nc.jsonpath("podpreset", "allow-database", "{.metadata.resourceVersion}")
	if got := nc.jsonpath("pod", "website", `{.metadata.annotations.podpreset\.admission\.kubernetes\.io/podpreset-allow-database}`); got != rv || rv == "" {
		t.Fatalf("pod annotation %q, preset resourceVersion %q", got, rv)
	}
	contains(t, nc.ok("", "get", "pod", "website", "-o", "yaml"), "podpreset.admission.kubernetes.io/podpreset-allow-database:",
		"name: DB_PORT", `value: "6379"`, "mountPath: /cache", "name: cache-volume", "emptyDir: {}")
	if got := nc.ok("", "exec", "website", "--", "sh", "-c", "echo DB_PORT=${DB_PORT-unset}"); got != "DB_PORT=6379\n" {
		t.Fatalf("in the container: %q", got)
	}
	// /cache is a mount of its own (the emptyDir), writable.
	out := nc.ok("", "exec", "website", "--", "sh", "-c", "echo cached > /cache/f && cat /cache/f && grep -c ' /cache ' /proc/mounts")
	if out != "cached\n1\n" {
		t.Fatalf("/cache in the container: %q", out)
	}

	t.Run("conflict", func(t *testing.T) {
		nc := nc.with(t)
		contains(t, nc.ok(bound(read("conflict-pod.yaml")), "create", "-f", "-"), "pod/website-conflict created")
		yaml := nc.ok("", "get", "pod", "website-conflict", "-o", "yaml")
		if strings.Contains(yaml, "podpreset.admission.kubernetes.io") || strings.Contains(yaml, "DB_PORT") || strings.Contains(yaml, "cache-volume") {
			t.Fatalf("conflicting pod was changed:\n%s", yaml)
		}
		want := "conflict occurred while applying podpresets: allow-database on pod: website-conflict err: merging volume mounts for allow-database has a conflict on mount path /cache"
		nc.eventually(60*time.Second, func() (bool, string) {
			r := nc.kubectl("", "get", "events", "--field-selector", "involvedObject.name=website-conflict,reason=PodPreset", "-o", "jsonpath={.items[*].type} {.items[*].message}")
			return strings.HasPrefix(r.stdout, "Warning ") && strings.Contains(r.stdout, want), r.String()
		})
		contains(t, nc.ok("", "describe", "pod", "website-conflict"), "Warning", "PodPreset", "conflict occurred while applying podpresets")
		nc.waitPhase("website-conflict", "Running")
		if got := nc.ok("", "exec", "website-conflict", "--", "sh", "-c", "echo DB_PORT=${DB_PORT-unset}"); got != "DB_PORT=unset\n" {
			t.Fatalf("in the conflicting pod: %q", got)
		}
	})

	t.Run("exclude", func(t *testing.T) {
		nc := nc.with(t)
		pod := strings.Replace(read("pod.yaml"), "  name: website\n", "  name: website-excluded\n  annotations:\n    podpreset.admission.kubernetes.io/exclude: \"true\"\n", 1)
		contains(t, nc.ok(bound(pod), "create", "-f", "-"), "pod/website-excluded created")
		nc.waitPhase("website-excluded", "Running")
		yaml := nc.ok("", "get", "pod", "website-excluded", "-o", "yaml")
		if strings.Contains(yaml, "podpreset-allow-database") || strings.Contains(yaml, "DB_PORT") || strings.Contains(yaml, "cache-volume") {
			t.Fatalf("excluded pod was changed:\n%s", yaml)
		}
		if got := nc.ok("", "exec", "website-excluded", "--", "sh", "-c", "echo DB_PORT=${DB_PORT-unset}"); got != "DB_PORT=unset\n" {
			t.Fatalf("in the excluded pod: %q", got)
		}
	})

	contains(t, nc.ok("", "delete", "podpreset", "allow-database"), `podpreset.settings.k8s.io "allow-database" deleted`)
	contains(t, nc.kubectl("", "get", "podpreset", "allow-database").stderr, `podpresets.settings.k8s.io "allow-database" not found`)
}
