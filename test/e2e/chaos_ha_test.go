//go:build chaos

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/sim"
	"github.com/flotilla-io/flotilla/pkg/sim/simtest"
)

// etcdMember is one process of a Debian etcd cluster on loopback.
type etcdMember struct {
	name, clientURL string
	cmd             *exec.Cmd
	exited          chan struct{}
}

// startEtcdCluster runs a three-member etcd cluster of /usr/bin/etcd
// (Debian's etcd-server) on loopback ports, plain HTTP, until the test
// ends.
func startEtcdCluster(t *testing.T, dir string) []*etcdMember {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatalf("etcd is not installed (Debian's etcd-server; hack/install-deps.sh --test installs it): %v", err)
	}
	var members []*etcdMember
	var initial []string
	peers := map[string]string{}
	for i := range 3 {
		m := &etcdMember{name: fmt.Sprintf("e%d", i), clientURL: fmt.Sprintf("http://127.0.0.1:%d", freePort())}
		peers[m.name] = fmt.Sprintf("http://127.0.0.1:%d", freePort())
		initial = append(initial, m.name+"="+peers[m.name])
		members = append(members, m)
	}
	for _, m := range members {
		logf, err := os.Create(filepath.Join(dir, m.name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		m.cmd = exec.Command(bin, "--name", m.name, "--data-dir", filepath.Join(dir, m.name),
			"--listen-client-urls", m.clientURL, "--advertise-client-urls", m.clientURL,
			"--listen-peer-urls", peers[m.name], "--initial-advertise-peer-urls", peers[m.name],
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new", "--initial-cluster-token", "flotilla-chaos")
		m.cmd.Stdout, m.cmd.Stderr = logf, logf
		if err := m.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		m.exited = make(chan struct{})
		go func() { _ = m.cmd.Wait(); logf.Close(); close(m.exited) }()
		t.Cleanup(func() {
			select {
			case <-m.exited:
			default:
				interruptAndWait(m.cmd, 20*time.Second)
			}
		})
	}
	return members
}

// etcdLeader is the member the cluster's leader is, by asking each.
func etcdLeader(t *testing.T, members []*etcdMember) *etcdMember {
	t.Helper()
	var eps []string
	for _, m := range members {
		eps = append(eps, m.clientURL)
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var leader *etcdMember
	eventually(t, 30*time.Second, func() (bool, string) {
		for _, m := range members {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			st, err := c.Status(ctx, m.clientURL)
			cancel()
			if err == nil && st.Leader != 0 && st.Leader == st.Header.MemberId {
				leader = m
				return true, ""
			}
		}
		return false, "no etcd member says it leads"
	})
	return leader
}

// failover sends each request to the current server and moves to the
// next one when a request fails, as a client with several endpoints does.
type failover struct {
	mu      sync.Mutex
	clients []kubernetes.Interface
	cur     int
	errors  int
	ok      int
	last    time.Time     // the last answer
	gap     time.Duration // the longest time without an answer
}

func (f *failover) do(op func(kubernetes.Interface) error) error {
	f.mu.Lock()
	c := f.clients[f.cur]
	f.mu.Unlock()
	err := op(c)
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if err != nil {
		f.errors++
		f.cur = (f.cur + 1) % len(f.clients)
		return err
	}
	f.ok++
	if !f.last.IsZero() {
		f.gap = max(f.gap, now.Sub(f.last))
	}
	f.last = now
	return nil
}

// Three servers share a three-member etcd cluster; during a rolling
// update of a Deployment on simulated nodes, the etcd leader and the
// server leading the controllers are killed (SIGKILL). A client failing
// over between the servers keeps getting answers, the rollout finishes
// under the new leader, and no acknowledged write is lost.
func TestChaosHAFailover(t *testing.T) {
	const scenario = "4 three servers on three etcd members"
	dir, err := os.MkdirTemp("/tmp", "fl-ha-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	members := startEtcdCluster(t, dir)
	var eps []string
	for _, m := range members {
		eps = append(eps, m.clientURL)
	}
	var servers []*serverProc
	for i := range 3 {
		d := filepath.Join(dir, fmt.Sprintf("s%d", i))
		s := newServerProc(t, d, freePort(), "--datastore-endpoint", strings.Join(eps, ","), "--etcd-compaction-interval", "1m")
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			// One cluster, one CA: the others take the first server's
			// certificates and join token, as an operator copies them.
			if out, err := exec.Command("cp", "-a", filepath.Join(servers[0].dataDir, "tls"), filepath.Join(servers[0].dataDir, "token"), d).CombinedOutput(); err != nil {
				t.Fatalf("copy the CA: %v: %s", err, out)
			}
		}
		s.start()
		servers = append(servers, s)
	}
	kc := servers[0].kubeconfig
	fo := &failover{}
	var clients []*kubernetes.Clientset
	for _, s := range servers {
		c := clientFor(t, kc, s.url, 3*time.Second)
		clients = append(clients, c)
		fo.clients = append(fo.clients, c)
	}
	ctx := context.Background()
	ids := map[string]*serverProc{}
	for _, s := range servers {
		b, err := os.ReadFile(filepath.Join(s.dataDir, "server-id"))
		if err != nil {
			t.Fatal(err)
		}
		ids[strings.TrimSpace(string(b))] = s
	}
	holder := func(c kubernetes.Interface) string {
		l, err := c.CoordinationV1().Leases("kube-system").Get(ctx, "flotilla-controllers", metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	var leader *serverProc
	eventually(t, 60*time.Second, func() (bool, string) {
		leader = ids[holder(clients[0])]
		return leader != nil, "no server holds the controllers' lease"
	})
	// The simulated nodes talk to a server that stays.
	var standby kubernetes.Interface
	for i, s := range servers {
		if s != leader {
			standby = clients[i]
			break
		}
	}
	simtest.Start(t, standby, sim.Config{Nodes: 3, NamePrefix: "ha", CPU: resource.MustParse("16"), Memory: resource.MustParse("64Gi"), Pods: 110,
		LeaseRenewInterval: time.Second, StatusInterval: 2 * time.Second})

	replicas := int32(6)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "roll"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			// Each round of the rollout waits 5 s, so the kills land
			// while it is under way.
			MinReadySeconds: 5,
			Selector:        &metav1.LabelSelector{MatchLabels: map[string]string{"app": "roll"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "roll"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox", Env: []corev1.EnvVar{{Name: "V", Value: "1"}}}}},
			},
		},
	}
	if _, err := clients[0].AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	done := func(c kubernetes.Interface) (bool, string) {
		d, err := c.AppsV1().Deployments("default").Get(ctx, "roll", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		s := d.Status
		return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == replicas && s.Replicas == replicas && s.AvailableReplicas == replicas,
			fmt.Sprintf("generation %d observed %d: %d updated, %d replicas, %d available", d.Generation, s.ObservedGeneration, s.UpdatedReplicas, s.Replicas, s.AvailableReplicas)
	}
	eventually(t, 2*time.Minute, func() (bool, string) { return done(clients[0]) })

	// The client: a read and a write every 50 ms, through whichever
	// server answers.
	acked := map[string]bool{}
	var ackMu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			_ = fo.do(func(c kubernetes.Interface) error {
				_, err := c.AppsV1().Deployments("default").Get(ctx, "roll", metav1.GetOptions{})
				return err
			})
			name := fmt.Sprintf("ha-%d", i)
			if fo.do(func(c kubernetes.Interface) error {
				_, err := c.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
				return err
			}) == nil {
				ackMu.Lock()
				acked[name] = true
				ackMu.Unlock()
			}
		}
	}()

	// The rolling update, then the kills while it is under way.
	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"c","env":[{"name":"V","value":"2"}]}]}}}}`)
	rollStart := time.Now()
	if err := fo.do(func(c kubernetes.Interface) error {
		_, err := c.AppsV1().Deployments("default").Patch(ctx, "roll", types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, func() (bool, string) {
		d, err := clients[0].AppsV1().Deployments("default").Get(ctx, "roll", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return d.Status.UpdatedReplicas >= 1 && d.Status.UpdatedReplicas < replicas, fmt.Sprintf("%d updated", d.Status.UpdatedReplicas)
	})
	etcdVictim := etcdLeader(t, members)
	_ = etcdVictim.cmd.Process.Kill()
	<-etcdVictim.exited
	leader.kill()
	killed := time.Now()

	var survivor kubernetes.Interface
	for i, s := range servers {
		if s != leader {
			survivor = clients[i]
		}
	}
	var takeover time.Duration
	eventually(t, 2*time.Minute, func() (bool, string) {
		h := ids[holder(survivor)]
		takeover = time.Since(killed)
		return h != nil && h != leader, "the killed server still holds the lease"
	})
	eventually(t, 5*time.Minute, func() (bool, string) { return done(survivor) })
	rollout := time.Since(rollStart)
	close(stop)
	wg.Wait()

	list, err := survivor.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, cm := range list.Items {
		have[cm.Name] = true
	}
	lost := 0
	for name := range acked {
		if !have[name] {
			lost++
			t.Errorf("acknowledged configmap %s lost", name)
		}
	}
	fo.mu.Lock()
	defer fo.mu.Unlock()
	if fo.gap > 30*time.Second {
		t.Errorf("the client went %v without an answer", fo.gap)
	}
	t.Logf("%d answers, %d errors, longest gap %v; lease taken over %v after the kills; rollout %v; %d acknowledged writes, %d lost",
		fo.ok, fo.errors, fo.gap, takeover, rollout, len(acked), lost)
	figure(scenario, "client requests answered / failed (failing over)", "%d / %d", fo.ok, fo.errors)
	figure(scenario, "longest time without an answer", "%v", fo.gap.Round(10*time.Millisecond))
	figure(scenario, "controllers' lease taken over after the kills", "%v", takeover.Round(100*time.Millisecond))
	figure(scenario, "rollout of 6 replicas finished after its start", "%v", rollout.Round(100*time.Millisecond))
	figure(scenario, "acknowledged writes lost", "%d of %d", lost, len(acked))
}
