package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
