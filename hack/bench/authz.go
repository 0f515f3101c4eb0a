package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/kubernetes"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/flotilla-io/flotilla/pkg/admission"
	"github.com/flotilla-io/flotilla/pkg/auth/bootstrappolicy"
	"github.com/flotilla-io/flotilla/pkg/auth/rbac"
	"github.com/flotilla-io/flotilla/pkg/pki"
)

var authzRounds = flag.Int("authz-rounds", 9, "rounds of the authorization benchmark; each measures every case once, in turn")

// authzCase is one way of sending the same requests: a server, a user
// and a namespace, with what each round measured.
type authzCase struct {
	label string
	srv   *server
	cs    kubernetes.Interface
	ns    string
	// Per round: create rate, server CPU per create and per GET, GET
	// percentiles.
	rate, createCPU, getCPU []float64
	getP50, getP99          []time.Duration
}

// benchAuthz measures what authorization and admission cost a request,
// as issue 12 asks: ConfigMap creates/s and GET latency by a user whom
// RBAC authorizes, in a namespace holding `roles` Roles and RoleBindings
// (all but one of other users), on a server running the whole admission
// chain, against the same requests on a server without them: no
// admission plugin (--disable-admission-plugins) and a system:masters
// user, whom the authorizer allows before it consults RBAC and whom API
// Priority and Fairness exempts. Two cases in between split the cost:
// system:masters with the chain on, and the RBAC user in a namespace
// holding only its own Role and RoleBinding.
//
// Both servers run side by side. On two cores the client and the
// server share the CPU, and one run's figures move by 10 to 30 % from
// run to run, more than the cost measured. So every round measures each
// case once, in turn (the order rotates), and the table gives each
// figure's median over the rounds. The server's CPU time per request
// (its process's utime+stime, embedded etcd included) is the steadiest
// figure: throughput on a saturated machine is about its inverse.
func benchAuthz(bin string, roles, creates, rounds int) {
	ctx := context.Background()
	fullDir, err := os.MkdirTemp("", "flotilla-bench-authz-")
	check(err)
	defer os.RemoveAll(fullDir)
	bareDir, err := os.MkdirTemp("", "flotilla-bench-bare-")
	check(err)
	defer os.RemoveAll(bareDir)
	full := start(bin, fullDir, "--disable-agent", "--disable-controllers=scheduler")
	defer full.stop()
	bare := start(bin, bareDir, "--disable-agent", "--disable-controllers=scheduler",
		"--disable-admission-plugins="+strings.Join(admission.Names(), ","))
	defer bare.stop()

	const rbacNS, smallNS, mastersNS = "authz-rbac", "authz-small", "authz-masters"
	gets := 5 * creates
	// The servers are to differ only in what is measured, so the bare
	// one stores the same namespaces, Roles and, each round, as many
	// ConfigMaps.
	admin, bareAdmin := full.client(), bare.client()
	for _, cs := range []kubernetes.Interface{admin, bareAdmin} {
		for _, ns := range []string{rbacNS, smallNS, mastersNS} {
			_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
			check(err)
		}
	}
	// roles Roles and RoleBindings in the user's namespace; the last one
	// is the user's.
	for _, cs := range []kubernetes.Interface{admin, bareAdmin} {
		parallel(roles, 16, func(i int) time.Duration {
			subject := fmt.Sprintf("user-%d", i)
			if i == roles-1 {
				subject = "bench-user"
			}
			createRoleFor(ctx, cs, rbacNS, fmt.Sprintf("role-%d", i), subject)
			return 0
		})
	}
	createRoleFor(ctx, admin, smallNS, "configmaps", "bench-user")
	user := userClient(full, fullDir, "bench-user")
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
	label := fmt.Sprintf("%d Roles + %d RoleBindings", roles, roles)
	cases := []*authzCase{
		{label: "no admission, system:masters", srv: bare, cs: userClient(bare, bareDir, "bench-admin", "system:masters"), ns: mastersNS},
		{label: "admission, system:masters", srv: full, cs: userClient(full, fullDir, "bench-admin", "system:masters"), ns: mastersNS},
		{label: "admission + RBAC user, 1 Role + 1 RoleBinding", srv: full, cs: user, ns: smallNS},
		{label: "admission + RBAC user, " + label, srv: full, cs: user, ns: rbacNS},
	}
	// A warm-up of each, so none pays for connections and caches.
	for _, c := range cases {
		createConfigMapsIn(ctx, c.cs, c.ns, "warm", 200, 32)
	}
	for r := range rounds {
		prefix := "bench" + strconv.Itoa(r)
		for i := range cases {
			c := cases[(r+i)%len(cases)]
			cpu := c.srv.cpu()
			l := createConfigMapsIn(ctx, c.cs, c.ns, prefix, creates, 32)
			c.createCPU = append(c.createCPU, perRequest(c.srv.cpu()-cpu, creates))
			c.rate = append(c.rate, l.rate)
		}
		for _, ns := range []string{rbacNS, smallNS} {
			createConfigMapsIn(ctx, bareAdmin, ns, prefix, creates, 32)
		}
		for i := range cases {
			c := cases[(r+i)%len(cases)]
			cpu := c.srv.cpu()
			g := getConfigMapsIn(ctx, c.cs, c.ns, prefix, creates, gets, 32)
			c.getCPU = append(c.getCPU, perRequest(c.srv.cpu()-cpu, gets))
			c.getP50, c.getP99 = append(c.getP50, g.p(50)), append(c.getP99, g.p(99))
		}
	}

	span := func(v []float64, unit string) string {
		return fmt.Sprintf("%.0f%s (%.0f–%.0f)", median(v), unit, slices.Min(v), slices.Max(v))
	}
	for _, c := range cases {
		record(fmt.Sprintf("authz: %d ConfigMap creates @32, %s", creates, c.label),
			span(c.rate, "/s")+", CPU "+span(c.createCPU, " µs")+"/create", "")
	}
	for _, c := range cases {
		record("authz: GET @32 p50 / p99, "+c.label,
			ms(medianDuration(c.getP50))+" / "+ms(medianDuration(c.getP99))+", CPU "+span(c.getCPU, " µs")+"/GET", "")
	}
	// The cost is taken round by round (the same round's figures of the
	// two cases, measured seconds apart), then its median: that cancels
	// most of the drift of the machine's load between rounds.
	base, worst := cases[0], cases[len(cases)-1]
	paired := func(v, b []float64) string {
		d := make([]float64, len(v))
		for i := range v {
			d[i] = 100 * (v[i] - b[i]) / b[i]
		}
		return fmt.Sprintf("%+.1f%% (%+.1f to %+.1f)", median(d), slices.Min(d), slices.Max(d))
	}
	seconds := func(v []time.Duration) []float64 {
		out := make([]float64, len(v))
		for i, d := range v {
			out[i] = d.Seconds()
		}
		return out
	}
	record("authz: change with admission + RBAC ("+label+"), creates",
		"creates/s "+paired(worst.rate, base.rate)+", CPU/create "+paired(worst.createCPU, base.createCPU), "cost < 5%")
	record("authz: change with admission + RBAC ("+label+"), GET",
		"p99 "+paired(seconds(worst.getP99), seconds(base.getP99))+", CPU/GET "+paired(worst.getCPU, base.getCPU), "cost < 5%")
	one, many := benchRBACDecision(roles)
	record("authz: one RBAC decision in process, 1 Role / "+label,
		fmt.Sprintf("%d ns / %d ns (%.2f%% of a create's server CPU)", one.Nanoseconds(), many.Nanoseconds(), 100*many.Seconds()*1e6/median(worst.createCPU)), "")
	fmt.Fprintf(os.Stderr, "  (medians of %d rounds; ranges in brackets; %d GETs per case and round)\n", rounds, gets)
}

// createRoleFor writes a Role allowing get, list and create of
// ConfigMaps in ns and binds it to user, both named name.
func createRoleFor(ctx context.Context, admin kubernetes.Interface, ns, name, user string) {
	_, err := admin.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get", "list", "create"}, APIGroups: []string{""}, Resources: []string{"configmaps"}}},
	}, metav1.CreateOptions{})
	check(err)
	_, err = admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}, metav1.CreateOptions{})
	check(err)
}

// cpu is the CPU time the server's process has used so far (user and
// system, all threads), from /proc/PID/stat in clock ticks of 10 ms.
func (s *server) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	check(err)
	// The command name (field 2) may hold spaces: count from its ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	utime, err := strconv.ParseInt(f[11], 10, 64) // field 14
	check(err)
	stime, err := strconv.ParseInt(f[12], 10, 64) // field 15
	check(err)
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return time.Duration(utime+stime) * tick
}

// perRequest is d spread over n requests, in microseconds.
func perRequest(d time.Duration, n int) float64 { return float64(d.Microseconds()) / float64(n) }

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianDuration(v []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
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

func getConfigMapsIn(ctx context.Context, cs kubernetes.Interface, ns, prefix string, stored, n, workers int) *latencies {
	return parallel(n, workers, func(i int) time.Duration {
		t0 := time.Now()
		_, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, prefix+"-"+strconv.Itoa(i%stored), metav1.GetOptions{})
		check(err)
		return time.Since(t0)
	})
}

// benchRBACDecision times one decision of the RBAC evaluator in this
// process, on informer-style caches holding the default policy plus, in
// the user's namespace, `roles` Roles and RoleBindings of which one is
// the user's, against the same with only the user's: the end-to-end
// figures cannot show a cost this small through their noise.
func benchRBACDecision(roles int) (one, many time.Duration) {
	decide := func(n int) time.Duration {
		idx := func() cache.Indexer {
			return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
		}
		rolesIdx, clusterRolesIdx := idx(), idx()
		bindings := cache.NewIndexer(cache.MetaNamespaceKeyFunc, rbac.BindingIndexers())
		clusterBindings := cache.NewIndexer(cache.MetaNamespaceKeyFunc, rbac.BindingIndexers())
		for _, r := range bootstrappolicy.ClusterRoles() {
			check(clusterRolesIdx.Add(&r))
		}
		for _, b := range bootstrappolicy.ClusterRoleBindings() {
			check(clusterBindings.Add(&b))
		}
		for i := range n {
			name, subject := fmt.Sprintf("role-%d", i), fmt.Sprintf("user-%d", i)
			if i == n-1 {
				subject = "bench-user"
			}
			check(rolesIdx.Add(&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
				Rules: []rbacv1.PolicyRule{{Verbs: []string{"get", "list", "create"}, APIGroups: []string{""}, Resources: []string{"configmaps"}}}}))
			check(bindings.Add(&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: subject}}}))
		}
		ev := rbac.New(rbac.NewIndexedPolicy(rbaclisters.NewRoleLister(rolesIdx), rbaclisters.NewClusterRoleLister(clusterRolesIdx), bindings, clusterBindings))
		attrs := authorizer.AttributesRecord{
			User: &user.DefaultInfo{Name: "bench-user", Groups: []string{user.AllAuthenticated}},
			Verb: "create", Namespace: "ns", Resource: "configmaps", ResourceRequest: true,
		}
		const calls = 200000
		t0 := time.Now()
		for range calls {
			if d, _, err := ev.Authorize(context.Background(), attrs); d != authorizer.DecisionAllow || err != nil {
				panic(fmt.Sprintf("RBAC decision %v, %v; want allowed", d, err))
			}
		}
		return time.Since(t0) / calls
	}
	return decide(1), decide(roles)
}
