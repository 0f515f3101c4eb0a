package apiserver

import (
	"net/http/httptest"
	"testing"

	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apiserver/pkg/authentication/user"
)

// TestAttributesCarrySelectors: a list or watch narrowed by selectors
// reaches the authorizers with them parsed (the Node authorizer allows a
// node to watch one Secret by name, or only TLS Secrets).
func TestAttributesCarrySelectors(t *testing.T) {
	u := &user.DefaultInfo{Name: "system:node:a"}
	r := httptest.NewRequest("GET", "/api/v1/secrets?watch=true&fieldSelector=type%3Dkubernetes.io%2Ftls&labelSelector=app%3Dweb", nil)
	attrs, err := attributesOf(r, u)
	if err != nil {
		t.Fatal(err)
	}
	if attrs.Verb != "watch" || attrs.Resource != "secrets" {
		t.Fatalf("verb %q resource %q", attrs.Verb, attrs.Resource)
	}
	fs, err := attrs.GetFieldSelector()
	if err != nil || len(fs) != 1 || fs[0].Field != "type" || fs[0].Value != "kubernetes.io/tls" || fs[0].Operator != selection.Equals {
		t.Fatalf("field selector %+v, %v", fs, err)
	}
	ls, err := attrs.GetLabelSelector()
	if err != nil || len(ls) != 1 || ls[0].Key() != "app" {
		t.Fatalf("label selector %+v, %v", ls, err)
	}

	// A selector that does not parse is kept as the error.
	r = httptest.NewRequest("GET", "/api/v1/namespaces/x/secrets?fieldSelector=%3D%3D%3D", nil)
	if attrs, err = attributesOf(r, u); err != nil {
		t.Fatal(err)
	}
	if _, err := attrs.GetFieldSelector(); err == nil {
		t.Fatal("unparsable field selector: no error kept")
	}
	// A get carries none.
	r = httptest.NewRequest("GET", "/api/v1/namespaces/x/secrets/s?fieldSelector=type%3Dx", nil)
	if attrs, err = attributesOf(r, u); err != nil {
		t.Fatal(err)
	}
	if fs, _ := attrs.GetFieldSelector(); len(fs) != 0 {
		t.Fatalf("get has field selector %+v", fs)
	}
}
