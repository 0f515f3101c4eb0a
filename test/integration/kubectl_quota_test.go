package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// TestKubectlQuotaAndLimits: the stock kubectl creates, lists and
// describes quotas and LimitRanges as against upstream.
func TestKubectlQuotaAndLimits(t *testing.T) {
	in := testserver.Start(t, testserver.Options{})
	admin := in.Kubeconfig
	const ns = "kq"
	mustKubectl(t, admin, "create", "namespace", ns)
	testserver.Settled(t, in.Clientset(t), ns)

	if out := mustKubectl(t, admin, "-n", ns, "create", "quota", "q", "--hard=pods=2,requests.cpu=1,limits.memory=1Gi"); strings.TrimSpace(out) != "resourcequota/q created" {
		t.Errorf("create quota printed %q", out)
	}
	// get quota: NAME AGE REQUEST LIMIT once the controller filled status.
	row := regexp.MustCompile(`(?m)^q\s+\S+\s+pods: 0/2, requests.cpu: 0/1\s+limits.memory: 0/1Gi$`)
	var out string
	deadline := time.Now().Add(30 * time.Second)
	for {
		out = mustKubectl(t, admin, "-n", ns, "get", "quota")
		if row.MatchString(out) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !regexp.MustCompile(`^NAME\s+AGE\s+REQUEST\s+LIMIT\n`).MatchString(out) || !row.MatchString(out) {
		t.Errorf("kubectl get quota:\n%s", out)
	}
	out = mustKubectl(t, admin, "-n", ns, "describe", "quota", "q")
	for _, re := range []string{`(?m)^Name:\s+q$`, `(?m)^Namespace:\s+kq$`, `(?m)^Resource\s+Used\s+Hard$`,
		`(?m)^limits.memory\s+0\s+1Gi$`, `(?m)^pods\s+0\s+2$`, `(?m)^requests.cpu\s+0\s+1$`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("kubectl describe quota: no line matching %s in:\n%s", re, out)
		}
	}

	manifest := filepath.Join(t.TempDir(), "lr.yaml")
	if err := os.WriteFile(manifest, []byte(`apiVersion: v1
kind: LimitRange
metadata:
  name: lr
spec:
  limits:
  - type: Container
    default: {cpu: 500m}
    defaultRequest: {cpu: 250m}
    min: {cpu: 100m}
    max: {cpu: "1"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	mustKubectl(t, admin, "-n", ns, "apply", "-f", manifest)
	out = mustKubectl(t, admin, "-n", ns, "get", "limitrange")
	if !regexp.MustCompile(`^NAME\s+CREATED AT\nlr\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$`).MatchString(out) {
		t.Errorf("kubectl get limitrange:\n%s", out)
	}
	if out2 := mustKubectl(t, admin, "-n", ns, "get", "limits"); out2 != out {
		t.Errorf("kubectl get limits (short name):\n%s", out2)
	}
	out = mustKubectl(t, admin, "-n", ns, "describe", "limits", "lr")
	for _, re := range []string{`(?m)^Name:\s+lr$`, `(?m)^Type\s+Resource\s+Min\s+Max\s+Default Request\s+Default Limit\s+Max Limit/Request Ratio$`,
		`(?m)^Container\s+cpu\s+100m\s+1\s+250m\s+500m\s+-$`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("kubectl describe limits: no line matching %s in:\n%s", re, out)
		}
	}
}
