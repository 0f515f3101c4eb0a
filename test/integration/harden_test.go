package integration

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"

	"github.com/flotilla-io/flotilla/pkg/apiserver"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// requestSeries returns the apiserver_request_total series /metrics shows.
func requestSeries(t *testing.T, hc *http.Client, base string) []string {
	t.Helper()
	resp, err := hc.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "apiserver_request_total{"); ok {
			labels, _, _ := strings.Cut(line, "}")
			out = append(out, labels)
		}
	}
	return out
}

// TestMetricsBoundedSeries sends 1000 requests with random paths and
// methods: the request metrics must not grow a series per path or method.
func TestMetricsBoundedSeries(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	hc, err := rest.HTTPClientFor(srv.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	before := requestSeries(t, hc, srv.URL)
	var words []string
	word := func() string {
		b := make([]byte, 1+rand.IntN(12))
		for i := range b {
			b[i] = "abcdefghijklmnopqrstuvwxyz0123456789-"[rand.IntN(37)]
		}
		words = append(words, string(b))
		return string(b)
	}
	methods := []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
	for i := range 1000 {
		m := methods[rand.IntN(len(methods))]
		if i%2 == 0 {
			m = strings.ToUpper(word()) // a method no one knows
			m = strings.ReplaceAll(m, "-", "X")
		}
		var p string
		switch i % 4 {
		case 0:
			p = "/" + word() + "/" + word()
		case 1:
			p = "/api/v1/" + word()
		case 2:
			p = "/apis/" + word() + "/" + word() + "/" + word()
		default:
			p = "/api/v1/namespaces/" + word() + "/" + word() + "/" + word() + "/" + word()
		}
		req, err := http.NewRequest(m, srv.URL+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", m, p, err)
		}
		resp.Body.Close()
	}
	after := requestSeries(t, hc, srv.URL)
	// The server's own controllers add series meanwhile (their resources
	// and verbs); the random requests may only add to the fixed buckets of
	// unrouted requests: one per known method (or "other") and code.
	nonresource := 0
	for _, labels := range after {
		if strings.Contains(labels, `resource="nonresource"`) {
			nonresource++
		}
		for _, l := range strings.Split(labels, ",") {
			_, v, _ := strings.Cut(l, "=")
			v = strings.Trim(v, `"`)
			if len(v) > 3 && slices.Contains(words, v) && !slices.Contains([]string{"get", "list", "watch", "create", "update", "patch", "delete"}, v) {
				t.Errorf("a random path or method became a label value: %s", labels)
			}
		}
	}
	t.Logf("apiserver_request_total series: %d before, %d after 1000 random requests (%d unrouted buckets)", len(before), len(after), nonresource)
	if nonresource > 40 {
		t.Fatalf("1000 random requests made %d unrouted series:\n%s", nonresource, strings.Join(after, "\n"))
	}
}

// TestLimitsLongRunning: with a one-second request timeout a watch
// still delivers an event seconds later.
func TestLimitsLongRunning(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{Limits: apiserver.Limits{RequestTimeout: time.Second, MaxRequestsInFlight: 400, MaxMutatingRequestsInFlight: 200}})
	cs := srv.Clientset(t)
	ctx := context.Background()
	w, err := cs.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	// The server's read and write deadlines are 2 s here; the watch is
	// exempt from both, so an event after them still arrives.
	time.Sleep(3 * time.Second)
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev, ok := <-w.ResultChan():
		if !ok || ev.Type != watch.Added {
			t.Fatalf("watch after the request timeout: %v %v", ev.Type, ok)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event on a watch older than the request timeout")
	}
}

// TestLimitsPatch: JSON patches over upstream's operation limit, or
// bodies over its size limit, are refused with upstream's 413; a patch at
// the limit applies. The server has the default request timeout: on a
// loaded machine, 10000 operations take longer than the one second of
// TestLimitsLongRunning's server (a make test at 747ebe0 had the stream
// reset by that deadline).
func TestLimitsPatch(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for range 10001 {
		ops = append(ops, `{"op":"test","path":"/metadata/name","value":"late"}`)
	}
	patch := []byte("[" + strings.Join(ops, ",") + "]")
	_, err := cs.CoreV1().ConfigMaps("default").Patch(ctx, "late", types.JSONPatchType, patch, metav1.PatchOptions{})
	want := "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"
	if !apierrors.IsRequestEntityTooLargeError(err) || err.Error() != want {
		t.Fatalf("10001-operation patch: %v, want 413 %q", err, want)
	}
	atLimit := []byte("[" + strings.Join(ops[1:], ",") + "]")
	if _, err := cs.CoreV1().ConfigMaps("default").Patch(ctx, "late", types.JSONPatchType, atLimit, metav1.PatchOptions{}); err != nil {
		t.Fatalf("10000-operation patch: %v", err)
	}
	big := fmt.Sprintf(`{"data":{"k":%q}}`, strings.Repeat("x", 3<<20))
	_, err = cs.CoreV1().ConfigMaps("default").Patch(ctx, "late", types.MergePatchType, []byte(big), metav1.PatchOptions{})
	if !apierrors.IsRequestEntityTooLargeError(err) {
		t.Fatalf("3 MiB patch body: %v, want 413", err)
	}
}
