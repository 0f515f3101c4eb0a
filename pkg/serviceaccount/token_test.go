package serviceaccount

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestIssueVerify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sa.key")
	s, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, exp, err := s.Issue(Request{Namespace: "ns", Name: "default", UID: "u1", PodName: "p", PodUID: "pu"}, now)
	if err != nil || exp.Sub(now) != time.Hour {
		t.Fatalf("issue: %v %v", exp, err)
	}
	c, err := s.Verify(tok, now)
	if err != nil {
		t.Fatal(err)
	}
	if name, groups := c.User(); name != "system:serviceaccount:ns:default" || groups[1] != "system:serviceaccounts:ns" || c.Kube.Pod.Name != "p" {
		t.Fatalf("claims %+v", c)
	}
	// The same key after a restart verifies old tokens.
	again, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.Verify(tok, now); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"expired":   "",
		"tampered":  tok[:len(tok)-4] + "AAAA",
		"garbage":   "a.b.c",
		"two parts": "a.b",
		"other aud": "",
	} {
		at := now
		switch name {
		case "expired":
			bad, at = tok, now.Add(2*time.Hour)
		case "other aud":
			bad, _, _ = s.Issue(Request{Namespace: "ns", Name: "x", Audiences: []string{"vault"}}, now)
		}
		if _, err := s.Verify(bad, at); err != ErrInvalid {
			t.Errorf("%s: %v", name, err)
		}
	}
	other, _ := LoadOrCreate(filepath.Join(t.TempDir(), "other.key"))
	if _, err := other.Verify(tok, now); err == nil {
		t.Error("another key verified the token")
	}
	if strings.Count(tok, ".") != 2 {
		t.Error("not a JWT")
	}
}
