package integration

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/pkg/etcd"
	"github.com/flotilla-io/flotilla/pkg/pki"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// Stopping the server and starting it on the same data dir keeps every
// acknowledged object.
func TestRestartOnSameDataDir(t *testing.T) {
	dir := t.TempDir()
	srv := testserver.Start(t, testserver.Options{DataDir: dir})
	cs := srv.Clientset(t)
	ctx := context.Background()
	settled(t, cs, "default")
	for i := range 20 {
		if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("keep-%d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	srv.Stop()

	again := testserver.Start(t, testserver.Options{DataDir: dir})
	list, err := again.Clientset(t).CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 21 { // and the root CA
		t.Fatalf("after restart: %d configmaps, want 21", len(list.Items))
	}
}

// --datastore-endpoint: the server keeps its objects in an etcd cluster it
// did not start (here a separate member with mutual TLS), and a second
// server on a fresh data dir sees the same objects.
// externalEtcd starts an etcd member with mutual TLS, apart from any
// server, and returns server options that use it.
func externalEtcd(t *testing.T) (testserver.Options, *etcd.Embedded) {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir, "external-etcd-ca")
	if err != nil {
		t.Fatal(err)
	}
	loopback := []net.IP{net.ParseIP("127.0.0.1")}
	if _, err := ca.LoadOrIssue(filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"), pki.LeafRequest{CommonName: "etcd", IPs: loopback, DNSNames: []string{"localhost"}, Server: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.LoadOrIssue(filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key"), pki.LeafRequest{CommonName: "flotilla"}); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.crt")
	clientURL := fmt.Sprintf("https://127.0.0.1:%d", testserver.FreePort(t))
	ext, err := etcd.Start(context.Background(), etcd.Config{
		DataDir:   filepath.Join(dir, "etcd"),
		ClientURL: clientURL,
		PeerURL:   fmt.Sprintf("https://127.0.0.1:%d", testserver.FreePort(t)),
		CertFile:  filepath.Join(dir, "server.crt"),
		KeyFile:   filepath.Join(dir, "server.key"),
		TrustedCA: caFile,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ext.Close)

	return testserver.Options{DatastoreEndpoint: clientURL, DatastoreCAFile: caFile, DatastoreCertFile: filepath.Join(dir, "client.crt"), DatastoreKeyFile: filepath.Join(dir, "client.key")}, ext
}

func TestExternalDatastore(t *testing.T) {
	opts, ext := externalEtcd(t)
	clientURL := opts.DatastoreEndpoint
	first := testserver.Start(t, opts)
	ctx := context.Background()
	if _, err := first.Clientset(t).CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "shared"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	first.Stop()

	// The object is in the external member, where the server put it.
	resp, err := ext.Client.Get(ctx, "/flotilla/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count == 0 {
		t.Fatalf("external etcd holds %v keys (err %v)", resp, err)
	}
	second := testserver.Start(t, opts) // a fresh data dir
	cm, err := second.Clientset(t).CoreV1().ConfigMaps("default").Get(ctx, "shared", metav1.GetOptions{})
	if err != nil || cm.Data["k"] != "v" {
		t.Fatalf("second server: %v %v", cm, err)
	}

	// Without TLS the external member refuses us.
	if _, err := etcd.Dial(ctx, clientURL, nil, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("plain connection to a TLS etcd succeeded")
	}
}
