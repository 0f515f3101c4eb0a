package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

const endpointsManifest = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: http
`

const endpointsPod = `apiVersion: v1
kind: Pod
metadata:
  name: NAME
  labels:
    app: web
spec:
  nodeName: ep-node
  containers:
  - name: c
    image: busybox
    ports:
    - name: http
      containerPort: 8080
`

// kubectlUntil runs kubectl until check accepts its output.
func kubectlUntil(t *testing.T, what string, check func(string) bool, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := kubectl(t, "", args...)
		if r.code == 0 && check(r.stdout) {
			return r.stdout
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s; last: %s", what, r)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A Service's pods, once they have addresses and are ready, show in
// `kubectl get endpoints`, `get endpointslices` and `describe service`
// as upstream prints them; they go with the Service.
func TestServiceEndpointsThroughKubectl(t *testing.T) {
	ns := namespace(t)
	ok(t, "apiVersion: v1\nkind: Node\nmetadata:\n  name: ep-node\n", "apply", "-f", "-")
	t.Cleanup(func() { kubectl(t, "", "delete", "node", "ep-node") })
	ok(t, endpointsManifest, "apply", "-n", ns, "-f", "-")
	for i := 1; i <= 4; i++ {
		name := fmt.Sprintf("web-%d", i)
		ok(t, strings.ReplaceAll(endpointsPod, "NAME", name), "apply", "-n", ns, "-f", "-")
		// What a node agent would report (this server runs none).
		status := fmt.Sprintf(`{"status":{"phase":"Running","podIP":"10.42.9.%d","podIPs":[{"ip":"10.42.9.%d"}],"conditions":[{"type":"Ready","status":"True"}]}}`, i, i)
		ok(t, "", "patch", "pod", name, "-n", ns, "--subresource=status", "--type=merge", "-p", status)
	}
	want := "10.42.9.1:8080,10.42.9.2:8080,10.42.9.3:8080 + 1 more..."
	out := kubectlUntil(t, "endpoints of web", func(s string) bool { return strings.Contains(s, want) }, "get", "endpoints", "web", "-n", ns)
	if h := strings.Join(header(out), " "); h != "NAME ENDPOINTS AGE" {
		t.Errorf("header %q", h)
	}
	// Slices list endpoints in the order they joined.
	sliceRow := regexp.MustCompile(`(?m)^web-[a-z0-9]{5}\s+IPv4\s+8080\s+10\.42\.9\.\d,10\.42\.9\.\d,10\.42\.9\.\d \+ 1 more\.\.\.\s+\S+$`)
	out = kubectlUntil(t, "endpoint slice of web", sliceRow.MatchString, "get", "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=web")
	if h := strings.Join(header(out), " "); h != "NAME ADDRESSTYPE PORTS ENDPOINTS AGE" {
		t.Errorf("header %q", h)
	}
	describe := regexp.MustCompile(`(?m)^Endpoints:\s+10\.42\.9\.\d:8080,10\.42\.9\.\d:8080,10\.42\.9\.\d:8080 \+ 1 more\.\.\.$`)
	kubectlUntil(t, "describe service web", describe.MatchString, "describe", "service", "web", "-n", ns)

	// A pod that turns unready leaves the addresses.
	ok(t, "", "patch", "pod", "web-2", "-n", ns, "--subresource=status", "--type=merge", "-p", `{"status":{"conditions":[{"type":"Ready","status":"False"}]}}`)
	kubectlUntil(t, "web-2 out", func(s string) bool { return strings.Contains(s, "10.42.9.1:8080,10.42.9.3:8080,10.42.9.4:8080 ") }, "get", "endpoints", "web", "-n", ns)

	// The API server is the kubernetes Service's endpoint.
	kubectlUntil(t, "kubernetes endpoints", func(s string) bool { return strings.Contains(s, fmt.Sprintf("127.0.0.1:%d", cluster.port)) },
		"get", "endpoints", "kubernetes", "-n", "default")
	kubectlUntil(t, "describe service kubernetes", func(s string) bool {
		return regexp.MustCompile(fmt.Sprintf(`(?m)^Endpoints:\s+127\.0\.0\.1:%d$`, cluster.port)).MatchString(s)
	}, "describe", "service", "kubernetes", "-n", "default")

	ok(t, "", "delete", "service", "web", "-n", ns)
	kubectlUntil(t, "endpoints and slices gone", func(s string) bool { return strings.TrimSpace(s) == "" },
		"get", "endpoints,endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=web", "--ignore-not-found", "-o", "name")
	if r := kubectl(t, "", "get", "endpoints", "web", "-n", ns); r.code == 0 || !strings.Contains(r.stderr, `endpoints "web" not found`) {
		t.Errorf("endpoints of the deleted service: %s", r)
	}
}
