package reviews

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/flotilla-io/flotilla/pkg/registry"
)

// TestTableIsNotAcceptable: a review is no stored object, so asking for
// it as a Table gets upstream's 406 (the conformance test "should return
// a 406 for a backend which does not implement metadata"), while JSON is
// answered.
func TestTableIsNotAcceptable(t *testing.T) {
	allowAll := authorizer.AuthorizerFunc(func(_ context.Context, _ authorizer.Attributes) (authorizer.Decision, string, error) {
		return authorizer.DecisionAllow, "", nil
	})
	h := &handler{cfg: Config{Authorizer: allowAll}}
	const body = `{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"nonResourceAttributes":{"path":"/","verb":"get"}}}`
	post := func(accept string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", accept)
		r = r.WithContext(registry.WithUser(r.Context(), registry.User{Name: "alice", Groups: []string{"system:authenticated"}}))
		w := httptest.NewRecorder()
		h.serveAuthorization(w, r)
		return w
	}
	w := post("application/json;as=Table;v=v1;g=meta.k8s.io")
	var st metav1.Status
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	if w.Code != http.StatusNotAcceptable || st.Code != http.StatusNotAcceptable || st.Reason != "NotAcceptable" {
		t.Fatalf("Table: code %d, status %+v", w.Code, st)
	}
	if w := post("application/json"); w.Code != http.StatusCreated {
		t.Fatalf("JSON: code %d: %s", w.Code, w.Body.String())
	}
}
