package e2e

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// `kubectl get -w` prints the table and then one row per change.
func TestGetWatchPrintsRows(t *testing.T) {
	ns := namespace(t)
	ok(t, "", "create", "configmap", "first", "-n", ns, "--from-literal=a=b")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", "get", "configmaps", "-n", ns, "-w")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+cluster.kubeconfig, "HOME="+cluster.home)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, &out, "first")
	ok(t, "", "create", "configmap", "second", "-n", ns, "--from-literal=a=b", "--from-literal=c=d")
	waitFor(t, &out, "second")
	cancel()
	_ = cmd.Wait()
	got := out.String()
	if !regexp.MustCompile(`(?m)^NAME\s+DATA\s+AGE$`).MatchString(got) || !regexp.MustCompile(`(?m)^second\s+2\s+`).MatchString(got) {
		t.Fatalf("watch output:\n%s", got)
	}
	if strings.Count(got, "NAME") != 1 {
		t.Fatalf("header printed more than once:\n%s", got)
	}
}

// describe lists the events that name the object.
func TestDescribeShowsEvents(t *testing.T) {
	ns := namespace(t)
	ok(t, "", "run", "evented", "-n", ns, "--image=busybox", "--restart=Never")
	uid := ok(t, "", "get", "pod", "evented", "-n", ns, "-o", "jsonpath={.metadata.uid}")
	event := `apiVersion: v1
kind: Event
metadata:
  name: evented.1
involvedObject:
  apiVersion: v1
  kind: Pod
  name: evented
  namespace: ` + ns + `
  uid: ` + uid + `
reason: Scheduled
message: Successfully assigned the pod
type: Normal
count: 1
source:
  component: default-scheduler
firstTimestamp: "2026-01-01T00:00:00Z"
lastTimestamp: "2026-01-01T00:00:00Z"
`
	ok(t, event, "create", "-n", ns, "-f", "-")
	desc := ok(t, "", "describe", "pod", "evented", "-n", ns)
	contains(t, desc, "Events:", "Scheduled", "default-scheduler", "Successfully assigned the pod")
	ev := ok(t, "", "get", "events", "-n", ns)
	if h := header(ev); strings.Join(h, " ") != "LAST SEEN TYPE REASON OBJECT MESSAGE" {
		t.Fatalf("events header %v", h)
	}
	contains(t, ev, "pod/evented")
	ok(t, "", "create", "deployment", "described", "--image=nginx", "--replicas=2", "-n", ns)
	contains(t, ok(t, "", "describe", "deployment", "described", "-n", ns), "Replicas:", "2 desired", "StrategyType:", "RollingUpdate", "25% max unavailable, 25% max surge", "Pod Template:")
}

func waitFor(t *testing.T, b *lockedBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(b.String(), s) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("output never showed %q:\n%s", s, b.String())
}
