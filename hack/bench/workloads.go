package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// benchWorkloads measures the workload controllers end to end on
// simulated nodes: a large Deployment's create, rolling update and
// foreground deletion, and a large Job.
func benchWorkloads(bin string, nodes, replicas, completions, parallelism int) {
	dir, err := os.MkdirTemp("", "flotilla-bench-wl-")
	check(err)
	defer os.RemoveAll(dir)
	srv := start(bin, dir, "--disable-agent")
	defer srv.stop()
	cs := srv.client()
	ctx := context.Background()
	sim := exec.Command(bin, "sim", "--kubeconfig", srv.kubeconfig, "--nodes", strconv.Itoa(nodes), "--name-prefix", "w",
		"--cpu", "64", "--memory", "256Gi", "--pods", "110", "--qps", "3000", "--burst", "3000")
	logf, err := os.Create(filepath.Join(dir, "sim.log"))
	check(err)
	sim.Stdout, sim.Stderr = logf, logf
	check(sim.Start())
	defer func() {
		_ = sim.Process.Signal(os.Interrupt)
		_ = sim.Wait()
	}()
	waitNodes(ctx, cs, nodes)
	waitServiceAccount(ctx, cs, "default")

	labels := map[string]string{"app": "bench"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(replicas)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](0),
					Containers:                    []corev1.Container{{Name: "app", Image: "registry.local/app:1"}},
				},
			},
		},
	}
	t0 := time.Now()
	_, err = cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{})
	check(err)
	waitDeployment(ctx, cs, "bench", replicas)
	record(fmt.Sprintf("Deployment of %d replicas on %d nodes: create to all Available", replicas, nodes), secs(time.Since(t0)), "< 10 s")

	t0 = time.Now()
	cur, err := cs.AppsV1().Deployments("default").Get(ctx, "bench", metav1.GetOptions{})
	check(err)
	cur.Spec.Template.Spec.Containers[0].Image = "registry.local/app:2"
	_, err = cs.AppsV1().Deployments("default").Update(ctx, cur, metav1.UpdateOptions{})
	check(err)
	waitDeployment(ctx, cs, "bench", replicas)
	record("  rolling update (maxSurge 25%) to all updated and Available", secs(time.Since(t0)), "< 20 s")

	t0 = time.Now()
	check(cs.AppsV1().Deployments("default").Delete(ctx, "bench", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}))
	for {
		_, err := cs.AppsV1().Deployments("default").Get(ctx, "bench", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		check(err)
		if time.Since(t0) > 10*time.Minute {
			panic("foreground deletion did not finish in 10 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
	record("  Foreground deletion until the Deployment is gone", secs(time.Since(t0)), "")

	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Spec: batchv1.JobSpec{
			Completions: ptr.To(int32(completions)),
			Parallelism: ptr.To(int32(parallelism)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"flotilla.io/sim-exit-after": "1s"}},
				Spec: corev1.PodSpec{
					RestartPolicy:                 corev1.RestartPolicyNever,
					TerminationGracePeriodSeconds: ptr.To[int64](0),
					Containers:                    []corev1.Container{{Name: "work", Image: "registry.local/work:1"}},
				},
			},
		},
	}
	t0 = time.Now()
	_, err = cs.BatchV1().Jobs("default").Create(ctx, job, metav1.CreateOptions{})
	check(err)
	for {
		j, err := cs.BatchV1().Jobs("default").Get(ctx, "bench", metav1.GetOptions{})
		check(err)
		if j.Status.CompletionTime != nil {
			break
		}
		if time.Since(t0) > 15*time.Minute {
			panic(fmt.Sprintf("job not complete in 15 minutes: %+v", j.Status))
		}
		time.Sleep(200 * time.Millisecond)
	}
	record(fmt.Sprintf("Job of %d completions, parallelism %d (pods run 1 s): create to Complete", completions, parallelism), secs(time.Since(t0)), "")
}

func waitDeployment(ctx context.Context, cs kubernetes.Interface, name string, replicas int) {
	deadline := time.Now().Add(15 * time.Minute)
	last := time.Now()
	for time.Now().Before(deadline) {
		if os.Getenv("BENCH_TRACE") != "" && time.Since(last) > time.Second {
			last = time.Now()
			pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{ResourceVersion: "0"})
			check(err)
			bound, running := 0, 0
			for _, p := range pods.Items {
				if p.Spec.NodeName != "" {
					bound++
				}
				if p.Status.Phase == corev1.PodRunning {
					running++
				}
			}
			fmt.Fprintf(os.Stderr, "    %s: %d pods, %d bound, %d running\n", time.Now().Format("15:04:05.0"), len(pods.Items), bound, running)
		}
		d, err := cs.AppsV1().Deployments("default").Get(ctx, name, metav1.GetOptions{})
		check(err)
		st := d.Status
		if st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == int32(replicas) && st.AvailableReplicas == int32(replicas) && st.Replicas == int32(replicas) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	panic("deployment " + name + " did not become available in 15 minutes")
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
