package sim

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/extensions"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// fast timings keep the end-to-end tests short.
func fastConfig(prefix string, nodes int) Config {
	return Config{
		Nodes: nodes, NamePrefix: prefix,
		CPU: resource.MustParse("8"), Memory: resource.MustParse("16Gi"), Pods: 50,
		Labels:             map[string]string{"pool": "sim"},
		LeaseRenewInterval: 200 * time.Millisecond,
		StatusInterval:     400 * time.Millisecond,
		RestartDelay:       200 * time.Millisecond,
		Workers:            4,
	}
}

func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("FLOTILLA_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// runSim runs a Sim until the returned stop is called or the test ends;
// stop waits for Run to return.
func runSim(t *testing.T, cs kubernetes.Interface, cfg Config) (stop func()) {
	t.Helper()
	s, err := New(cs, cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not return within 30s of cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last error: %v)", what, timeout, lastErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// createPod creates pod, waiting out the namespace's default
// ServiceAccount, which a controller adds shortly after the namespace.
func createPod(t *testing.T, cs kubernetes.Interface, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	var got *corev1.Pod
	eventually(t, 20*time.Second, "create pod "+pod.Name, func() (bool, error) {
		var err error
		got, err = cs.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
		return err == nil, err
	})
	return got
}

func simPod(name, node string, policy corev1.RestartPolicy, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: annotations},
		Spec: corev1.PodSpec{
			NodeName:      node,
			RestartPolicy: policy,
			InitContainers: []corev1.Container{
				{Name: "init", Image: "busybox"},
				{Name: "sidecar", Image: "envoy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)},
			},
			Containers: []corev1.Container{{Name: "app", Image: "nginx"}, {Name: "helper", Image: "busybox"}},
		},
	}
}

func getPod(cs kubernetes.Interface, name string) (*corev1.Pod, error) {
	return cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
}

func podCondition(p *corev1.Pod, typ corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == typ {
			return c.Status
		}
	}
	return ""
}

func TestSim(t *testing.T) {
	in := testserver.Start(t, testserver.Options{})
	cs := in.Clientset(t)
	ctx := context.Background()
	cfg := fastConfig("simt", 3)
	runSim(t, cs, cfg)

	var nodes []corev1.Node
	eventually(t, 30*time.Second, "3 Ready nodes", func() (bool, error) {
		nodes = nodes[:0]
		for i := range 3 {
			n, err := cs.CoreV1().Nodes().Get(ctx, nodeName("simt", i), metav1.GetOptions{})
			if err != nil || !nodeReady(n) {
				return false, err
			}
			nodes = append(nodes, *n)
		}
		return true, nil
	})

	t.Run("nodes", func(t *testing.T) {
		cidrs := map[string]bool{}
		for _, n := range nodes {
			for k, v := range map[string]string{corev1.LabelHostname: n.Name, corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64", corev1.LabelInstanceTypeStable: InstanceType, "pool": "sim"} {
				if n.Labels[k] != v {
					t.Errorf("%s: label %s=%q, want %q", n.Name, k, n.Labels[k], v)
				}
			}
			if _, stats := n.Annotations[extensions.StatsEndpointAnnotation]; n.Annotations[AnnotationSimulated] != "true" || stats {
				// Without a join token no usage is served, nor announced.
				t.Errorf("%s: annotations %v", n.Name, n.Annotations)
			}
			for res, want := range map[corev1.ResourceName]string{corev1.ResourceCPU: "8", corev1.ResourceMemory: "16Gi", corev1.ResourcePods: "50", corev1.ResourceEphemeralStorage: "100Gi"} {
				if q := n.Status.Allocatable[res]; q.Cmp(resource.MustParse(want)) != 0 {
					t.Errorf("%s: allocatable %s = %s, want %s", n.Name, res, q.String(), want)
				}
				if q := n.Status.Capacity[res]; q.Cmp(resource.MustParse(want)) != 0 {
					t.Errorf("%s: capacity %s = %s, want %s", n.Name, res, q.String(), want)
				}
			}
			if n.Status.NodeInfo.KubeletVersion != KubeletVersion || n.Status.NodeInfo.ContainerRuntimeVersion != RuntimeVersion {
				t.Errorf("%s: node info %+v", n.Name, n.Status.NodeInfo)
			}
			if _, err := netip.ParsePrefix(n.Spec.PodCIDR); err != nil || cidrs[n.Spec.PodCIDR] {
				t.Errorf("%s: pod CIDR %q invalid or shared", n.Name, n.Spec.PodCIDR)
			}
			cidrs[n.Spec.PodCIDR] = true
			if len(n.Status.Addresses) != 2 || n.Status.Addresses[0].Type != corev1.NodeInternalIP || n.Status.Addresses[1].Address != n.Name {
				t.Errorf("%s: addresses %v", n.Name, n.Status.Addresses)
			}
		}
	})

	t.Run("leases renew and heartbeats refresh", func(t *testing.T) {
		leases := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease)
		first, err := leases.Get(ctx, "simt-1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *first.Spec.HolderIdentity != "simt-1" || *first.Spec.LeaseDurationSeconds != 40 {
			t.Errorf("lease spec %+v", first.Spec)
		}
		firstBeat := readyHeartbeat(nodes[1])
		eventually(t, 5*time.Second, "lease renewed", func() (bool, error) {
			l, err := leases.Get(ctx, "simt-1", metav1.GetOptions{})
			return err == nil && l.Spec.RenewTime.After(first.Spec.RenewTime.Time), err
		})
		eventually(t, 5*time.Second, "Ready heartbeat refreshed", func() (bool, error) {
			n, err := cs.CoreV1().Nodes().Get(ctx, "simt-1", metav1.GetOptions{})
			return err == nil && readyHeartbeat(*n).After(firstBeat), err
		})
	})

	t.Run("pods", func(t *testing.T) {
		t.Run("run", func(t *testing.T) {
			t.Parallel()
			createPod(t, cs, simPod("run", "simt-0", corev1.RestartPolicyAlways, nil))
			var p *corev1.Pod
			eventually(t, 10*time.Second, "pod Running", func() (bool, error) {
				var err error
				p, err = getPod(cs, "run")
				return err == nil && p.Status.Phase == corev1.PodRunning, err
			})
			checkRunning(t, p, nodes[0])
		})
		t.Run("exit 0, restart Never", func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			createPod(t, cs, simPod("exit0", "simt-1", corev1.RestartPolicyNever, map[string]string{AnnotationExitAfter: "1s"}))
			p := waitPhase(t, cs, "exit0", corev1.PodSucceeded)
			if time.Since(start) < time.Second {
				t.Errorf("pod ended after %v, before its 1s", time.Since(start))
			}
			checkTerminated(t, p, 0, "Completed")
		})
		t.Run("exit 1, restart Never", func(t *testing.T) {
			t.Parallel()
			createPod(t, cs, simPod("exit1", "simt-2", corev1.RestartPolicyNever, map[string]string{AnnotationExitAfter: "500ms", AnnotationExitCode: "1"}))
			p := waitPhase(t, cs, "exit1", corev1.PodFailed)
			checkTerminated(t, p, 1, "Error")
		})
		t.Run("exit 1, restart OnFailure", func(t *testing.T) {
			t.Parallel()
			createPod(t, cs, simPod("crash", "simt-0", corev1.RestartPolicyOnFailure, map[string]string{AnnotationExitAfter: "300ms", AnnotationExitCode: "1"}))
			eventually(t, 10*time.Second, "two restarts", func() (bool, error) {
				p, err := getPod(cs, "crash")
				if err != nil || len(p.Status.ContainerStatuses) == 0 {
					return false, err
				}
				cs := p.Status.ContainerStatuses[0]
				if p.Status.Phase != corev1.PodRunning {
					return false, errors.New("phase " + string(p.Status.Phase))
				}
				last := cs.LastTerminationState.Terminated
				return cs.RestartCount >= 2 && last != nil && last.ExitCode == 1, nil
			})
		})
		t.Run("graceful deletion", func(t *testing.T) {
			t.Parallel()
			pod := simPod("grace", "simt-1", corev1.RestartPolicyAlways, nil)
			pod.Spec.TerminationGracePeriodSeconds = ptr.To(int64(30))
			createPod(t, cs, pod)
			waitPhase(t, cs, "grace", corev1.PodRunning)
			start := time.Now()
			err := cs.CoreV1().Pods("default").Delete(ctx, "grace", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(2))})
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "pod deleted", func() (bool, error) {
				_, err := getPod(cs, "grace")
				return apierrors.IsNotFound(err), err
			})
			if took := time.Since(start); took < 2*time.Second {
				t.Errorf("pod went after %v, within its 2s grace period", took)
			}
		})
		t.Run("pod on another node is left alone", func(t *testing.T) {
			t.Parallel()
			createPod(t, cs, simPod("elsewhere", "not-a-sim-node", corev1.RestartPolicyAlways, nil))
			// Once a pod created after it runs on a sim node, the sims
			// have seen "elsewhere" too.
			createPod(t, cs, simPod("after-elsewhere", "simt-0", corev1.RestartPolicyAlways, nil))
			eventually(t, 10*time.Second, "later pod Running", func() (bool, error) {
				p, err := getPod(cs, "after-elsewhere")
				return err == nil && p.Status.Phase == corev1.PodRunning, err
			})
			p, err := getPod(cs, "elsewhere")
			if err != nil {
				t.Fatal(err)
			}
			if p.Status.Phase != corev1.PodPending {
				t.Errorf("phase %s, want Pending", p.Status.Phase)
			}
		})
	})

	t.Run("stopping stops the leases", func(t *testing.T) {
		stop := runSim(t, cs, fastConfig("simstop", 2))
		leases := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease)
		eventually(t, 10*time.Second, "leases of the second sim", func() (bool, error) {
			_, err := leases.Get(ctx, "simstop-1", metav1.GetOptions{})
			return err == nil, err
		})
		stop()
		before, err := leases.Get(ctx, "simstop-1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The first sim, still running with the same renew interval,
		// renews its lease twice: time enough for a renewal of simstop-1.
		renewals, last := 0, time.Time{}
		eventually(t, 20*cfg.LeaseRenewInterval+5*time.Second, "first sim renews twice", func() (bool, error) {
			l, err := leases.Get(ctx, "simt-0", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if rt := l.Spec.RenewTime.Time; rt.After(last) {
				if !last.IsZero() {
					renewals++
				}
				last = rt
			}
			return renewals >= 2, nil
		})
		after, err := leases.Get(ctx, "simstop-1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !after.Spec.RenewTime.Equal(before.Spec.RenewTime) {
			t.Errorf("lease renewed after stop: %v → %v", before.Spec.RenewTime, after.Spec.RenewTime)
		}
		if _, err := cs.CoreV1().Nodes().Get(ctx, "simstop-0", metav1.GetOptions{}); err != nil {
			t.Errorf("node gone after stop: %v", err)
		}
		// The first sim's nodes are unaffected.
		l, err := leases.Get(ctx, "simt-0", metav1.GetOptions{})
		if err != nil || time.Since(l.Spec.RenewTime.Time) > 2*time.Second {
			t.Errorf("first sim's lease not fresh: %v %v", l, err)
		}
	})

	t.Run("a restarted sim takes over its pods", func(t *testing.T) {
		stop := runSim(t, cs, fastConfig("simre", 1))
		createPod(t, cs, simPod("adopted", "simre-0", corev1.RestartPolicyAlways, nil))
		before := waitPhase(t, cs, "adopted", corev1.PodRunning)
		stop()
		runSim(t, cs, fastConfig("simre", 1))
		createPod(t, cs, simPod("newcomer", "simre-0", corev1.RestartPolicyAlways, nil))
		newcomer := waitPhase(t, cs, "newcomer", corev1.PodRunning)
		if newcomer.Status.PodIP == before.Status.PodIP {
			t.Errorf("new pod got the running pod's address %s", before.Status.PodIP)
		}
		after, err := getPod(cs, "adopted")
		if err != nil {
			t.Fatal(err)
		}
		if after.ResourceVersion != before.ResourceVersion {
			t.Errorf("running pod was rewritten: %+v", after.Status)
		}
	})

	t.Run("delete nodes on exit", func(t *testing.T) {
		c := fastConfig("simdel", 1)
		c.DeleteNodesOnExit = true
		stop := runSim(t, cs, c)
		eventually(t, 10*time.Second, "node registered", func() (bool, error) {
			_, err := cs.CoreV1().Nodes().Get(ctx, "simdel-0", metav1.GetOptions{})
			return err == nil, err
		})
		stop()
		if _, err := cs.CoreV1().Nodes().Get(ctx, "simdel-0", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("node after stop: %v", err)
		}
		if _, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "simdel-0", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("lease after stop: %v", err)
		}
	})
}

func readyHeartbeat(n corev1.Node) time.Time {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.LastHeartbeatTime.Time
		}
	}
	return time.Time{}
}

func waitPhase(t *testing.T, cs kubernetes.Interface, name string, phase corev1.PodPhase) *corev1.Pod {
	t.Helper()
	var p *corev1.Pod
	eventually(t, 10*time.Second, "pod "+name+" "+string(phase), func() (bool, error) {
		var err error
		p, err = getPod(cs, name)
		return err == nil && p.Status.Phase == phase, err
	})
	return p
}

func checkRunning(t *testing.T, p *corev1.Pod, node corev1.Node) {
	t.Helper()
	cidr := netip.MustParsePrefix(node.Spec.PodCIDR)
	ip, err := netip.ParseAddr(p.Status.PodIP)
	if err != nil || !cidr.Contains(ip) || len(p.Status.PodIPs) != 1 || p.Status.PodIPs[0].IP != p.Status.PodIP {
		t.Errorf("pod IP %q / %v, want one in %s", p.Status.PodIP, p.Status.PodIPs, cidr)
	}
	if p.Status.HostIP != node.Status.Addresses[0].Address {
		t.Errorf("host IP %q, want %q", p.Status.HostIP, node.Status.Addresses[0].Address)
	}
	if p.Status.StartTime == nil || p.Status.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("start time %v, QoS %q", p.Status.StartTime, p.Status.QOSClass)
	}
	for _, c := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.PodReadyToStartContainers, corev1.ContainersReady, corev1.PodReady} {
		if got := podCondition(p, c); got != corev1.ConditionTrue {
			t.Errorf("condition %s = %q", c, got)
		}
	}
	if len(p.Status.ContainerStatuses) != 2 {
		t.Fatalf("container statuses %+v", p.Status.ContainerStatuses)
	}
	for _, c := range p.Status.ContainerStatuses {
		if !c.Ready || c.Started == nil || !*c.Started || c.State.Running == nil || c.ContainerID != "sim://"+string(p.UID)+"-"+c.Name || c.ImageID == "" {
			t.Errorf("container status %+v", c)
		}
	}
	if len(p.Status.InitContainerStatuses) != 2 {
		t.Fatalf("init container statuses %+v", p.Status.InitContainerStatuses)
	}
	if s := p.Status.InitContainerStatuses[0].State.Terminated; s == nil || s.ExitCode != 0 || s.Reason != "Completed" {
		t.Errorf("init container %+v", p.Status.InitContainerStatuses[0])
	}
	if s := p.Status.InitContainerStatuses[1]; s.State.Running == nil || !s.Ready {
		t.Errorf("sidecar %+v", s)
	}
}

func checkTerminated(t *testing.T, p *corev1.Pod, code int32, reason string) {
	t.Helper()
	for _, c := range p.Status.ContainerStatuses {
		s := c.State.Terminated
		if s == nil || s.ExitCode != code || s.Reason != reason || c.Ready {
			t.Errorf("container %+v, want terminated %d %s", c, code, reason)
		}
	}
	if got := podCondition(p, corev1.PodReady); got != corev1.ConditionFalse {
		t.Errorf("Ready = %q", got)
	}
}
