package containers_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/containers"
	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

type noMounts struct{}

func (noMounts) Mounts(context.Context, *corev1.Pod, *corev1.Container, map[string]string) ([]*runtimeapi.Mount, error) {
	return nil, nil
}

// A ServiceCache on a real API server: containers get the variables of
// the Services that exist, including ones created while the cache runs;
// between runs there is no cache, and a new run starts over.
func TestServiceCacheEnv(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	create := func(name string, port int32) *corev1.Service {
		t.Helper()
		s, err := cs.CoreV1().Services("shop").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Name: "http", Port: port}}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	web := create("web-front", 8080)

	cache := containers.NewServiceCache(cs)
	b := containers.New(containers.Config{DataDir: t.TempDir(), Volumes: noMounts{}, Services: cache})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop", UID: "u1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	env := func() (map[string]string, error) {
		cfg, err := b.Container(ctx, pod, &pod.Spec.Containers[0], podrun.New(), 0, podrun.Image{Ref: "busybox"})
		if err != nil {
			return nil, err
		}
		m := map[string]string{}
		for _, kv := range cfg.Envs {
			m[kv.Key] = string(kv.Value)
		}
		return m, nil
	}
	if _, err := env(); err == nil {
		t.Fatal("a container was configured before the cache ran")
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); cache.Run(runCtx) }()
	waitEnv := func(what string, ok func(map[string]string) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		var last map[string]string
		var err error
		for time.Now().Before(deadline) {
			if last, err = env(); err == nil && ok(last) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: last env %v, err %v", what, last, err)
	}
	kube, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitEnv("the existing Services", func(m map[string]string) bool {
		return m["KUBERNETES_SERVICE_HOST"] == kube.Spec.ClusterIP && m["KUBERNETES_SERVICE_PORT_HTTPS"] == "443" &&
			m["WEB_FRONT_SERVICE_HOST"] == web.Spec.ClusterIP && m["WEB_FRONT_SERVICE_PORT_HTTP"] == "8080" &&
			m["WEB_FRONT_PORT"] == "tcp://"+web.Spec.ClusterIP+":8080"
	})
	api := create("api", 9090)
	waitEnv("a Service created while the cache runs", func(m map[string]string) bool {
		return m["API_SERVICE_HOST"] == api.Spec.ClusterIP
	})
	stop()
	<-done
	if l, synced := cache.ServiceLister(); l != nil || synced {
		t.Fatal("a stopped cache still serves")
	}
	if _, err := env(); err == nil {
		t.Fatal("a container was configured between runs")
	}

	runCtx, stop = context.WithCancel(ctx)
	done = make(chan struct{})
	go func() { defer close(done); cache.Run(runCtx) }()
	defer func() { stop(); <-done }()
	waitEnv("the next run", func(m map[string]string) bool { return m["API_SERVICE_HOST"] == api.Spec.ClusterIP })
}
