package e2e

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// ephemeralState is the state of an ephemeral container as the pod's
// status shows it: "running", "terminated:CODE", "waiting:REASON" or "".
func (nc *nodeCluster) ephemeralState(pod, name string) string {
	var p corev1.Pod
	r := nc.kubectl("", "get", "pod", pod, "-o", "json")
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &p) != nil {
		return ""
	}
	for _, cs := range p.Status.EphemeralContainerStatuses {
		if cs.Name != name {
			continue
		}
		switch {
		case cs.State.Running != nil:
			return "running"
		case cs.State.Terminated != nil:
			return "terminated:" + strconv.Itoa(int(cs.State.Terminated.ExitCode))
		case cs.State.Waiting != nil:
			return "waiting:" + cs.State.Waiting.Reason
		}
	}
	return ""
}

func (nc *nodeCluster) waitEphemeral(pod, name, state string) {
	nc.t.Helper()
	nc.eventually(90*time.Second, func() (bool, string) {
		return nc.ephemeralState(pod, name) == state, nc.kubectl("", "get", "pod", pod, "-o", "yaml").stdout
	})
}

// Ephemeral containers on a real node, as upstream's conformance specs and
// `kubectl debug` use them: added to a running pod through its
// ephemeralcontainers subresource, started once in the pod's sandbox (in
// the target container's process namespace with --target), reported in
// status.ephemeralContainerStatuses, reachable with logs, exec and attach,
// never restarted, and never removed.
func TestNodeAgentEphemeralContainers(t *testing.T) {
	t.Parallel()
	nc := startNodeCluster(t)
	target := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: target\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n    image: busybox\n    command: [\"/bin/sleep\", \"10000\"]\n"
	nc.ok(bound(target), "create", "-f", "-")
	nc.waitPhase("target", "Running")

	// kubectl debug without -i adds the container and returns; with
	// --target it sees the app's processes.
	out := nc.ok("", "debug", "target", "--image=busybox", "-c", "debugger", "--target=app", "--", "sh", "-c", "while true; do echo polo; sleep 1; done")
	contains(t, out, "Targeting container \"app\"")
	nc.waitEphemeral("target", "debugger", "running")
	nc.eventually(60*time.Second, func() (bool, string) {
		r := nc.kubectl("", "logs", "target", "-c", "debugger")
		return strings.Contains(r.stdout, "polo"), r.String()
	})
	contains(t, nc.ok("", "exec", "target", "-c", "debugger", "--", "/bin/echo", "marco"), "marco")
	ps := nc.ok("", "exec", "target", "-c", "debugger", "--", "ps")
	contains(t, ps, "sleep 10000", "sh -c while true; do echo polo")
	// kubectl attach follows its output.
	att := nc.background(t, "attach", "target", "-c", "debugger")
	nc.eventually(60*time.Second, func() (bool, string) {
		return len(regexp.MustCompile(`(?m)^polo\r?$`).FindAllString(att.String(), -1)) >= 2, att.String()
	})
	contains(t, nc.ok("", "describe", "pod", "target"), "Ephemeral Containers:", "debugger:")

	// kubectl debug -i attaches to the new container's stdin (kept open:
	// an attach ends when its stdin does); when the shell exits the
	// container stays terminated.
	dbg := exec.Command("kubectl", "debug", "-i", "target", "--image=busybox", "-c", "interactive", "--", "sh")
	dbg.Env = append(os.Environ(), "KUBECONFIG="+nc.kubeconfig, "HOME="+cluster.home)
	dbgOut := &lockedBuffer{}
	dbg.Stdout, dbg.Stderr = dbgOut, dbgOut
	dbg.WaitDelay = 5 * time.Second
	stdin, err := dbg.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := dbg.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- dbg.Wait() }()
	t.Cleanup(func() { _ = dbg.Process.Kill() })
	_, _ = io.WriteString(stdin, "echo hello-from-$((6*7))\n")
	nc.eventually(60*time.Second, func() (bool, string) { return strings.Contains(dbgOut.String(), "hello-from-42"), dbgOut.String() })
	_, _ = io.WriteString(stdin, "exit 7\n")
	_ = stdin.Close()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("kubectl debug -i did not end after the shell exited:\n%s", dbgOut.String())
	}
	nc.waitEphemeral("target", "interactive", "terminated:7")
	id := nc.jsonpath("pod", "target", `{.status.ephemeralContainerStatuses[?(@.name=="interactive")].containerID}`)
	contains(t, nc.ok("", "logs", "target", "-c", "interactive"), "hello-from-42")

	// The update path of upstream's "should update the ephemeral containers"
	// spec: a Pod with one more entry PUT to the subresource; the GET of
	// the subresource then lists them all.
	cfg, err := clientcmd.BuildConfigFromFlags("", nc.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	pod, err := cs.CoreV1().Pods("default").Get(ctx, "target", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: "debugger2", Image: "busybox", Command: []string{"sh", "-c", "echo second; sleep 10000"}, ImagePullPolicy: corev1.PullIfNotPresent, TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}})
	if _, err := cs.CoreV1().Pods("default").UpdateEphemeralContainers(ctx, "target", pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var viaSub corev1.Pod
	if err := json.Unmarshal([]byte(nc.ok("", "get", "--raw", "/api/v1/namespaces/default/pods/target/ephemeralcontainers")), &viaSub); err != nil {
		t.Fatal(err)
	}
	if viaSub.Kind != "Pod" || len(viaSub.Spec.EphemeralContainers) != 3 {
		t.Fatalf("GET ephemeralcontainers: %s with %d ephemeral containers", viaSub.Kind, len(viaSub.Spec.EphemeralContainers))
	}
	nc.waitEphemeral("target", "debugger2", "running")
	// The agent has synced the pod since "interactive" exited (it started
	// debugger2): the exited ephemeral container was not started again.
	if s := nc.ephemeralState("target", "interactive"); s != "terminated:7" {
		t.Fatalf("the exited ephemeral container is %s", s)
	}
	if got := nc.jsonpath("pod", "target", `{.status.ephemeralContainerStatuses[?(@.name=="interactive")].containerID}`); got != id {
		t.Fatalf("the ephemeral container was started again: %s, then %s", id, got)
	}
	nc.eventually(60*time.Second, func() (bool, string) {
		r := nc.kubectl("", "logs", "target", "-c", "debugger2")
		return strings.Contains(r.stdout, "second"), r.String()
	})

	// Removing one is refused with the field at fault.
	pod, err = cs.CoreV1().Pods("default").Get(ctx, "target", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Spec.EphemeralContainers = pod.Spec.EphemeralContainers[1:]
	body, _ := json.Marshal(pod)
	r := nc.kubectl(string(body), "replace", "--raw", "/api/v1/namespaces/default/pods/target/ephemeralcontainers", "-f", "-")
	if r.code == 0 || !strings.Contains(r.stderr+r.stdout, `The Pod "target" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral containers "debugger" may not be removed`) {
		t.Fatalf("removal through the subresource: %s", r)
	}

	// Through it all the pod itself kept running, ready, unrestarted.
	if got := nc.jsonpath("pod", "target", `{.status.phase} {.status.containerStatuses[0].ready} {.status.containerStatuses[0].restartCount}`); got != "Running true 0" {
		t.Fatalf("the target pod: %s", got)
	}
}
