package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The PodPreset resource through the stock kubectl: apply (client-side
// and server-side), get, describe, explain, api-resources, delete.
func TestPodPresetKubectl(t *testing.T) {
	ns := namespace(t)
	preset := filepath.Join("testdata", "podpreset", "preset.yaml")
	contains(t, ok(t, "", "apply", "-n", ns, "-f", preset), "podpreset.settings.k8s.io/allow-database created")
	contains(t, ok(t, "", "apply", "-n", ns, "-f", preset), "podpreset.settings.k8s.io/allow-database unchanged")
	list := ok(t, "", "get", "podpresets", "-n", ns)
	if h := header(list); !slices.Equal(h, []string{"NAME", "AGE"}) {
		t.Fatalf("podpreset header %v\n%s", h, list)
	}
	if !regexp.MustCompile(`(?m)^allow-database\s+\d+s$`).MatchString(list) {
		t.Fatalf("podpreset row:\n%s", list)
	}
	contains(t, ok(t, "", "get", "podpreset", "allow-database", "-n", ns, "-o", "jsonpath={.spec.env[0].name}={.spec.env[0].value} {.spec.volumeMounts[0].mountPath}"), "DB_PORT=6379 /cache")
	contains(t, ok(t, "", "describe", "podpreset", "allow-database", "-n", ns), "Name:", "allow-database", "Namespace:", ns, "DB_PORT", "6379", "cache-volume", "/cache")
	contains(t, ok(t, "", "explain", "podpreset.spec"), "GROUP:", "settings.k8s.io", "KIND:", "PodPreset", "VERSION:", "v1alpha1",
		"PodPresetSpec is a description of a pod preset.", "selector", "volumeMounts")
	contains(t, ok(t, "", "explain", "podpresets.spec.env"), "EnvVar")
	res := ok(t, "", "api-resources", "--api-group=settings.k8s.io")
	if !regexp.MustCompile(`(?m)^podpresets\s+settings\.k8s\.io/v1alpha1\s+true\s+PodPreset$`).MatchString(res) {
		t.Fatalf("api-resources:\n%s", res)
	}
	contains(t, ok(t, "", "api-versions"), "settings.k8s.io/v1alpha1\n")
	// Server-side apply takes over a field and reports the conflict as upstream.
	edited := strings.Replace(readTestdata(t, "podpreset", "preset.yaml"), `"6379"`, `"6380"`, 1)
	contains(t, kubectl(t, edited, "apply", "--server-side", "--field-manager=other", "-n", ns, "-f", "-").stderr, "conflict", ".spec.env")
	contains(t, ok(t, edited, "apply", "--server-side", "--force-conflicts", "--field-manager=other", "-n", ns, "-f", "-"), "podpreset.settings.k8s.io/allow-database serverside-applied")
	contains(t, ok(t, "", "get", "podpreset", "allow-database", "-n", ns, "-o", "jsonpath={.spec.env[0].value}"), "6380")
	// Bad input is refused with the field that is wrong.
	bad := strings.Replace(readTestdata(t, "podpreset", "preset.yaml"), "name: cache-volume\n  volumes:", "name: missing\n  volumes:", 1)
	contains(t, fails(t, bad, "apply", "-n", ns, "-f", "-"), `spec.volumeMounts[0].name: Not found: "missing"`)
	contains(t, ok(t, "", "delete", "podpreset", "allow-database", "-n", ns), `podpreset.settings.k8s.io "allow-database" deleted`)
	contains(t, fails(t, "", "get", "podpreset", "allow-database", "-n", ns), `podpresets.settings.k8s.io "allow-database" not found`)
}

func readTestdata(t *testing.T, path ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"testdata"}, path...)...))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
