//go:build chaos

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/sim"
	"github.com/flotilla-io/flotilla/pkg/sim/simtest"
)

// soakSample is one reading of the server process and its etcd.
type soakSample struct {
	at                    time.Duration
	rssMiB                float64
	goroutines, fds, pods int
	dbMiB                 float64
	events, churnFailures int
}

// readSample reads the server's RSS and open files from /proc, its
// goroutines from its /metrics, etcd's database file size and how many
// pods and Events the cluster holds.
func readSample(ctx context.Context, t *testing.T, nc *nodeCluster, cs kubernetes.Interface) soakSample {
	t.Helper()
	pid := nc.cmd.Process.Pid
	var s soakSample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("the server is gone: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			s.rssMiB = float64(kb) / 1024
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	s.fds = len(fds)
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		t.Fatalf("server /metrics: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			s.goroutines, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if fi, err := os.Stat(filepath.Join(nc.dir, "etcd", "member", "snap", "db")); err == nil {
		s.dbMiB = float64(fi.Size()) / (1 << 20)
	} else {
		t.Fatalf("etcd's database file: %v", err)
	}
	if l, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{ResourceVersion: "0"}); err == nil {
		s.pods = len(l.Items)
	}
	if l, err := cs.CoreV1().Events("").List(ctx, metav1.ListOptions{ResourceVersion: "0"}); err == nil {
		s.events = len(l.Items)
	}
	return s
}

// meanOf is the mean of f over samples.
func meanOf(samples []soakSample, f func(soakSample) float64) float64 {
	if len(samples) == 0 {
		return 0
	}
	sum := 0.0
	for _, s := range samples {
		sum += f(s)
	}
	return sum / float64(len(samples))
}

// Churn on simulated nodes and on the real node for CHAOS_SOAK (2m by
// default; make chaos: 30m): Deployments scaled up and down, a
// crash-looping pod, Jobs, Service changes. The server's RSS, goroutines,
// open files and etcd's database size are sampled every
// CHAOS_SOAK_INTERVAL (30 s, or an eighth of a short soak) and must level
// off: the last third's mean at most 1.5 times the middle third's.
// Events live 5 minutes and history is compacted every minute here, so
// that both reach their steady state within the run.
func TestChaosSoak(t *testing.T) {
	const scenario = "6 soak"
	duration := envDuration(t, "CHAOS_SOAK", 2*time.Minute)
	interval := min(envDuration(t, "CHAOS_SOAK_INTERVAL", 30*time.Second), duration/8)
	nc := startNodeCluster(t, "--etcd-compaction-interval=1m", "--etcd-defrag-min-db-size=16777216", "--event-ttl=5m")
	cs := clientFor(t, nc.kubeconfig, "", 30*time.Second)
	ctx := context.Background()
	t.Cleanup(func() { nc.kubectl("", "delete", "deployments,jobs,services", "-l", "soak", "--wait=false") })
	simtest.Start(t, cs, sim.Config{Nodes: 5, NamePrefix: "soak", CPU: resource.MustParse("32"), Memory: resource.MustParse("64Gi"), Pods: 110,
		LeaseRenewInterval: 5 * time.Second, StatusInterval: 10 * time.Second})

	onSim := map[string]string{"node.kubernetes.io/instance-type": "flotilla-sim"}
	onReal := map[string]string{"kubernetes.io/hostname": agentNode}
	sleeper := []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"}}}
	labels := func(app string) map[string]string { return map[string]string{"soak": "yes", "app": app} }
	deployment := func(name string, replicas int32, sel map[string]string) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels(name)},
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels(name)},
					Spec:       corev1.PodSpec{NodeSelector: sel, TerminationGracePeriodSeconds: new(int64), Containers: sleeper},
				},
			},
		}
	}
	for _, d := range []*appsv1.Deployment{deployment("sim-web", 30, onSim), deployment("real-web", 1, onReal)} {
		if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	crash := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "crashloop", Labels: labels("crashloop")},
		Spec:       corev1.PodSpec{NodeSelector: onReal, Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sh", "-c", "sleep 1; exit 1"}}}},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, crash, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.kubectl("", "delete", "pod", "crashloop", "--wait=false") })
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "churn", Labels: labels("churn")},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "sim-web"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// One step every 5 s: scale, run a Job, change Services.
	churnOps, churnFailures := 0, 0
	try := func(err error) {
		churnOps++
		if err != nil {
			churnFailures++
			t.Logf("churn: %v", err)
		}
	}
	scale := func(name string, n int32) {
		_, err := cs.AppsV1().Deployments("default").Patch(ctx, name, types.MergePatchType, fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n), metav1.PatchOptions{})
		try(err)
	}
	step := func(k int) {
		if k%4 == 0 {
			scale("sim-web", []int32{30, 3}[k/4%2])
		}
		if k%12 == 0 {
			scale("real-web", []int32{3, 1}[k/12%2])
		}
		if k%6 == 0 {
			ttl, backoff := int32(20), int32(0)
			job := &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("job-%d", k), Labels: labels("job")},
				Spec: batchv1.JobSpec{TTLSecondsAfterFinished: &ttl, BackoffLimit: &backoff, Template: corev1.PodTemplateSpec{
					Spec: corev1.PodSpec{NodeSelector: onReal, RestartPolicy: corev1.RestartPolicyNever,
						Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"true"}}}},
				}},
			}
			_, err := cs.BatchV1().Jobs("default").Create(ctx, job, metav1.CreateOptions{})
			try(err)
			tmp := fmt.Sprintf("tmp-%d", k/6%3)
			if err := cs.CoreV1().Services("default").Delete(ctx, tmp, metav1.DeleteOptions{}); err != nil && k >= 18 {
				try(err)
			}
			_, err = cs.CoreV1().Services("default").Create(ctx, &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: tmp, Labels: labels("tmp")},
				Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "real-web"}, Ports: []corev1.ServicePort{{Port: 80}}},
			}, metav1.CreateOptions{})
			try(err)
		}
		if k%2 == 0 {
			s, err := cs.CoreV1().Services("default").Get(ctx, "churn", metav1.GetOptions{})
			if err == nil {
				s.Spec.Ports[0].Port = []int32{80, 81}[k/2%2]
				s.Spec.Selector = map[string]string{"app": []string{"sim-web", "real-web"}[k/2%2]}
				_, err = cs.CoreV1().Services("default").Update(ctx, s, metav1.UpdateOptions{})
			}
			try(err)
		}
	}

	var samples []soakSample
	start := time.Now()
	next := time.Duration(0)
	for k := 0; ; k++ {
		at := time.Since(start)
		if at >= next {
			s := readSample(ctx, t, nc, cs)
			s.at, s.churnFailures = at, churnFailures
			samples = append(samples, s)
			t.Logf("t=%v rss=%.1fMiB goroutines=%d fds=%d db=%.1fMiB pods=%d events=%d", at.Round(time.Second), s.rssMiB, s.goroutines, s.fds, s.dbMiB, s.pods, s.events)
			next += interval
		}
		if at >= duration {
			break
		}
		step(k)
		time.Sleep(time.Until(start.Add(time.Duration(k+1) * 5 * time.Second)))
	}

	var table strings.Builder
	fmt.Fprintf(&table, "soak samples (%v, every %v; server = API, controllers, agent; etcd embedded)\n", duration, interval)
	fmt.Fprintf(&table, "%8s %9s %10s %6s %8s %6s %7s\n", "t", "RSS MiB", "goroutines", "fds", "db MiB", "pods", "events")
	for _, s := range samples {
		fmt.Fprintf(&table, "%8v %9.1f %10d %6d %8.1f %6d %7d\n", s.at.Round(time.Second), s.rssMiB, s.goroutines, s.fds, s.dbMiB, s.pods, s.events)
	}
	figureBlock(table.String())
	t.Log("\n" + table.String())

	// The first sample is the empty cluster; thirds of the rest.
	rest := samples[1:]
	if len(rest) < 6 {
		t.Fatalf("only %d samples: make the soak longer", len(rest))
	}
	middle, last := rest[len(rest)/3:2*len(rest)/3], rest[2*len(rest)/3:]
	const limit = 1.5
	for _, m := range []struct {
		name string
		f    func(soakSample) float64
	}{
		{"RSS", func(s soakSample) float64 { return s.rssMiB }},
		{"goroutines", func(s soakSample) float64 { return float64(s.goroutines) }},
		{"open files", func(s soakSample) float64 { return float64(s.fds) }},
		{"etcd db size", func(s soakSample) float64 { return s.dbMiB }},
	} {
		ratio := meanOf(last, m.f) / meanOf(middle, m.f)
		figure(scenario, m.name+": last third's mean / middle third's", "%.2f (limit %.1f)", ratio, limit)
		if ratio > limit {
			t.Errorf("%s grows: the last third's mean is %.2f times the middle third's", m.name, ratio)
		}
	}
	figure(scenario, "duration, churn operations (failed)", "%v, %d (%d)", duration, churnOps, churnFailures)
	if churnFailures > churnOps/20 {
		t.Errorf("%d of %d churn operations failed", churnFailures, churnOps)
	}
}
