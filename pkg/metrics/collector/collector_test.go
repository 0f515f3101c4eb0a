package collector

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/flotilla-io/flotilla/pkg/extensions"
	"github.com/flotilla-io/flotilla/pkg/metrics/scrape"
	"github.com/flotilla-io/flotilla/pkg/metrics/storage"
	"github.com/flotilla-io/flotilla/pkg/pki"
)

const clientName = "system:flotilla:apiserver-agent-client"

// agentServer serves a fixed exposition whose counters grow by 0.25
// core-seconds per second of sample time (250m) on every request, over
// TLS, only to clientName's certificate.
func agentServer(t *testing.T, ca *pki.Authority, calls *atomic.Int64) *httptest.Server {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue(pki.LeafRequest{CommonName: "node", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/nodes/a/metrics/resource" {
			http.NotFound(w, r)
			return
		}
		n := calls.Add(1)
		ts := int64(1700000000000) + n*10000 // 10 s apart
		cpu := float64(n) * 2.5              // +2.5 core-seconds per 10 s
		fmt.Fprintf(w, "node_cpu_usage_seconds_total %g %d\nnode_memory_working_set_bytes 1e9 %d\n", cpu*4, ts, ts)
		fmt.Fprintf(w, "container_cpu_usage_seconds_total{container=\"c\",namespace=\"ns\",pod=\"p\"} %g %d\n", cpu, ts)
		fmt.Fprintf(w, "container_memory_working_set_bytes{container=\"c\",namespace=\"ns\",pod=\"p\"} 1048576 %d\n", ts)
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.Pool(),
		VerifyPeerCertificate: func(_ [][]byte, chains [][]*x509.Certificate) error {
			if len(chains) == 0 || chains[0][0].Subject.CommonName != clientName {
				return errors.New("not the API server")
			}
			return nil
		},
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func clientTLS(t *testing.T, ca *pki.Authority, name string) *tls.Config {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue(pki.LeafRequest{CommonName: name})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{cert}}
}

func nodeLister(t *testing.T, nodes ...*corev1.Node) corev1listers.NodeLister {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, n := range nodes {
		if err := idx.Add(n); err != nil {
			t.Fatal(err)
		}
	}
	return corev1listers.NewNodeLister(idx)
}

func TestCollectTwoRounds(t *testing.T) {
	t.Parallel()
	ca, err := pki.LoadOrCreateCA(filepath.Join(t.TempDir(), "ca"), "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	srv := agentServer(t, ca, &calls)
	nodes := nodeLister(t,
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a", Annotations: map[string]string{extensions.StatsEndpointAnnotation: srv.URL + "/nodes/a"}}},
		// A simulated node without an endpoint is never dialled.
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "sim", Annotations: map[string]string{extensions.SimulatedNodeAnnotation: "true"}},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.99.0.1"}}, DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}}}},
		// A node whose endpoint refuses connections is left out.
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gone", Annotations: map[string]string{extensions.StatsEndpointAnnotation: "https://127.0.0.1:1"}}},
	)
	st := storage.New(15 * time.Second)
	c := New(Config{Resolution: time.Second, Nodes: nodes, Fetcher: scrape.NewClient(clientTLS(t, ca, clientName)), Storage: st, Log: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	r := c.Collect(ctx)
	if r.Nodes != 3 || r.Answered != 1 || r.Pods != 1 {
		t.Fatalf("first round = %+v", r)
	}
	if _, ok := st.Node("a"); ok {
		t.Fatal("usage after one sample")
	}
	c.Collect(ctx)
	u, ok := st.Node("a")
	if !ok || u.Window != 10*time.Second || u.Resources.Cpu().MilliValue() != 1000 || u.Resources.Memory().Value() != 1e9 {
		t.Fatalf("node a = %+v, %v; want 1 core over 10s", u, ok)
	}
	pu, ok := st.Pod(types.NamespacedName{Namespace: "ns", Name: "p"})
	if !ok || len(pu.Containers) != 1 || pu.Containers[0].Usage.Cpu().MilliValue() != 250 || pu.Containers[0].Usage.Memory().Value() != 1<<20 {
		t.Fatalf("pod = %+v, %v; want 250m, 1Mi", pu, ok)
	}
	if got := c.LastRound(); got.Answered != 1 {
		t.Fatalf("LastRound = %+v", got)
	}
}

func TestClientCertificateRequired(t *testing.T) {
	t.Parallel()
	ca, err := pki.LoadOrCreateCA(filepath.Join(t.TempDir(), "ca"), "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	srv := agentServer(t, ca, &calls)
	// Another client's certificate is refused; so is a server whose
	// certificate the cluster CA did not sign.
	if _, err := scrape.NewClient(clientTLS(t, ca, "someone")).Fetch(context.Background(), srv.URL+"/nodes/a"); err == nil {
		t.Fatal("scrape with another client's certificate succeeded")
	}
	other, err := pki.LoadOrCreateCA(filepath.Join(t.TempDir(), "other"), "other-ca")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scrape.NewClient(clientTLS(t, other, clientName)).Fetch(context.Background(), srv.URL+"/nodes/a"); err == nil {
		t.Fatal("scrape trusting another CA succeeded")
	}
	if calls.Load() != 0 {
		t.Fatalf("%d requests served", calls.Load())
	}
}

func TestTimeoutLeavesNodeOut(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(block); slow.Close() })
	nodes := nodeLister(t, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "slow", Annotations: map[string]string{extensions.StatsEndpointAnnotation: slow.URL}}})
	c := New(Config{Resolution: time.Second, Timeout: 200 * time.Millisecond, Nodes: nodes, Fetcher: scrape.NewClient(nil), Storage: storage.New(time.Second), Log: slog.New(slog.DiscardHandler)})
	start := time.Now()
	r := c.Collect(context.Background())
	if r.Answered != 0 || time.Since(start) > 5*time.Second {
		t.Fatalf("round = %+v after %v", r, time.Since(start))
	}
}

func TestEndpoint(t *testing.T) {
	t.Parallel()
	n := &corev1.Node{Status: corev1.NodeStatus{
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "h"}, {Type: corev1.NodeInternalIP, Address: "10.0.0.5"}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
	}}
	if got, err := Endpoint(n); err != nil || got != "https://10.0.0.5:10250" {
		t.Fatalf("Endpoint = %q, %v", got, err)
	}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = 0
	if _, err := Endpoint(n); err == nil {
		t.Fatal("a node without a port has an endpoint")
	}
}
