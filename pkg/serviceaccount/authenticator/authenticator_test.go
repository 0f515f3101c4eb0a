package authenticator

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flotilla-io/flotilla/pkg/serviceaccount"
)

// fakeObjects is a map of objects by kind/namespace/name.
type fakeObjects map[string]metav1.Object

func (f fakeObjects) get(kind, ns, name string) (metav1.Object, error) {
	if o, ok := f[kind+"/"+ns+"/"+name]; ok {
		return o, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: kind}, name)
}

func (f fakeObjects) ServiceAccount(_ context.Context, ns, name, _ string) (*corev1.ServiceAccount, error) {
	o, err := f.get("sa", ns, name)
	if err != nil {
		return nil, err
	}
	return o.(*corev1.ServiceAccount), nil
}

func (f fakeObjects) Pod(_ context.Context, ns, name, _ string) (*corev1.Pod, error) {
	o, err := f.get("pod", ns, name)
	if err != nil {
		return nil, err
	}
	return o.(*corev1.Pod), nil
}

func (f fakeObjects) Secret(_ context.Context, ns, name, _ string) (*corev1.Secret, error) {
	o, err := f.get("secret", ns, name)
	if err != nil {
		return nil, err
	}
	return o.(*corev1.Secret), nil
}

// FreshSecret reads "fresh-secret/..." when set: the API's copy where
// the cache's ("secret/...") lags.
func (f fakeObjects) FreshSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	if o, err := f.get("fresh-secret", ns, name); err == nil {
		return o.(*corev1.Secret), nil
	}
	return f.Secret(ctx, ns, name, "")
}

func (f fakeObjects) Node(_ context.Context, name, _ string) (*corev1.Node, error) {
	o, err := f.get("node", "", name)
	if err != nil {
		return nil, err
	}
	return o.(*corev1.Node), nil
}

func meta(name, uid string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(uid)}
}

func TestAuthenticateBoundTokens(t *testing.T) {
	signer, err := serviceaccount.LoadOrCreate(filepath.Join(t.TempDir(), "sa.key"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	fresh := func() fakeObjects {
		return fakeObjects{
			"sa/ns/app":   &corev1.ServiceAccount{ObjectMeta: meta("app", "sa1")},
			"pod/ns/web":  &corev1.Pod{ObjectMeta: meta("web", "pod1")},
			"secret/ns/s": &corev1.Secret{ObjectMeta: meta("s", "sec1")},
			"node//n1":    &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "node1"}},
		}
	}
	issue := func(r serviceaccount.Request) string {
		r.Namespace, r.Name, r.UID = "ns", "app", "sa1"
		tok, _, err := signer.Issue(r, now)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	podTok := issue(serviceaccount.Request{Pod: &serviceaccount.Ref{Name: "web", UID: "pod1"}, Node: &serviceaccount.Ref{Name: "n1", UID: "node1"}})
	secretTok := issue(serviceaccount.Request{Secret: &serviceaccount.Ref{Name: "s", UID: "sec1"}})
	nodeTok := issue(serviceaccount.Request{Node: &serviceaccount.Ref{Name: "n1", UID: "node1"}})
	plain := issue(serviceaccount.Request{})

	a := &Authenticator{Verifier: signer, Objects: fresh(), Now: func() time.Time { return now }}
	u, err := a.AuthenticateToken(context.Background(), podTok)
	if err != nil {
		t.Fatal(err)
	}
	if u.GetName() != "system:serviceaccount:ns:app" || u.GetUID() != "sa1" {
		t.Errorf("user %s uid %s", u.GetName(), u.GetUID())
	}
	extra := u.GetExtra()
	if extra["authentication.kubernetes.io/pod-name"][0] != "web" || extra["authentication.kubernetes.io/pod-uid"][0] != "pod1" ||
		extra["authentication.kubernetes.io/node-name"][0] != "n1" || len(extra["authentication.kubernetes.io/credential-id"]) != 1 {
		t.Errorf("extra %v", extra)
	}
	if g := u.GetGroups(); len(g) != 2 || g[0] != "system:serviceaccounts" || g[1] != "system:serviceaccounts:ns" {
		t.Errorf("groups %v", g)
	}
	for _, tok := range []string{secretTok, nodeTok, plain} {
		if _, err := a.AuthenticateToken(context.Background(), tok); err != nil {
			t.Errorf("valid token refused: %v", err)
		}
	}

	longAgo := metav1.NewTime(now.Add(-2 * time.Minute))
	justNow := metav1.NewTime(now.Add(-10 * time.Second))
	for _, tc := range []struct {
		name   string
		token  string
		change func(fakeObjects)
		ok     bool
	}{
		{"account deleted", plain, func(f fakeObjects) { delete(f, "sa/ns/app") }, false},
		{"account recreated", plain, func(f fakeObjects) { f["sa/ns/app"] = &corev1.ServiceAccount{ObjectMeta: meta("app", "sa2")} }, false},
		{"pod deleted", podTok, func(f fakeObjects) { delete(f, "pod/ns/web") }, false},
		{"pod recreated", podTok, func(f fakeObjects) { f["pod/ns/web"] = &corev1.Pod{ObjectMeta: meta("web", "pod2")} }, false},
		{"pod terminating long", podTok, func(f fakeObjects) { f["pod/ns/web"].SetDeletionTimestamp(&longAgo) }, false},
		{"pod terminating now", podTok, func(f fakeObjects) { f["pod/ns/web"].SetDeletionTimestamp(&justNow) }, true},
		{"pod's node gone", podTok, func(f fakeObjects) { delete(f, "node//n1") }, true},
		{"secret deleted", secretTok, func(f fakeObjects) { delete(f, "secret/ns/s") }, false},
		{"secret recreated", secretTok, func(f fakeObjects) { f["secret/ns/s"] = &corev1.Secret{ObjectMeta: meta("s", "sec2")} }, false},
		{"node deleted", nodeTok, func(f fakeObjects) { delete(f, "node//n1") }, false},
		{"node recreated", nodeTok, func(f fakeObjects) {
			f["node//n1"] = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "node2"}}
		}, false},
	} {
		objs := fresh()
		tc.change(objs)
		a := &Authenticator{Verifier: signer, Objects: objs, Now: func() time.Time { return now }}
		_, err := a.AuthenticateToken(context.Background(), tc.token)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestAuthenticateLegacyTokens(t *testing.T) {
	signer, err := serviceaccount.LoadOrCreate(filepath.Join(t.TempDir(), "sa.key"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := signer.IssueLegacy("ns", "app", "sa1", "app-token")
	if err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: meta("app-token", "sec1"), Type: corev1.SecretTypeServiceAccountToken, Data: map[string][]byte{"token": []byte(tok)}}
	objs := fakeObjects{"sa/ns/app": &corev1.ServiceAccount{ObjectMeta: meta("app", "sa1")}, "secret/ns/app-token": secret}
	a := &Authenticator{Verifier: signer, Objects: objs}
	u, err := a.AuthenticateToken(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if u.GetName() != "system:serviceaccount:ns:app" {
		t.Errorf("user %s", u.GetName())
	}
	// A cache holding the Secret from before the token was filled in:
	// the API's copy decides.
	objs["secret/ns/app-token"] = &corev1.Secret{ObjectMeta: meta("app-token", "sec1"), Type: corev1.SecretTypeServiceAccountToken}
	objs["fresh-secret/ns/app-token"] = secret
	if _, err := a.AuthenticateToken(context.Background(), tok); err != nil {
		t.Errorf("token refused for a lagging cache: %v", err)
	}
	delete(objs, "fresh-secret/ns/app-token")
	objs["secret/ns/app-token"] = secret
	secret.Data["token"] = []byte("something else")
	if _, err := a.AuthenticateToken(context.Background(), tok); err == nil {
		t.Error("token no longer in its secret accepted")
	}
	delete(objs, "secret/ns/app-token")
	if _, err := a.AuthenticateToken(context.Background(), tok); err == nil {
		t.Error("token of a deleted secret accepted")
	}
}
