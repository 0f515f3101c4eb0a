package storage_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/flotilla-io/flotilla/pkg/etcd"
	"github.com/flotilla-io/flotilla/pkg/pki"
	"github.com/flotilla-io/flotilla/pkg/storage"
)

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// newStore starts an embedded etcd and returns a ConfigMap store on it.
func newStore(t *testing.T) *storage.Store {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir, "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.LoadOrIssue(filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key"), pki.LeafRequest{CommonName: "etcd", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Server: true}); err != nil {
		t.Fatal(err)
	}
	e, err := etcd.Start(context.Background(), etcd.Config{
		DataDir:   filepath.Join(dir, "etcd"),
		ClientURL: fmt.Sprintf("https://127.0.0.1:%d", freePort(t)),
		PeerURL:   fmt.Sprintf("https://127.0.0.1:%d", freePort(t)),
		CertFile:  filepath.Join(dir, "s.crt"), KeyFile: filepath.Join(dir, "s.key"), TrustedCA: filepath.Join(dir, "ca.crt"),
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	codec := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	return storage.New(e.Client, codec, "/test/configmaps", corev1.SchemeGroupVersion.WithKind("ConfigMap"), func() runtime.Object { return &corev1.ConfigMap{} })
}

func cm(name string, data string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Data: map[string]string{"d": data}}
}

func TestCreateGetUpdateDelete(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	key := s.Key("ns", "a")
	created, err := s.Create(ctx, key, cm("a", "1"))
	if err != nil {
		t.Fatal(err)
	}
	rv1 := created.(*corev1.ConfigMap).ResourceVersion
	if _, err := s.Create(ctx, key, cm("a", "1")); storage.CodeOf(err) != storage.CodeExists {
		t.Fatalf("duplicate create: %v", err)
	}
	got, err := s.Get(ctx, key)
	if err != nil || got.(*corev1.ConfigMap).Data["d"] != "1" || got.(*corev1.ConfigMap).ResourceVersion != rv1 {
		t.Fatalf("get: %v %+v", err, got)
	}
	// An identical write is a no-op that keeps the resourceVersion.
	same, _, err := s.Update(ctx, key, func(cur runtime.Object) (runtime.Object, error) { return cur, nil })
	if err != nil || same.(*corev1.ConfigMap).ResourceVersion != rv1 {
		t.Fatalf("no-op update moved rv: %v", err)
	}
	upd, _, err := s.Update(ctx, key, func(cur runtime.Object) (runtime.Object, error) {
		c := cur.(*corev1.ConfigMap)
		c.Data["d"] = "2"
		return c, nil
	})
	if err != nil || upd.(*corev1.ConfigMap).ResourceVersion == rv1 {
		t.Fatalf("update: %v", err)
	}
	if _, err := s.Delete(ctx, key, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, key); !storage.IsNotFound(err) {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestConcurrentUpdatesAreSerialised(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	key := s.Key("ns", "counter")
	if _, err := s.Create(ctx, key, cm("counter", "0")); err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 10
	errs := make(chan error, writers)
	for range writers {
		go func() {
			for range each {
				_, _, err := s.Update(ctx, key, func(cur runtime.Object) (runtime.Object, error) {
					c := cur.(*corev1.ConfigMap)
					var n int
					fmt.Sscan(c.Data["d"], &n)
					c.Data["d"] = fmt.Sprint(n + 1)
					return c, nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.Get(ctx, key)
	if d := got.(*corev1.ConfigMap).Data["d"]; d != fmt.Sprint(writers*each) {
		t.Fatalf("lost updates: counter %s, want %d", d, writers*each)
	}
}

func TestListPagesAndWatch(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 7 {
		if _, err := s.Create(ctx, s.Key("ns", fmt.Sprintf("o%d", i)), cm(fmt.Sprintf("o%d", i), "x")); err != nil {
			t.Fatal(err)
		}
	}
	var all []string
	opts := storage.ListOptions{Limit: 3}
	for {
		res, err := s.List(ctx, s.Prefix("ns"), opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range res.Items {
			all = append(all, it.(*corev1.ConfigMap).Name)
		}
		if res.Continue == "" {
			break
		}
		opts.Continue = res.Continue
	}
	if len(all) != 7 {
		t.Fatalf("paged list got %v", all)
	}
	if _, err := s.List(ctx, s.Prefix("ns"), storage.ListOptions{Continue: "garbage!"}); storage.CodeOf(err) != storage.CodeInvalidContinue {
		t.Fatalf("bad continue token: %v", err)
	}
	// A filtered watch reports objects leaving the filter as deletions.
	only := func(o runtime.Object) bool { return o.(*corev1.ConfigMap).Data["d"] == "x" }
	events := s.Watch(ctx, s.Prefix("ns"), storage.WatchOptions{InitialState: true, Filter: only})
	for range 7 {
		if ev := <-events; ev.Type != watch.Added {
			t.Fatalf("initial event %s", ev.Type)
		}
	}
	if _, _, err := s.Update(ctx, s.Key("ns", "o1"), func(cur runtime.Object) (runtime.Object, error) {
		cur.(*corev1.ConfigMap).Data["d"] = "y"
		return cur, nil
	}); err != nil {
		t.Fatal(err)
	}
	if ev := <-events; ev.Type != watch.Deleted || ev.Object.(*corev1.ConfigMap).Name != "o1" {
		t.Fatalf("leaving the filter: %s", ev.Type)
	}
}
