package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// kubectl top against the server's own node agent with real containers:
// once two scrapes (2 s apart here) have passed, a pod spinning a CPU
// shows it, an idle one does not, and the node shows both.
func TestKubectlTopRealContainers(t *testing.T) {
	t.Parallel()
	nc := startNodeCluster(t, "--metrics-resolution=2s")
	pod := func(name, script string) string {
		return `apiVersion: v1
kind: Pod
metadata:
  name: ` + name + `
  labels: {app: top}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "` + script + `"]
`
	}
	nc.ok(bound(pod("busy", "while true; do :; done")), "create", "-f", "-")
	nc.ok(bound(pod("idle", "sleep 3600")), "create", "-f", "-")
	nc.waitPhase("busy", "Running")
	nc.waitPhase("idle", "Running")

	// millicores reads "123m" (or whole cores "1").
	millicores := func(s string) int {
		if v, ok := strings.CutSuffix(s, "m"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
		n, _ := strconv.Atoi(s)
		return n * 1000
	}
	row := regexp.MustCompile(`(?m)^(\S+)\s+(\S+)\s+(\d+)Mi\s*$`)
	nc.eventually(60*time.Second, func() (bool, string) {
		r := nc.kubectl("", "top", "pod", "-l", "app=top", "--sort-by=cpu")
		if r.code != 0 {
			return false, r.String()
		}
		got := map[string]int{}
		var order []string
		for _, m := range row.FindAllStringSubmatch(r.stdout, -1) {
			got[m[1]] = millicores(m[2])
			order = append(order, m[1])
		}
		// A spinning shell uses what CPU it gets, a sleeping one next to
		// nothing. How much the spinning one gets depends on the
		// machine's load: a BestEffort pod's cgroup has the lowest CPU
		// weight, and make test loads both cores, so it has read 23m.
		return len(order) == 2 && order[0] == "busy" && got["busy"] >= 10 && got["busy"] > got["idle"] && got["idle"] < 50 &&
			header(r.stdout)[0] == "NAME", r.String()
	})
	out := nc.ok("", "top", "pod", "busy", "--containers")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "POD NAME CPU(cores) MEMORY(bytes)" ||
		!regexp.MustCompile(`^busy\s+main\s+\d+m?\s+\d+Mi$`).MatchString(strings.TrimSpace(lines[1])) {
		t.Errorf("kubectl top pod busy --containers:\n%s", out)
	}
	out = nc.ok("", "top", "node")
	m := regexp.MustCompile(`(?m)^` + agentNode + `\s+(\S+)\s+(\d+)%\s+(\d+)Mi\s+(\d+)%\s*$`).FindStringSubmatch(out)
	if m == nil || millicores(m[1]) < 10 {
		t.Errorf("kubectl top node: want %s with the busy pod's CPU:\n%s", agentNode, out)
	}
}
