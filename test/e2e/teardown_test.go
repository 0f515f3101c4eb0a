package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/containerd"
	"github.com/flotilla-io/flotilla/pkg/cri"
)

// Whatever ends a pod, nothing of it stays on the node. Pods with a
// Secret, a ConfigMap, a memory-backed emptyDir (tmpfs), a projected
// token and a hostPort end every way a pod ends: graceful delete, force
// delete (one of them stuck pulling an image), completion then delete,
// activeDeadlineSeconds then delete, API eviction, namespace delete,
// their sandbox removed behind the agent's back (recreated; the old
// sandbox's network goes), and a force delete while the agent is down
// (found on restart). The test first sees every trace exist (sandbox,
// containers, netns, host veth, host-local lease, hostPort rule, pod
// directory, tmpfs mount, logs, the agent's per-pod state), then polls
// until none is left and asserts that.
func TestPodsLeaveNothingBehind(t *testing.T) {
	t.Parallel()
	nc := startNodeCluster(t)
	agentDir := filepath.Join(nc.dir, "agent")
	ns, ns2 := "teardown", "teardown-gone"
	for _, n := range []string{ns, ns2} {
		nc.ok("", "create", "namespace", n)
		nc.ok("", "create", "secret", "generic", "td-secret", "-n", n, "--from-literal=password=s3cret")
		nc.ok("", "create", "configmap", "td-config", "-n", n, "--from-literal=color=blue")
	}
	type podCase struct {
		name, ns, image string
		extra, command  string
		port            int
	}
	const loop = `trap 'exit 0' TERM; while true; do sleep 1; done`
	cases := []podCase{
		{name: "graceful", ns: ns, command: loop},
		{name: "force", ns: ns, command: loop},
		// Stuck pulling: its image pull back-off is per-pod state too.
		{name: "pullfail", ns: ns, image: "127.0.0.1:1/flotilla/none:1", command: loop},
		{name: "complete", ns: ns, extra: "  restartPolicy: Never\n", command: `while [ ! -f /mem/done ]; do sleep 0.2; done; exit 0`},
		// Its activeDeadlineSeconds is set once every trace was seen: set
		// at creation (40 s), it ran out under make test's load at 8083b16
		// before the test had got to this pod.
		{name: "deadline", ns: ns, command: loop},
		// A container that crashes gives the pod a restart back-off.
		{name: "evicted", ns: ns, command: loop},
		{name: "inns", ns: ns2, command: loop},
		{name: "replaced", ns: ns, command: loop},
		{name: "whiledown", ns: ns, command: loop},
	}
	for i := range cases {
		cases[i].port = 31100 + i
		if cases[i].image == "" {
			cases[i].image = "busybox"
		}
	}
	manifest := func(c podCase) string {
		crasher := ""
		if c.name == "evicted" {
			crasher = "  - name: crasher\n    image: busybox\n    command: [\"sh\", \"-c\", \"exit 1\"]\n"
		}
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s}
spec:
  nodeName: %s
  terminationGracePeriodSeconds: 2
%s  containers:
  - name: c
    image: %s
    command: ["sh", "-c", %q]
    ports: [{containerPort: 8080, hostPort: %d}]
    readinessProbe: {exec: {command: ["true"]}, periodSeconds: 5}
    volumeMounts:
    - {name: sec, mountPath: /sec}
    - {name: cm, mountPath: /cm}
    - {name: mem, mountPath: /mem}
    - {name: tok, mountPath: /tok}
%s  volumes:
  - {name: sec, secret: {secretName: td-secret}}
  - {name: cm, configMap: {name: td-config}}
  - {name: mem, emptyDir: {medium: Memory}}
  - name: tok
    projected:
      sources:
      - serviceAccountToken: {path: token, expirationSeconds: 3600}
`, c.name, c.ns, agentNode, c.extra, c.image, c.command, c.port, crasher)
	}
	for _, c := range cases {
		nc.eventually(60*time.Second, func() (bool, string) {
			r := nc.kubectl(manifest(c), "apply", "-f", "-") // the namespace's ServiceAccount may lag
			return r.code == 0, r.String()
		})
	}

	rt := dialAgentRuntime(t, agentDir)
	prints := map[string]*podFootprint{}
	for _, c := range cases {
		want := "Running"
		if c.name == "pullfail" {
			want = "Pending"
		}
		nc.eventually(90*time.Second, func() (bool, string) {
			out := nc.kubectl("", "get", "pod", c.name, "-n", c.ns, "-o", "jsonpath={.status.phase} {.status.podIP} {.metadata.uid}").stdout
			f := strings.Fields(out)
			if len(f) != 3 || f[0] != want {
				return false, out
			}
			fp, err := footprintOf(rt, agentDir, c.ns, c.name, f[2])
			if err != nil {
				return false, err.Error()
			}
			prints[c.name] = fp
			return true, ""
		})
		fp := prints[c.name]
		if c.name != "pullfail" {
			// The host end of the pod's veth, by the index eth0 names.
			iflink := strings.TrimSpace(nc.ok("", "exec", c.name, "-n", c.ns, "-c", "c", "--", "cat", "/sys/class/net/eth0/iflink"))
			idx, err := strconv.Atoi(iflink)
			if err != nil {
				t.Fatalf("iflink of %s: %q", c.name, iflink)
			}
			ifc, err := net.InterfaceByIndex(idx)
			if err != nil {
				t.Fatalf("host veth of %s (index %d): %v", c.name, idx, err)
			}
			fp.veth = ifc.Name
		}
		fp.mustExist(t)
	}
	state := agentMetrics(t, nc)
	t.Logf("agent state with %d pods: %v", len(cases), state)
	// Pods still running after the read: a finished pod has no probers
	// and no volumes left.
	running := 0.0
	for _, c := range cases {
		if nc.kubectl("", "get", "pod", c.name, "-n", c.ns, "-o", "jsonpath={.status.phase}").stdout == "Running" {
			running++
		}
	}
	n := float64(len(cases))
	if running < n-1 { // all but pullfail (Pending)
		t.Fatalf("%v of %v pods Running, want all but pullfail", running, n)
	}
	// The series count what they claim: each pod has a directory, each
	// running pod its volumes' state and probers, the crashing container
	// a restart back-off, the failed pull a pull back-off.
	for name, least := range map[string]float64{
		`flotilla_agent_pods_on_disk`:                                n,
		`flotilla_agent_pods_with_state{state="volumes"}`:            running,
		`flotilla_agent_pods_with_state{state="admission"}`:          n,
		`flotilla_agent_pods_with_state{state="probe_workers"}`:      running,
		`flotilla_agent_pods_with_state{state="image_pull_backoff"}`: 1,
	} {
		if state[name] < least {
			t.Errorf("%s = %v, want at least %v", name, state[name], least)
		}
	}
	nc.eventually(60*time.Second, func() (bool, string) {
		s := agentMetrics(t, nc)
		return s[`flotilla_agent_pods_with_state{state="restart_backoff"}`] >= 1, fmt.Sprint(s)
	})
	if t.Failed() {
		t.FailNow()
	}

	// Graceful and force deletes.
	nc.ok("", "delete", "pod", "graceful", "-n", ns, "--wait=false")
	nc.ok("", "delete", "pod", "force", "pullfail", "-n", ns, "--grace-period=0", "--force")

	// Completion: the finished pod's volumes (Secret files, tmpfs) go
	// at once, its directory and logs when it is deleted.
	nc.ok("", "exec", "complete", "-n", ns, "-c", "c", "--", "touch", "/mem/done")
	nc.eventually(60*time.Second, func() (bool, string) {
		out := nc.kubectl("", "get", "pod", "complete", "-n", ns, "-o", "jsonpath={.status.phase}").stdout
		return out == "Succeeded", out
	})
	nc.eventually(60*time.Second, func() (bool, string) {
		vols := filepath.Join(agentDir, "pods", prints["complete"].uid, "volumes")
		_, err := os.Stat(vols)
		return os.IsNotExist(err) && len(mountsOf(t, prints["complete"].uid)) == 0, fmt.Sprintf("%s: %v, mounts %v", vols, err, mountsOf(t, prints["complete"].uid))
	})
	if _, err := os.Stat(prints["complete"].podDir); err != nil {
		t.Errorf("finished pod's directory removed before the pod was deleted: %v", err)
	}
	nc.ok("", "delete", "pod", "complete", "-n", ns, "--wait=false")

	// activeDeadlineSeconds, set on a running pod (allowed from none), is
	// long past its start.
	nc.ok("", "patch", "pod", "deadline", "-n", ns, "--type=merge", "-p", `{"spec":{"activeDeadlineSeconds":1}}`)
	nc.eventually(90*time.Second, func() (bool, string) {
		out := nc.kubectl("", "get", "pod", "deadline", "-n", ns, "-o", "jsonpath={.status.phase}/{.status.reason}").stdout
		return out == "Failed/DeadlineExceeded", out
	})
	nc.ok("", "delete", "pod", "deadline", "-n", ns, "--wait=false")

	// API eviction.
	nc.ok(`{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"evicted","namespace":"`+ns+`"}}`,
		"create", "--raw", "/api/v1/namespaces/"+ns+"/pods/evicted/eviction", "-f", "-")

	// The namespace deleted.
	nc.ok("", "delete", "namespace", ns2, "--wait=false")

	// The sandbox removed behind the agent's back: the agent makes a new
	// one; the old one's network goes with it.
	old := prints["replaced"]
	// The agent may stop the sandbox at the same moment (it sees its
	// containers die); the two CNI teardowns can then collide (portmap's
	// ip6tables chain "File exists" in CI at b57859b). Stop and remove are
	// idempotent, so the removal is retried until it succeeds.
	for _, id := range old.sandboxes {
		nc.eventually(60*time.Second, func() (bool, string) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := cri.RemoveSandbox(ctx, rt.Runtime, id); err != nil {
				return false, err.Error()
			}
			return true, ""
		})
	}
	nc.eventually(60*time.Second, func() (bool, string) {
		fp, err := footprintOf(rt, agentDir, ns, "replaced", old.uid)
		if err != nil {
			return false, err.Error()
		}
		return len(fp.sandboxes) == 1 && fp.sandboxes[0] != old.sandboxes[0], fmt.Sprint(fp.sandboxes)
	})
	nc.eventually(60*time.Second, func() (bool, string) {
		left := old.networkLeft(agentDir)
		return len(left) == 0, strings.Join(left, "\n")
	})
	nc.ok("", "delete", "pod", "replaced", "-n", ns, "--wait=false")

	// Every pod but one is going; wait for them to be gone from the API.
	for _, c := range cases {
		if c.name == "whiledown" {
			continue
		}
		nc.eventually(90*time.Second, func() (bool, string) {
			r := nc.kubectl("", "get", "pod", c.name, "-n", c.ns)
			return r.code != 0 && strings.Contains(r.stderr, "NotFound"), r.String()
		})
	}

	// The directories of pods that left the API without the agent's
	// teardown (force deletes; finished pods, which the API deletes at
	// once) only the housekeeping removes.
	before := agentMetrics(t, nc)
	t.Logf("housekeeping before the restart: %v rounds, %.4fs in all; removed: %v",
		before["flotilla_agent_housekeeping_duration_seconds_count"], before["flotilla_agent_housekeeping_duration_seconds_sum"], removedCounts(before))
	if before[`flotilla_agent_housekeeping_removed_total{kind="pod_directories"}`] < 2 {
		t.Errorf("housekeeping removed fewer than 2 pod directories (force, pullfail): %v", removedCounts(before))
	}

	// A force delete while the agent is down: the server runs without
	// its agent meanwhile, then restarts with it.
	rt.Close()
	nc.kill()
	args := nc.args
	nc.args = append(append([]string(nil), args...), "--disable-agent")
	nc.spawn()
	nc.eventually(60*time.Second, func() (bool, string) {
		r := nc.kubectl("", "delete", "pod", "whiledown", "-n", ns, "--grace-period=0", "--force")
		return r.code == 0, r.String()
	})
	nc.kill()
	nc.args = args
	nc.restart()
	rt = dialAgentRuntime(t, agentDir)
	defer rt.Close()

	// Nothing of any pod stays.
	start := time.Now()
	nc.eventually(120*time.Second, func() (bool, string) {
		var left []string
		for _, c := range cases {
			left = append(left, prints[c.name].left(rt, agentDir)...)
		}
		left = append(left, dirEntries(filepath.Join(agentDir, "pods"))...)
		left = append(left, dirEntries(filepath.Join(agentDir, "logs"))...)
		s := agentMetrics(t, nc)
		for _, st := range agentStates {
			if _, ok := s[`flotilla_agent_pods_with_state{state="`+st+`"}`]; !ok {
				left = append(left, "no series of state "+st)
			}
		}
		for k, v := range s {
			if (strings.HasPrefix(k, "flotilla_agent_pods_with_state") || k == "flotilla_agent_pods_on_disk") && v != 0 {
				left = append(left, fmt.Sprintf("%s = %v", k, v))
			}
		}
		if _, ok := s["flotilla_agent_pods_on_disk"]; !ok {
			left = append(left, "no flotilla_agent_pods_on_disk series")
		}
		return len(left) == 0, strings.Join(left, "\n")
	})
	s := agentMetrics(t, nc)
	t.Logf("clean %v after the restart; housekeeping since the restart: %v rounds, %.4fs in all; removed: %v",
		time.Since(start).Round(100*time.Millisecond), s["flotilla_agent_housekeeping_duration_seconds_count"], s["flotilla_agent_housekeeping_duration_seconds_sum"], removedCounts(s))
	// Only the housekeeping removes the directory of a pod deleted while
	// the agent was down.
	if s[`flotilla_agent_housekeeping_removed_total{kind="pod_directories"}`] < 1 {
		t.Errorf("housekeeping removed no pod directory after the restart: %v", removedCounts(s))
	}
}

// agentStates are the agent's per-pod in-memory states.
var agentStates = []string{"restart_backoff", "image_pull_backoff", "volumes", "probe_workers", "admission"}

// podFootprint is what a pod holds on the node.
type podFootprint struct {
	ns, name, uid string
	sandboxes     []string
	containers    []string
	netns         string // the sandbox's network namespace
	ip            string
	lease         string // the host-local lease file of ip
	veth          string // the host end of the pod's interface
	podDir        string
	logDir        string
}

func dialAgentRuntime(t *testing.T, agentDir string) *cri.Client {
	t.Helper()
	rt, err := cri.Dial(containerd.Socket(filepath.Join(agentDir, "containerd")))
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// footprintOf reads what the node holds for the pod of that UID.
func footprintOf(rt *cri.Client, agentDir, ns, name, uid string) (*podFootprint, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fp := &podFootprint{ns: ns, name: name, uid: uid,
		podDir: filepath.Join(agentDir, "pods", uid),
		logDir: filepath.Join(agentDir, "logs", ns+"_"+name+"_"+uid)}
	sbs, ctrs, err := runtimeOf(ctx, rt, uid)
	if err != nil {
		return nil, err
	}
	fp.containers = ctrs
	for _, sb := range sbs {
		fp.sandboxes = append(fp.sandboxes, sb.Id)
		if sb.State != runtimeapi.PodSandboxState_SANDBOX_READY {
			continue
		}
		st, err := rt.Runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sb.Id, Verbose: true})
		if err != nil {
			return nil, err
		}
		fp.ip = st.Status.GetNetwork().GetIp()
		var info struct {
			RuntimeSpec struct {
				Linux struct {
					Namespaces []struct{ Type, Path string }
				}
			}
		}
		if err := json.Unmarshal([]byte(st.Info["info"]), &info); err != nil {
			return nil, fmt.Errorf("sandbox info: %w", err)
		}
		for _, n := range info.RuntimeSpec.Linux.Namespaces {
			if n.Type == "network" {
				fp.netns = n.Path
			}
		}
	}
	if fp.ip != "" {
		fp.lease = filepath.Join(agentDir, "cni", "networks", "flotilla", fp.ip)
	}
	if len(fp.sandboxes) == 0 || fp.netns == "" || fp.ip == "" {
		return nil, fmt.Errorf("pod %s/%s: sandboxes %v, netns %q, ip %q", ns, name, fp.sandboxes, fp.netns, fp.ip)
	}
	return fp, nil
}

// mustExist checks that every trace the test later expects gone is
// there now: a check of absence means nothing if the thing never was.
func (fp *podFootprint) mustExist(t *testing.T) {
	t.Helper()
	for _, p := range []string{fp.netns, fp.lease, fp.logDir} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("pod %s: %v", fp.name, err)
		}
	}
	if fp.veth != "" { // a pod whose container runs: its volumes too
		if _, err := os.Stat(filepath.Join(fp.podDir, "volumes", "secret", "sec", "password")); err != nil {
			t.Fatalf("pod %s: %v", fp.name, err)
		}
		if len(fp.containers) == 0 {
			t.Fatalf("pod %s: no containers listed", fp.name)
		}
		if m := mountsOf(t, fp.uid); len(m) == 0 {
			t.Fatalf("pod %s: no mount of its directory (tmpfs emptyDir) in mountinfo", fp.name)
		}
	}
	if !rulesetMentions(t, fp.ip) {
		t.Fatalf("pod %s: no hostPort rule names its address %s", fp.name, fp.ip)
	}
}

// networkLeft lists what of the pod's (old) sandbox network remains.
func (fp *podFootprint) networkLeft(agentDir string) []string {
	var left []string
	if _, err := os.Stat(fp.netns); err == nil {
		left = append(left, "netns "+fp.netns)
	}
	if b, err := os.ReadFile(fp.lease); err == nil && strings.Contains(string(b), fp.sandboxes[0]) {
		left = append(left, "lease "+fp.lease)
	}
	if fp.veth != "" {
		if _, err := net.InterfaceByName(fp.veth); err == nil {
			left = append(left, "veth "+fp.veth)
		}
	}
	return left
}

// left lists what of the pod remains on the node.
func (fp *podFootprint) left(rt *cri.Client, agentDir string) []string {
	left := fp.networkLeft(agentDir)
	if _, err := os.Stat(fp.lease); err == nil {
		left = append(left, "lease "+fp.lease)
	}
	for _, p := range []string{fp.podDir, fp.logDir} {
		if _, err := os.Lstat(p); err == nil {
			left = append(left, "path "+p)
		}
	}
	for _, m := range mountsOf(nil, fp.uid) {
		left = append(left, "mount "+m)
	}
	if rulesetMentions(nil, fp.ip) {
		left = append(left, "nftables rule naming "+fp.ip)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sbs, ctrs, err := runtimeOf(ctx, rt, fp.uid)
	if err != nil {
		return append(left, err.Error())
	}
	for _, sb := range sbs {
		left = append(left, "sandbox "+sb.Id+" of "+fp.name)
	}
	for _, c := range ctrs {
		left = append(left, "container "+c+" of "+fp.name)
	}
	return left
}

// runtimeOf lists the sandboxes and container IDs the runtime holds for
// the pod of that UID, by the agent's labels.
func runtimeOf(ctx context.Context, rt *cri.Client, uid string) ([]*runtimeapi.PodSandbox, []string, error) {
	sel := map[string]string{"io.kubernetes.pod.uid": uid}
	sbs, err := rt.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: sel}})
	if err != nil {
		return nil, nil, fmt.Errorf("list sandboxes: %w", err)
	}
	ctrs, err := rt.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{LabelSelector: sel}})
	if err != nil {
		return nil, nil, fmt.Errorf("list containers: %w", err)
	}
	var ids []string
	for _, c := range ctrs.Containers {
		ids = append(ids, c.Id)
	}
	return sbs.Items, ids, nil
}

// mountsOf lists the mount points of this mount namespace under a pod's
// directory.
func mountsOf(t *testing.T, uid string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		if t != nil {
			t.Fatal(err)
		}
		return []string{err.Error()}
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 && strings.Contains(fields[4], "/pods/"+uid+"/") {
			out = append(out, fields[4])
		}
	}
	return out
}

// rulesetMentions reports whether the kernel's nftables ruleset (where
// iptables-nft keeps the hostPort rules too) names ip.
func rulesetMentions(t *testing.T, ip string) bool {
	b, err := exec.Command("nft", "list", "ruleset").CombinedOutput()
	out := string(b)
	if err != nil {
		if t != nil {
			t.Fatalf("nft list ruleset: %v\n%s", err, out)
		}
		return true // unknown counts as left
	}
	return regexp.MustCompile(`(^|[^0-9.])` + regexp.QuoteMeta(ip) + `([^0-9]|$)`).MatchString(out)
}

func dirEntries(dir string) []string {
	es, _ := os.ReadDir(dir)
	var out []string
	for _, e := range es {
		out = append(out, "path "+filepath.Join(dir, e.Name()))
	}
	return out
}

// agentMetrics reads the agent's /metrics through the API server's
// nodes/NAME/proxy, as `kubectl get --raw` does: each sample by its name
// and labels, histograms as _sum and _count.
func agentMetrics(t *testing.T, nc *nodeCluster) map[string]float64 {
	t.Helper()
	body := nc.ok("", "get", "--raw", "/api/v1/nodes/"+agentNode+"/proxy/metrics")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse agent metrics: %v\n%s", err, body)
	}
	out := map[string]float64{}
	for name, f := range fams {
		if !strings.HasPrefix(name, "flotilla_agent_") {
			continue
		}
		for _, m := range f.GetMetric() {
			key := name
			if l := m.GetLabel(); len(l) > 0 {
				var parts []string
				for _, p := range l {
					parts = append(parts, fmt.Sprintf("%s=%q", p.GetName(), p.GetValue()))
				}
				key += "{" + strings.Join(parts, ",") + "}"
			}
			switch {
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Histogram != nil:
				out[key+"_sum"] = m.GetHistogram().GetSampleSum()
				out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func removedCounts(s map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range s {
		if strings.HasPrefix(k, "flotilla_agent_housekeeping_removed_total") {
			out[strings.TrimPrefix(k, "flotilla_agent_housekeeping_removed_total")] = v
		}
	}
	return out
}
