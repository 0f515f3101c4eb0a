package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/flotilla-io/flotilla/pkg/pki"
)

// benchAuthz measures what authorization costs a request: ConfigMap
// creates/s and GET latency for a user whom RBAC authorizes, in a
// namespace holding 1000 Roles and 1000 RoleBindings (all of other users
// but one), against the same requests by a system:masters user, whom the
// authorizer allows before consulting RBAC. Both run on one server with
// the same objects stored. system:masters is also exempt from API
// Priority and Fairness, so the same user is measured in a namespace
// holding only its own Role and RoleBinding too: the difference between
// those two rows is what the 1000 roles cost.
func benchAuthz(bin string, roles, creates int) {
	dir, err := os.MkdirTemp("", "flotilla-bench-authz-")
	check(err)
	defer os.RemoveAll(dir)
	srv := start(bin, dir, "--disable-agent", "--disable-controllers=scheduler")
	defer srv.stop()
	ctx := context.Background()
	admin := srv.client()
	const rbacNS, smallNS, mastersNS = "authz-rbac", "authz-small", "authz-masters"
	for _, ns := range []string{rbacNS, smallNS, mastersNS} {
		_, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		check(err)
	}
	// roles Roles and RoleBindings in the user's namespace; the last one
	// is the user's.
	parallel(roles, 16, func(i int) time.Duration {
		name, subject := fmt.Sprintf("role-%d", i), fmt.Sprintf("user-%d", i)
		if i == roles-1 {
			subject = "bench-user"
		}
		_, err := admin.RbacV1().Roles(rbacNS).Create(ctx, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get", "list", "create"}, APIGroups: []string{""}, Resources: []string{"configmaps"}}},
		}, metav1.CreateOptions{})
		check(err)
		_, err = admin.RbacV1().RoleBindings(rbacNS).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: subject}},
		}, metav1.CreateOptions{})
		check(err)
		return 0
	})
	_, err = admin.RbacV1().Roles(smallNS).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "configmaps"},
		Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get", "list", "create"}, APIGroups: []string{""}, Resources: []string{"configmaps"}}},
	}, metav1.CreateOptions{})
	check(err)
	_, err = admin.RbacV1().RoleBindings(smallNS).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "configmaps"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "configmaps"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "bench-user"}},
	}, metav1.CreateOptions{})
	check(err)
	masters := userClient(srv, dir, "bench-admin", "system:masters")
	user := userClient(srv, dir, "bench-user")
	// The user's binding is the last one written: wait until the
	// authorizer's caches have it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := user.CoreV1().ConfigMaps(rbacNS).List(ctx, metav1.ListOptions{Limit: 1})
		if err == nil {
			_, err = user.CoreV1().ConfigMaps(smallNS).List(ctx, metav1.ListOptions{Limit: 1})
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			panic(fmt.Sprintf("bench-user never authorized: %v", err))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A short warm-up of both, so neither pays for connections and caches.
	createConfigMapsIn(ctx, masters, mastersNS, "warm", 200, 32)
	createConfigMapsIn(ctx, user, rbacNS, "warm", 200, 32)
	createConfigMapsIn(ctx, user, smallNS, "warm", 200, 32)

	m := createConfigMapsIn(ctx, masters, mastersNS, "bench", creates, 32)
	s := createConfigMapsIn(ctx, user, smallNS, "bench", creates, 32)
	u := createConfigMapsIn(ctx, user, rbacNS, "bench", creates, 32)
	mg := getConfigMapsIn(ctx, masters, mastersNS, creates, 2*creates, 32)
	sg := getConfigMapsIn(ctx, user, smallNS, creates, 2*creates, 32)
	ug := getConfigMapsIn(ctx, user, rbacNS, creates, 2*creates, 32)
	label := fmt.Sprintf("%d Roles + %d RoleBindings", roles, roles)
	record(fmt.Sprintf("authz: %d ConfigMap creates @32, system:masters", creates), fmt.Sprintf("%.0f/s", m.rate), "")
	record("authz: same, RBAC user (1 Role + 1 RoleBinding in its namespace)", fmt.Sprintf("%.0f/s (%+.1f%% vs masters)", s.rate, 100*(s.rate-m.rate)/m.rate), "")
	record(fmt.Sprintf("authz: same, RBAC user (%s)", label), fmt.Sprintf("%.0f/s (%+.1f%% vs 1 Role, %+.1f%% vs masters)", u.rate, 100*(u.rate-s.rate)/s.rate, 100*(u.rate-m.rate)/m.rate), "cost < 5%")
	record("authz: GET @32 p50 / p99, system:masters", ms(mg.p(50))+" / "+ms(mg.p(99)), "")
	record("authz: GET @32 p50 / p99, RBAC user, 1 Role", ms(sg.p(50))+" / "+ms(sg.p(99)), "")
	record(fmt.Sprintf("authz: GET @32 p50 / p99, RBAC user, %s", label), ms(ug.p(50))+" / "+ms(ug.p(99)), "cost < 5%")
}

// userClient is a client for user name in groups, with a certificate the
// cluster's CA (in the server's data dir) signs.
func userClient(srv *server, dir, name string, groups ...string) kubernetes.Interface {
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "tls"), "flotilla-ca")
	check(err)
	certPEM, keyPEM, err := ca.Issue(pki.LeafRequest{CommonName: name, Organization: groups})
	check(err)
	cs, err := kubernetes.NewForConfig(&rest.Config{
		Host:            srv.url,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM, CertData: certPEM, KeyData: keyPEM},
		QPS:             -1, Burst: 1000,
	})
	check(err)
	return cs
}

func createConfigMapsIn(ctx context.Context, cs kubernetes.Interface, ns, prefix string, n, workers int) *latencies {
	return parallel(n, workers, func(i int) time.Duration {
		t0 := time.Now()
		_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: prefix + "-" + strconv.Itoa(i)},
			Data:       map[string]string{"key": "value", "index": strconv.Itoa(i)},
		}, metav1.CreateOptions{})
		check(err)
		return time.Since(t0)
	})
}

func getConfigMapsIn(ctx context.Context, cs kubernetes.Interface, ns string, stored, n, workers int) *latencies {
	return parallel(n, workers, func(i int) time.Duration {
		t0 := time.Now()
		_, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "bench-"+strconv.Itoa(i%stored), metav1.GetOptions{})
		check(err)
		return time.Since(t0)
	})
}
