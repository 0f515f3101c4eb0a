package serviceaccount

import (
	"encoding/json"
	"errors"
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
	tok, exp, err := s.Issue(Request{Namespace: "ns", Name: "default", UID: "u1", Pod: &Ref{Name: "p", UID: "pu"}, Node: &Ref{Name: "n1", UID: "nu"}}, now)
	if err != nil || exp.Sub(now) != time.Hour {
		t.Fatalf("issue: %v %v", exp, err)
	}
	c, err := s.Verify(tok, now)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "system:serviceaccount:ns:default" || c.Kube.Pod.Name != "p" || c.Kube.Node.UID != "nu" || c.ID == "" || c.Legacy() {
		t.Fatalf("claims %+v", c)
	}
	// The wire form has upstream's claim names.
	body, _ := enc.DecodeString(strings.Split(tok, ".")[1])
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "kubernetes.io"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("claim %s missing from %s", k, body)
		}
	}
	kube := raw["kubernetes.io"].(map[string]any)
	if kube["namespace"] != "ns" || kube["serviceaccount"].(map[string]any)["uid"] != "u1" || kube["pod"].(map[string]any)["name"] != "p" {
		t.Errorf("kubernetes.io claim %v", kube)
	}
	// The same key after a restart verifies old tokens.
	again, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.Verify(tok, now); err != nil {
		t.Fatal(err)
	}
	vault, _, _ := s.Issue(Request{Namespace: "ns", Name: "x", Audiences: []string{"vault"}}, now)
	if _, err := s.Verify(vault, now, "vault"); err != nil {
		t.Errorf("token for vault refused by vault: %v", err)
	}
	for name, bad := range map[string]string{
		"expired":   "",
		"tampered":  tok[:len(tok)-4] + "AAAA",
		"garbage":   "a.b.c",
		"two parts": "a.b",
		"other aud": vault,
		"not yet":   "",
	} {
		at := now
		switch name {
		case "expired":
			bad, at = tok, now.Add(time.Hour+leeway+time.Second)
		case "not yet":
			bad, at = tok, now.Add(-leeway-time.Second)
		}
		if _, err := s.Verify(bad, at); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Clocks may disagree by a minute either way, as upstream allows.
	for name, at := range map[string]time.Time{
		"at expiry":                 now.Add(time.Hour),
		"within leeway past expiry": now.Add(time.Hour + leeway - time.Second),
		"within leeway before nbf":  now.Add(-leeway + time.Second),
	} {
		if _, err := s.Verify(tok, at); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	other, _ := LoadOrCreate(filepath.Join(t.TempDir(), "other.key"))
	if _, err := other.Verify(tok, now); err == nil {
		t.Error("another key verified the token")
	}
}

func TestExtendedToken(t *testing.T) {
	s, err := LoadOrCreate(filepath.Join(t.TempDir(), "sa.key"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, exp, err := s.Issue(Request{Namespace: "ns", Name: "a", Expiry: 3607 * time.Second, ExtendTo: 365 * 24 * time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Verify(tok, now.Add(2*time.Hour))
	if err != nil {
		t.Fatalf("extended token refused after its warnafter: %v", err)
	}
	if exp.Sub(now) != 365*24*time.Hour || c.Kube.WarnAfter == nil || c.Kube.WarnAfter.Unix() != now.Add(3607*time.Second).Unix() {
		t.Errorf("exp %v claims %+v", exp, c.Kube)
	}
}

func TestLegacyToken(t *testing.T) {
	s, err := LoadOrCreate(filepath.Join(t.TempDir(), "sa.key"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.IssueLegacy("ns", "build", "u1", "build-token")
	if err != nil {
		t.Fatal(err)
	}
	// Legacy tokens never expire and name no audience.
	c, err := s.Verify(tok, time.Now().Add(100*365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Legacy() || c.LegacySecretName != "build-token" || c.Subject != "system:serviceaccount:ns:build" || c.Kube != nil {
		t.Fatalf("claims %+v", c)
	}
}
