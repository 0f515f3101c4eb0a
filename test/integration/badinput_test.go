package integration

import (
	"context"
	"net/http"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// Bad bodies get a 4xx Status with a clear message, store nothing, and
// leave the server serving.
func TestBadInputIsRejected(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	settled(t, cs, "default")
	huge := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"huge"},"data":{"k":"` + strings.Repeat("x", 4<<20) + `"}}`
	cases := []struct {
		name, media, body, query string
		code                     int
		message                  string
	}{
		{"malformed json", "application/json", `{"apiVersion":"v1","kind":"ConfigMap",`, "", http.StatusBadRequest, "cannot be handled as a ConfigMap"},
		{"malformed yaml", "application/yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: [", "", http.StatusBadRequest, "cannot be handled as a ConfigMap"},
		{"wrong kind", "application/json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"w"}}`, "", http.StatusBadRequest, "does not match the expected kind"},
		{"wrong apiVersion", "application/json", `{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"w"}}`, "", http.StatusBadRequest, "ConfigMap"},
		{"invalid name", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}`, "", http.StatusUnprocessableEntity, "metadata.name: Invalid value"},
		{"bad data key", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"k"},"data":{"a b":"c"}}`, "", http.StatusUnprocessableEntity, `data[a b]: Invalid value`},
		{"unknown field strict", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"u"},"bogus":1}`, "fieldValidation=Strict", http.StatusBadRequest, `unknown field "bogus"`},
		{"duplicate field strict", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d","name":"e"}}`, "fieldValidation=Strict", http.StatusBadRequest, `duplicate field "metadata.name"`},
		{"garbage protobuf", "application/vnd.kubernetes.protobuf", "k8s\x00\xff\xff\xff", "", http.StatusBadRequest, "cannot be handled"},
		{"unsupported media", "text/plain", "hello", "", http.StatusUnsupportedMediaType, "unknown format"},
		{"oversized", "application/json", huge, "", http.StatusRequestEntityTooLarge, "limit is"},
		{"bad fieldValidation", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"f"}}`, "fieldValidation=Loud", http.StatusBadRequest, "fieldValidation"},
		{"bad dryRun", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"f"}}`, "dryRun=Some", http.StatusBadRequest, "Invalid dry run value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := cs.CoreV1().RESTClient().Post().Namespace("default").Resource("configmaps").
				SetHeader("Content-Type", tc.media).Body([]byte(tc.body))
			if tc.query != "" {
				k, v, _ := strings.Cut(tc.query, "=")
				req = req.Param(k, v)
			}
			err := req.Do(ctx).Error()
			st, ok := err.(apierrors.APIStatus)
			if !ok {
				t.Fatalf("want a Status error, got %T %v", err, err)
			}
			if got := st.Status(); int(got.Code) != tc.code || !strings.Contains(got.Message, tc.message) {
				t.Fatalf("got %d %q, want %d containing %q", got.Code, got.Message, tc.code, tc.message)
			}
		})
	}
	list, err := cs.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("server stopped serving: %v", err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != rootCA {
		t.Fatalf("bad input stored %d configmaps", len(list.Items))
	}
}
