package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

func TestListPaginationAndSelectors(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	settled(t, cs, "default") // 25 of ours and the root CA: 26
	for i := range 25 {
		labels := map[string]string{"parity": []string{"even", "odd"}[i%2]}
		if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%02d", i), Labels: labels}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	opts := metav1.ListOptions{Limit: 10}
	pages := 0
	var firstRV string
	for {
		l, err := cs.CoreV1().ConfigMaps("default").List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if firstRV == "" {
			firstRV = l.ResourceVersion
			// A write between pages must not show up: pages share a snapshot.
			if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm-zz-late"}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		} else if l.ResourceVersion != firstRV {
			t.Fatalf("page rv %s differs from first page %s", l.ResourceVersion, firstRV)
		}
		for _, it := range l.Items {
			names = append(names, it.Name)
		}
		if l.Continue == "" {
			break
		}
		if l.RemainingItemCount == nil || *l.RemainingItemCount <= 0 {
			t.Fatalf("remainingItemCount missing on a partial page")
		}
		opts.Continue = l.Continue
	}
	if pages != 3 || len(names) != 26 {
		t.Fatalf("pages %d items %d", pages, len(names))
	}
	odd, err := cs.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{LabelSelector: "parity in (odd)"})
	if err != nil || len(odd.Items) != 12 {
		t.Fatalf("set-based selector: %v %d", err, len(odd.Items))
	}
	one, err := cs.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=cm-03,metadata.namespace=default"})
	if err != nil || len(one.Items) != 1 {
		t.Fatalf("field selector: %v %d", err, len(one.Items))
	}
	if _, err := cs.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{FieldSelector: "spec.bogus=1"}); !apierrors.IsBadRequest(err) {
		t.Fatalf("unsupported field selector: want BadRequest, got %v", err)
	}
	limitedOdd, err := cs.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{LabelSelector: "parity=odd", Limit: 5})
	if err != nil || len(limitedOdd.Items) != 5 || limitedOdd.Continue == "" {
		t.Fatalf("filtered page: %v %d %q", err, len(limitedOdd.Items), limitedOdd.Continue)
	}
}

func TestWatchFromResourceVersionAndExpiry(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	cm, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "w"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cs.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{ResourceVersion: cm.ResourceVersion, AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	cm.Data = map[string]string{"x": "1"}
	if _, err := cs.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().ConfigMaps("default").Delete(ctx, "w", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []watch.EventType{watch.Modified, watch.Deleted}
	for _, typ := range want {
		select {
		case ev := <-w.ResultChan():
			if ev.Type != typ {
				t.Fatalf("event %s, want %s", ev.Type, typ)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s event", typ)
		}
	}

	// Compact etcd past the old revision: a watch from there is 410 Gone.
	rv := cm.ResourceVersion
	compactTo(t, srv, ctx)
	w2, err := cs.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{ResourceVersion: rv})
	if err == nil {
		ev := <-w2.ResultChan()
		st, ok := ev.Object.(*metav1.Status)
		if ev.Type != watch.Error || !ok || st.Code != 410 {
			t.Fatalf("watch from compacted revision: %s %+v", ev.Type, ev.Object)
		}
		w2.Stop()
	} else if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Fatalf("watch from compacted revision: %v", err)
	}
}

// compactTo compacts the embedded etcd to its current revision.
func compactTo(t *testing.T, srv *testserver.Instance, ctx context.Context) {
	t.Helper()
	c := srv.EtcdClient()
	resp, err := c.Get(ctx, "/compaction-probe")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
}

func TestInformerSurvivesUpdatesAndCompaction(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	settled(t, cs, "default")
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace("default"), informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = "metadata.name!=" + rootCA
	}))
	inf := factory.Core().V1().ConfigMaps().Informer()
	var mu sync.Mutex
	seen := map[string]string{}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) {
			mu.Lock()
			seen[o.(*corev1.ConfigMap).Name] = o.(*corev1.ConfigMap).Data["v"]
			mu.Unlock()
		},
		UpdateFunc: func(_, o any) {
			mu.Lock()
			seen[o.(*corev1.ConfigMap).Name] = o.(*corev1.ConfigMap).Data["v"]
			mu.Unlock()
		},
		DeleteFunc: func(o any) {
			if cm, ok := o.(*corev1.ConfigMap); ok {
				mu.Lock()
				delete(seen, cm.Name)
				mu.Unlock()
			}
		},
	})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync")
	}
	for i := range 20 {
		name := fmt.Sprintf("inf-%d", i%5)
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"v": fmt.Sprint(i)}}
		if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
			cur, _ := cs.CoreV1().ConfigMaps("default").Get(ctx, name, metav1.GetOptions{})
			cur.Data = cm.Data
			if _, err := cs.CoreV1().ConfigMaps("default").Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
		if i == 10 {
			compactTo(t, srv, ctx)
		}
	}
	_ = cs.CoreV1().ConfigMaps("default").Delete(ctx, "inf-0", metav1.DeleteOptions{})
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		okState := len(seen) == 4 && seen["inf-4"] == "19" && seen["inf-1"] == "16"
		snapshot := fmt.Sprint(seen)
		mu.Unlock()
		if okState {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("informer state %s", snapshot)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A list continued after its revision was compacted away gets 410 with a
// token that continues, inconsistently, at the latest revision, as
// upstream's chunking conformance test expects.
func TestListContinueAfterCompaction(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	ns := "chunks"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const total = 25
	for i := range total {
		tmpl := &corev1.PodTemplate{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t-%02d", i)},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}
		if _, err := cs.CoreV1().PodTemplates(ns).Create(ctx, tmpl, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := cs.CoreV1().PodTemplates(ns).List(ctx, metav1.ListOptions{Limit: 10})
	if err != nil || len(first.Items) != 10 || first.Continue == "" {
		t.Fatalf("first page: %v items, continue %q, %v", len(first.Items), first.Continue, err)
	}
	// A write after the first page, then compaction past its revision.
	if err := cs.CoreV1().PodTemplates(ns).Delete(ctx, "t-24", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	compactTo(t, srv, ctx)

	_, err = cs.CoreV1().PodTemplates(ns).List(ctx, metav1.ListOptions{Limit: 10, Continue: first.Continue})
	if !apierrors.IsResourceExpired(err) {
		t.Fatalf("continue after compaction: %v, want 410 Expired", err)
	}
	st, ok := err.(apierrors.APIStatus)
	if !ok || st.Status().ListMeta.Continue == "" {
		t.Fatalf("expired continue carries no inconsistent token: %#v", err)
	}
	second, err := cs.CoreV1().PodTemplates(ns).List(ctx, metav1.ListOptions{Limit: 10, Continue: st.Status().ListMeta.Continue})
	if err != nil {
		t.Fatal(err)
	}
	if len(second.Items) != 10 || second.Items[0].Name != "t-10" || second.ResourceVersion == first.ResourceVersion {
		t.Fatalf("second page: %d items from %s at rv %s (first rv %s)", len(second.Items), second.Items[0].Name, second.ResourceVersion, first.ResourceVersion)
	}
	if second.RemainingItemCount == nil || *second.RemainingItemCount != 4 || second.Continue == "" {
		t.Fatalf("second page remaining %v continue %q, want 4 and a token", second.RemainingItemCount, second.Continue)
	}
	third, err := cs.CoreV1().PodTemplates(ns).List(ctx, metav1.ListOptions{Limit: 10, Continue: second.Continue})
	if err != nil {
		t.Fatal(err)
	}
	// The deleted t-24 is gone from the inconsistent continuation.
	if len(third.Items) != 4 || third.Continue != "" || third.ResourceVersion != second.ResourceVersion {
		t.Fatalf("last page: %d items, continue %q, rv %s (second %s)", len(third.Items), third.Continue, third.ResourceVersion, second.ResourceVersion)
	}
}
