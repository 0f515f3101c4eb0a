package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The seeds' autoscaling, on the Service cluster (its server scrapes
// metrics and syncs HorizontalPodAutoscalers every 3 s): seed 004's
// walkthrough with real containers and the stock kubectl, seed 003's
// autoscaling/v1 manifest.

// phpApacheRC is seed 004's php-apache ReplicationController (its request
// of 200m CPU, port 80, the app label its Service selects) with busybox
// standing in for the hpa-example image: httpd answers "/" with a CGI
// script that, like the image's index.php, burns CPU in a loop and then
// prints "OK!" (a line, so the load generator's log has whole lines).
const phpApacheRC = `apiVersion: v1
kind: ReplicationController
metadata:
  name: php-apache
spec:
  replicas: 1
  template:
    metadata:
      name: php-apache
      labels:
        app: php-apache
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: php-apache
        image: busybox
        command:
        - sh
        - -c
        - |
          mkdir -p /www/cgi-bin
          cat > /www/cgi-bin/index.cgi <<'EOF'
          #!/bin/sh
          i=0; while [ $i -lt 50000 ]; do i=$((i+1)); done
          printf 'Content-Type: text/plain\r\n\r\nOK!\n'
          EOF
          chmod +x /www/cgi-bin/index.cgi
          exec httpd -f -p 80 -h /www
        resources:
          requests:
            cpu: 200m
        ports:
        - containerPort: 80
        readinessProbe:
          tcpSocket: {port: 80}
          periodSeconds: 1
`

// hpaRow matches one row of `kubectl get hpa`: NAME REFERENCE TARGETS
// MINPODS MAXPODS REPLICAS AGE, TARGETS captured.
func hpaRow(name, ref, min, max string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s+` + regexp.QuoteMeta(ref) +
		`\s+(.+?)\s+` + min + `\s+` + max + `\s+(\d+)\s+\S+$`)
}

// testAutoscaleWalkthrough is seed 004's: the php-apache RC and Service,
// `kubectl autoscale rc php-apache --min=1 --max=10 --cpu-percent=50`, a
// load generator fetching http://php-apache in a loop until the HPA sees
// CPU above its target and adds replicas, then (with a 5 s scale-down
// window patched through autoscaling/v2) back to one replica once the load
// generator is gone.
func testAutoscaleWalkthrough(sc *svcCluster) {
	t := sc.t
	start := time.Now()
	step := func(what string) { t.Logf("%6.1fs %s", time.Since(start).Seconds(), what) }
	ns := sc.namespace("seed004-hpa")

	// The seed's YAML way writes `apiVersion: v1`, which has no
	// HorizontalPodAutoscaler: kubectl refuses it. Its client-side
	// validation stops first, asking for the CRDs Flotilla does not serve
	// (upstream's lists none and goes on); without it, the mapping error
	// is upstream's.
	r := sc.kubectl("", "create", "-n", ns, "-f", "testdata/hpa-php-apache.yaml")
	if r.code == 0 {
		t.Fatalf("an HPA of apiVersion v1 was created: %s", r)
	}
	contains(t, r.stderr, `error validating "testdata/hpa-php-apache.yaml"`)
	r = sc.kubectl("", "create", "-n", ns, "-f", "testdata/hpa-php-apache.yaml", "--validate=false")
	if r.code == 0 {
		t.Fatalf("an HPA of apiVersion v1 was created: %s", r)
	}
	contains(t, r.stderr, `no matches for kind "HorizontalPodAutoscaler" in version "v1"`)

	contains(t, sc.ok(phpApacheRC, "create", "-n", ns, "-f", "-"), "replicationcontroller/php-apache created")
	contains(t, sc.ok("", "create", "-n", ns, "-f", "testdata/php-apache-svc.yaml"), "service/php-apache created")
	contains(t, sc.ok("", "autoscale", "-n", ns, "rc", "php-apache", "--min=1", "--max=10", "--cpu-percent=50"),
		"horizontalpodautoscaler.autoscaling/php-apache autoscaled")
	sc.waitReady(ns, "app=php-apache", 1)
	step("php-apache ready, HPA created")

	row := hpaRow("php-apache", "ReplicationController/php-apache", "1", "10")
	// Idle, the one pod is below its target: TARGETS shows a figure
	// (metrics flow) and nothing scales.
	sc.eventually("kubectl get hpa shows php-apache's CPU", 60*time.Second, func() (bool, string) {
		out := sc.kubectl("", "get", "hpa", "-n", ns).stdout
		m := row.FindStringSubmatch(out)
		return m != nil && regexp.MustCompile(`^cpu: \d+%/50%$`).MatchString(m[1]), out
	})
	step("idle utilization in kubectl get hpa: " + strings.TrimSpace(sc.ok("", "get", "hpa", "php-apache", "-n", ns, "--no-headers")))

	contains(t, sc.ok("", "run", "-n", ns, "load-generator", "--image=busybox", "--restart=Never", "--",
		"/bin/sh", "-c", "while true; do wget -q -O- http://php-apache; done"), "pod/load-generator created")
	sc.eventually("the load generator gets OK! from php-apache", 90*time.Second, func() (bool, string) {
		r := sc.kubectl("", "logs", "-n", ns, "load-generator", "--tail=5")
		return strings.Contains(r.stdout, "OK!"), r.String()
	})
	step("load generator running")

	// Under load: CPU above the 50% target, then more replicas.
	var above string
	sc.eventually("kubectl get hpa shows CPU above 50%", 120*time.Second, func() (bool, string) {
		out := sc.kubectl("", "get", "hpa", "-n", ns).stdout
		if m := row.FindStringSubmatch(out); m != nil {
			if u := regexp.MustCompile(`^cpu: (\d+)%/50%$`).FindStringSubmatch(m[1]); u != nil {
				if n, _ := strconv.Atoi(u[1]); n > 50 {
					above = strings.TrimSpace(out)
					return true, out
				}
			}
		}
		return false, out + sc.kubectl("", "top", "pod", "-n", ns).String()
	})
	step("above target:\n" + above + "\n" + sc.kubectl("", "top", "pod", "-n", ns).stdout)
	replicas := func() int {
		n, _ := strconv.Atoi(sc.kubectl("", "get", "rc", "php-apache", "-n", ns, "-o", "jsonpath={.spec.replicas}").stdout)
		return n
	}
	sc.eventually("php-apache scaled above 1 replica", 120*time.Second, func() (bool, string) {
		return replicas() > 1, sc.kubectl("", "get", "hpa,rc,pods", "-n", ns).String()
	})
	up := replicas()
	step(fmt.Sprintf("scaled up to %d replicas", up))
	sc.eventually("the HPA reports the new replicas", 60*time.Second, func() (bool, string) {
		out := sc.kubectl("", "get", "hpa", "-n", ns).stdout
		m := row.FindStringSubmatch(out)
		return m != nil && m[2] != "1", out
	})
	desc := sc.ok("", "describe", "hpa", "php-apache", "-n", ns)
	matches(t, desc,
		`Reference:\s+ReplicationController/php-apache\n`,
		`resource cpu on pods  \(as a percentage of request\):\s+\d+% \(\d+m\) / 50%\n`,
		`Min replicas:\s+1\n`,
		`Max replicas:\s+10\n`,
		`ReplicationController pods:\s+\d+ current / \d+ desired\n`,
		`AbleToScale\s+True\s+`,
		`ScalingActive\s+True\s+ValidMetricFound\s+the HPA was able to successfully calculate a replica count from cpu resource utilization \(percentage of request\)`,
		`Normal\s+SuccessfulRescale\s+.*horizontal-pod-autoscaler\s+New size: ([2-9]|10); reason: cpu resource utilization \(percentage of request\) above target`)

	// A short scale-down window, through autoscaling/v2 (v1 has no
	// behavior field): then the load stops and php-apache goes back to 1.
	contains(t, sc.ok("", "patch", "hpa", "php-apache", "-n", ns, "--type=merge", "-p", `{"spec":{"behavior":{"scaleDown":{"stabilizationWindowSeconds":5}}}}`),
		"horizontalpodautoscaler.autoscaling/php-apache patched")
	behavior := sc.ok("", "get", "horizontalpodautoscalers.v2.autoscaling", "php-apache", "-n", ns, "-o", "jsonpath={.spec.behavior.scaleDown}")
	contains(t, behavior, `"stabilizationWindowSeconds":5`, `"type":"Percent"`) // the API's default policy filled in
	sc.ok("", "delete", "pod", "load-generator", "-n", ns, "--grace-period=1")
	step("load generator deleted")
	sc.eventually("php-apache back to 1 replica", 120*time.Second, func() (bool, string) {
		return replicas() == 1, sc.kubectl("", "get", "hpa,rc", "-n", ns).String()
	})
	step("scaled down to 1 replica")
	sc.waitReady(ns, "app=php-apache", 1)
	desc = sc.ok("", "describe", "hpa", "php-apache", "-n", ns)
	matches(t, desc,
		`Scale Down:\n\s+Stabilization Window: 5 seconds\n`,
		`Normal\s+SuccessfulRescale\s+.*New size: 1; reason: All metrics below target`,
		`ScalingActive\s+True\s+ValidMetricFound`)
	t.Logf("kubectl describe hpa php-apache:\n%s", desc)
	step("done")
}

// testAutoscaleV1YAML applies seed 003's autoscaling/v1 HPA for a
// Deployment my-deployment as written: kubectl get hpa shows its
// reference, CPU target and bounds, the autoscaler brings the Deployment
// up to minReplicas, and the autoscaling/v2 view has the converted metric.
func testAutoscaleV1YAML(sc *svcCluster) {
	t := sc.t
	ns := sc.namespace("seed003-hpa")
	sc.ok(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-deployment
spec:
  replicas: 1
  selector:
    matchLabels: {app: my-app}
  template:
    metadata:
      labels: {app: my-app}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: busybox
        command: ["sleep", "3600"]
        resources:
          requests: {cpu: 100m}
`, "apply", "-n", ns, "-f", "-")
	contains(t, sc.ok("", "apply", "-n", ns, "-f", "testdata/my-hpa.yaml"), "horizontalpodautoscaler.autoscaling/my-hpa created")

	row := hpaRow("my-hpa", "Deployment/my-deployment", "2", "10")
	out := sc.ok("", "get", "hpa", "-n", ns)
	if got := header(out); strings.Join(got, " ") != "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE" {
		t.Fatalf("kubectl get hpa columns %v", got)
	}
	if m := row.FindStringSubmatch(out); m == nil || !regexp.MustCompile(`^cpu: (<unknown>|\d+%)/70%$`).MatchString(m[1]) {
		t.Fatalf("kubectl get hpa:\n%s", out)
	}
	// Below minReplicas: scaled to 2, then the two idle pods' CPU shows.
	sc.eventually("my-hpa at 2 replicas with a CPU figure", 90*time.Second, func() (bool, string) {
		out := sc.kubectl("", "get", "hpa", "-n", ns).stdout
		m := row.FindStringSubmatch(out)
		return m != nil && m[2] == "2" && regexp.MustCompile(`^cpu: \d+%/70%$`).MatchString(m[1]), out
	})
	sc.waitReady(ns, "app=my-app", 2)
	matches(t, sc.ok("", "describe", "hpa", "my-hpa", "-n", ns),
		`Normal\s+SuccessfulRescale\s+.*New size: 2; reason: Current number of replicas below Spec.MinReplicas`)

	// By their full names: kubectl's short name hpa keeps no version.
	v2 := sc.ok("", "get", "horizontalpodautoscalers.v2.autoscaling", "my-hpa", "-n", ns, "-o", "yaml")
	contains(t, v2, "apiVersion: autoscaling/v2", `  metrics:
  - resource:
      name: cpu
      target:
        averageUtilization: 70
        type: Utilization
    type: Resource`, `  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: my-deployment`, "currentReplicas: 2")
	v1 := sc.ok("", "get", "horizontalpodautoscalers.v1.autoscaling", "my-hpa", "-n", ns, "-o", "yaml")
	contains(t, v1, "apiVersion: autoscaling/v1", "targetCPUUtilizationPercentage: 70", "currentCPUUtilizationPercentage:")
}

// matches fails t unless out matches every pattern.
func matches(t testing.TB, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(out) {
			t.Fatalf("output does not match %q:\n%s", p, out)
		}
	}
}
