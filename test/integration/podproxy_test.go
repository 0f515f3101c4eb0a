package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// pods/NAME[:PORT]/proxy/PATH reaches the server in the pod at its
// address, with the path and query, without the caller's credentials.
// The "pod" here is a loopback server whose address the test writes into
// the pod's status, as an agent would.
func TestPodProxy(t *testing.T) {
	var seen *http.Request
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Clone(context.Background())
		fmt.Fprintf(w, "%s %s?%s", r.Method, r.URL.Path, r.URL.RawQuery)
	}))
	defer backend.Close()
	_, portStr, _ := net.SplitHostPort(backend.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)

	srv := testserver.Start(t, testserver.Options{DisableControllers: []string{"scheduler"}})
	cs := srv.Clientset(t)
	ctx := context.Background()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{
		NodeName:   "n1",
		Containers: []corev1.Container{{Name: "c", Image: "busybox", Ports: []corev1.ContainerPort{{ContainerPort: int32(port)}}}},
	}}
	pod, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// No address yet: 503.
	_, err = cs.CoreV1().RESTClient().Get().Namespace("default").Resource("pods").Name("web").SubResource("proxy").DoRaw(ctx)
	if !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("proxy to a pod without an address: %v, want 503", err)
	}
	pod.Status.PodIP = "127.0.0.1"
	if _, err := cs.CoreV1().Pods("default").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, suffix, want string
	}{
		{"web", "/data.json", "GET /data.json?a=1"},  // first container port
		{"web:" + portStr, "/x/y/", "GET /x/y/?a=1"}, // explicit port, trailing slash kept
		{"http:web:" + portStr, "", "GET /?a=1"},     // scheme:name:port, no path
	} {
		got, err := cs.CoreV1().RESTClient().Get().AbsPath("/api/v1/namespaces/default/pods/"+tc.name+"/proxy"+tc.suffix).Param("a", "1").DoRaw(ctx)
		if err != nil || string(got) != tc.want {
			t.Errorf("proxy %s%s = %q, %v; want %q", tc.name, tc.suffix, got, err, tc.want)
		}
	}
	if seen == nil || seen.Header.Get("Authorization") != "" {
		t.Errorf("the caller's credentials reached the pod: %v", seen.Header)
	}
	res := cs.CoreV1().RESTClient().Post().AbsPath("/api/v1/namespaces/default/pods/web/proxy/echo").Body([]byte("hi")).Do(ctx)
	if raw, err := res.Raw(); err != nil || string(raw) != "POST /echo?" {
		t.Errorf("POST through the proxy = %q, %v", raw, err)
	}
	_, err = cs.CoreV1().RESTClient().Get().AbsPath("/api/v1/namespaces/default/pods/web:99999/proxy/").DoRaw(ctx)
	if !apierrors.IsBadRequest(err) {
		t.Errorf("bad port: %v, want 400", err)
	}
	_, err = cs.CoreV1().RESTClient().Get().AbsPath("/api/v1/namespaces/default/pods/nope/proxy/").DoRaw(ctx)
	if !apierrors.IsNotFound(err) {
		t.Errorf("missing pod: %v, want 404", err)
	}
	_ = io.Discard
}

// services/NAME[:PORT]/proxy/PATH reaches a ready endpoint of the
// Service on the endpoint port of that name; links in HTML answers (pods'
// and Services') come back rewritten to go through the proxy again.
func TestServiceProxy(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/page/" {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `<html><body><a href="/rewriteme">link</a></body></html>`)
			return
		}
		fmt.Fprintf(w, "%s %s", r.Method, r.URL.Path)
	}))
	defer backend.Close()
	_, portStr, _ := net.SplitHostPort(backend.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)

	srv := testserver.Start(t, testserver.Options{DisableControllers: []string{"scheduler"}})
	cs := srv.Clientset(t)
	ctx := context.Background()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{
		Ports: []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "other", Port: 81}}}}
	if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The body is the answer, or the Status of an error.
	get := func(path string) (string, error) {
		b, err := cs.CoreV1().RESTClient().Get().AbsPath(path).Do(ctx).Raw()
		return string(b), err
	}
	// No endpoints yet: 503 with upstream's words.
	if body, err := get("/api/v1/namespaces/default/services/web:http/proxy/"); !apierrors.IsServiceUnavailable(err) || !strings.Contains(body, `no endpoints available for service \"web\"`) {
		t.Fatalf("proxy to a Service without endpoints: %v %s", err, body)
	}
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "127.0.0.1"}},
		Ports:     []corev1.EndpointPort{{Name: "http", Port: int32(port)}, {Name: "other", Port: 1}},
	}}}
	if _, err := cs.CoreV1().Endpoints("default").Create(ctx, ep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"web:http", "web:80", "http:web:http"} {
		if got, err := get("/api/v1/namespaces/default/services/" + name + "/proxy/x"); err != nil || got != "GET /x" {
			t.Errorf("proxy %s = %q, %v", name, got, err)
		}
	}
	if body, err := get("/api/v1/namespaces/default/services/web:8080/proxy/"); !apierrors.IsServiceUnavailable(err) || !strings.Contains(body, "no service port 8080") {
		t.Errorf("unknown port number: %v %s", err, body)
	}
	base := "/api/v1/namespaces/default/services/web:http/proxy"
	if got, err := get(base + "/page/"); err != nil || !strings.Contains(got, `href="`+base+`/rewriteme"`) {
		t.Errorf("HTML through the service proxy = %q, %v; want the link rewritten under %s", got, err, base)
	}

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "page"}, Spec: corev1.PodSpec{
		NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	pod, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status.PodIP = "127.0.0.1"
	if _, err := cs.CoreV1().Pods("default").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// GET of .../proxy without a path is redirected to .../proxy/.
	cfg := srv.RESTConfig()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Get(cfg.Host + base + "?a=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != base+"/?a=1" {
		t.Errorf("GET %s: %d to %q, want 301 to %s/?a=1", base, resp.StatusCode, resp.Header.Get("Location"), base)
	}
	podBase := "/api/v1/namespaces/default/pods/page:" + portStr + "/proxy"
	if got, err := get(podBase + "/page/"); err != nil || !strings.Contains(got, `href="`+podBase+`/rewriteme"`) {
		t.Errorf("HTML through the pod proxy = %q, %v; want the link rewritten under %s", got, err, podBase)
	}
}
