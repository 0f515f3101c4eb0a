package e2e

import (
	"path/filepath"
	"regexp"
	"testing"
)

// Seed 004's HPA walkthrough, command by command: an RC, its Service,
// `kubectl autoscale rc`, `kubectl get hpa`, `kubectl scale rc`.
func TestSeedAutoscaleRCFlow(t *testing.T) {
	ns := namespace(t)
	contains(t, ok(t, "", "create", "-n", ns, "-f", filepath.Join("testdata", "php-apache-rc.yaml")), "replicationcontroller/php-apache created")
	contains(t, ok(t, "", "create", "-n", ns, "-f", filepath.Join("testdata", "php-apache-svc.yaml")), "service/php-apache created")
	contains(t, ok(t, "", "autoscale", "rc", "php-apache", "--min=1", "--max=10", "--cpu-percent=50", "-n", ns), "horizontalpodautoscaler.autoscaling/php-apache autoscaled")
	hpa := ok(t, "", "get", "hpa", "-n", ns)
	if h := header(hpa); len(h) < 7 || h[1] != "REFERENCE" || h[2] != "TARGETS" {
		t.Fatalf("hpa header %v", h)
	}
	if !regexp.MustCompile(`(?m)^php-apache\s+ReplicationController/php-apache\s+.*50%\s+1\s+10\s+`).MatchString(hpa) {
		t.Fatalf("hpa row:\n%s", hpa)
	}
	contains(t, ok(t, "", "scale", "rc", "php-apache", "--replicas=3", "-n", ns), "replicationcontroller/php-apache scaled")
	if got := ok(t, "", "get", "rc", "php-apache", "-n", ns, "-o", "jsonpath={.spec.replicas}"); got != "3" {
		t.Fatalf("rc replicas %q", got)
	}
	rc := ok(t, "", "get", "rc", "-n", ns)
	if h := header(rc); len(h) != 5 || h[1] != "DESIRED" || h[2] != "CURRENT" || h[3] != "READY" {
		t.Fatalf("rc header %v", h)
	}
	svc := ok(t, "", "get", "svc", "php-apache", "-n", ns)
	if !regexp.MustCompile(`(?m)^php-apache\s+ClusterIP\s+10\.43\.\d+\.\d+\s+<none>\s+80/TCP\s+`).MatchString(svc) {
		t.Fatalf("service row:\n%s", svc)
	}
	contains(t, ok(t, "", "describe", "svc", "php-apache", "-n", ns), "Selector:", "app=php-apache", "TargetPort:", "80/TCP")
	contains(t, ok(t, "", "describe", "rc", "php-apache", "-n", ns), "Replicas:", "3 desired", "cpu:", "200m")
	contains(t, ok(t, "", "describe", "hpa", "php-apache", "-n", ns), "Reference:", "ReplicationController/php-apache", "Min replicas:", "1", "Max replicas:", "10")
}
