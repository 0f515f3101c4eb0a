package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
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

var (
	authzRounds = flag.Int("authz-rounds", 20, "rounds of the authorization benchmark; each sends every case a burst of requests, in turn")
	authzScale  = flag.Int("authz-creates", 20000, "ConfigMaps each case of the authorization benchmark creates, over all rounds (and five times as many GETs)")
)

// authzCase is one way of sending the same requests: a server, a user
// and a namespace, with what each round measured.
type authzCase struct {
	label string
	srv   *server
	cs    kubernetes.Interface
	ns    string
	// Per burst: the create rate, the GET percentiles and the server's
	// CPU time per request (µs).
	rates, getP50s, getP99s []float64
	createCosts, getCosts   []float64
	// admin reads the server's /metrics; creating and getting are what
	// the server's own clocks measured over all bursts.
	admin             kubernetes.Interface
	creating, getting serverTimes
}

// Each figure is the median over the bursts. Now and then a burst pays
// for something rare that all requests cause alike (an etcd snapshot, a
// remap of its growing database file, a slow disk flush), which the
// median leaves out.
func (c *authzCase) createRate() float64 { return median(c.rates) }
func (c *authzCase) createCost() float64 { return median(c.createCosts) }
func (c *authzCase) getCost() float64    { return median(c.getCosts) }
func (c *authzCase) getP50() time.Duration {
	return time.Duration(median(c.getP50s))
}
func (c *authzCase) getP99() time.Duration {
	return time.Duration(median(c.getP99s))
}

// benchAuthz measures what authorization and admission cost a request,
// as issue 12 asks: ConfigMap creates/s and GET latency by a user whom
// RBAC authorizes, in a namespace holding `roles` Roles and RoleBindings
// (all but one of other users), on a server running the whole admission
// chain, against the same requests on a server without them: no
// admission plugin (--disable-admission-plugins) and a system:masters
// user, whom the authorizer allows before it consults RBAC and whom the
// in-flight limits exempt. Two cases in between split the cost:
// system:masters with the chain on, and the RBAC user in a namespace
// holding only its own Role and RoleBinding.
//
// Both servers run side by side. On two cores the client and the
// servers share the CPU, and one burst of a thousand requests costs 10
// to 20 % more or less than the next identical one (garbage collection
// cycles, etcd's disk writes): more than the cost to be measured. So the
// requests are sent in many rounds; each round gives every case one
// burst, in turn (the order rotates); and each figure is the median over
// a case's bursts. The server's CPU time per request (its process's
// utime+stime, embedded etcd included) is the steadiest of them:
// throughput on a saturated machine is about its inverse. Steadier still
// are the server's own clocks, its /metrics series of authorization and
// admission time, which time those steps inside each request.
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
		{label: "no admission, system:masters", srv: bare, cs: userClient(bare, bareDir, "bench-admin", "system:masters"), ns: mastersNS, admin: bareAdmin},
		{label: "admission, system:masters", srv: full, cs: userClient(full, fullDir, "bench-admin", "system:masters"), ns: mastersNS, admin: admin},
		{label: "admission + RBAC user, 1 Role + 1 RoleBinding", srv: full, cs: user, ns: smallNS, admin: admin},
		{label: "admission + RBAC user, " + label, srv: full, cs: user, ns: rbacNS, admin: admin},
	}
	// A warm-up of each, so none pays for connections and caches.
	for _, c := range cases {
		createConfigMapsIn(ctx, c.cs, c.ns, "warm", 200, 32)
	}
	perRound, getsPerRound := creates/rounds, gets/rounds
	for r := range rounds {
		prefix := "bench" + strconv.Itoa(r)
		for i := range cases {
			c := cases[(r+i)%len(cases)]
			cpu := quiet(full, bare, c.srv)
			t0 := readServerTimes(ctx, c.admin, "POST")
			l := createConfigMapsIn(ctx, c.cs, c.ns, prefix, perRound, 32)
			c.createCosts = append(c.createCosts, perRequest(quiet(c.srv)-cpu, perRound))
			c.creating.add(readServerTimes(ctx, c.admin, "POST"), t0)
			c.rates = append(c.rates, l.rate)
		}
		for _, ns := range []string{rbacNS, smallNS} {
			createConfigMapsIn(ctx, bareAdmin, ns, prefix, perRound, 32)
		}
		for i := range cases {
			c := cases[(r+i)%len(cases)]
			cpu := quiet(full, bare, c.srv)
			t0 := readServerTimes(ctx, c.admin, "GET")
			g := getConfigMapsIn(ctx, c.cs, c.ns, prefix, perRound, getsPerRound, 32)
			c.getCosts = append(c.getCosts, perRequest(quiet(c.srv)-cpu, getsPerRound))
			c.getting.add(readServerTimes(ctx, c.admin, "GET"), t0)
			c.getP50s, c.getP99s = append(c.getP50s, float64(g.p(50))), append(c.getP99s, float64(g.p(99)))
		}
	}

	for _, c := range cases {
		record(fmt.Sprintf("authz: ConfigMap creates @32, %s", c.label),
			fmt.Sprintf("%.0f/s, CPU %.0f µs/create", c.createRate(), c.createCost()), "")
	}
	for _, c := range cases {
		record("authz: GET @32 p50 / p99, "+c.label,
			fmt.Sprintf("%s / %s, CPU %.0f µs/GET", ms(c.getP50()), ms(c.getP99()), c.getCost()), "")
	}
	base, worst := cases[0], cases[len(cases)-1]
	pct := func(v, b float64) string { return fmt.Sprintf("%+.1f%%", 100*(v-b)/b) }
	record("authz: change with admission + RBAC ("+label+"), creates",
		"creates/s "+pct(worst.createRate(), base.createRate())+", CPU/create "+pct(worst.createCost(), base.createCost()), "cost < 5%")
	record("authz: change with admission + RBAC ("+label+"), GET",
		"p99 "+pct(float64(worst.getP99()), float64(base.getP99()))+", CPU/GET "+pct(worst.getCost(), base.getCost()), "cost < 5%")
	// Two pairs of cases do the same work: a GET passes no admission
	// plugin, so the two system:masters cases differ there only by
	// server; and a decision costs the same with 1 and with 1000 Roles
	// (the row after). Their differences show how much of the rows above
	// is noise.
	masters, small := cases[1], cases[2]
	record("authz: noise gauge, CPU/GET: the two system:masters cases; 1 Role against "+label,
		pct(masters.getCost(), base.getCost())+"; "+pct(worst.getCost(), small.getCost()), "")
	// The server's own clocks (its /metrics) time authorization and
	// admission inside each request: far steadier than the differences
	// above, since each request is timed alone.
	for _, c := range []*authzCase{base, worst} {
		cr, g := c.creating, c.getting
		record("authz: in the server, "+c.label,
			fmt.Sprintf("create %.0f µs: authorization %.1f µs + admission %.1f µs (%.1f%%); GET %.0f µs: authorization %.1f µs (%.1f%%)",
				cr.perRequest(), cr.perDecision(), cr.perAdmission(), 100*(cr.perDecision()+cr.perAdmission())/cr.perRequest(),
				g.perRequest(), g.perDecision(), 100*g.perDecision()/g.perRequest()), "")
	}
	var parts []string
	for _, p := range slices.Sorted(maps.Keys(worst.creating.plugins)) {
		if us := 1e6 * worst.creating.plugins[p] / worst.creating.requestsN; us >= 0.05 {
			parts = append(parts, fmt.Sprintf("%s %.1f", p, us))
		}
	}
	// ResourceQuota (upstream's plugin) hands every create to a worker
	// that checks one namespace's batch at a time: under 32 concurrent
	// creates in one namespace most of its time is that wait, not work.
	record("authz: in the server, admission of a create by plugin (µs), "+worst.label, strings.Join(parts, ", "), "")
	one, many := benchRBACDecision(roles)
	record("authz: one RBAC decision in process, 1 Role / "+label,
		fmt.Sprintf("%d ns / %d ns (%.2f%% of a create's, %.1f%% of a GET's server CPU)", one.Nanoseconds(), many.Nanoseconds(),
			100*many.Seconds()*1e6/worst.createCost(), 100*many.Seconds()*1e6/worst.getCost()), "")
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
// system, all threads; embedded etcd included).
func (s *server) cpu() time.Duration { return cpuTime(s.cmd.Process.Pid) }

// serverTimes are sums of a server's /metrics histograms: the time
// (seconds) and number of its resource requests of one HTTP method, of
// its authorization decisions and of its admission phases.
type serverTimes struct {
	requests, requestsN, authz, authzN, admission float64
	// plugins are each admission plugin's part of admission.
	plugins map[string]float64
}

// readServerTimes scrapes admin's server. Its own requests (controllers)
// count too: few next to a burst's thousands.
func readServerTimes(ctx context.Context, admin kubernetes.Interface, method string) serverTimes {
	body, err := admin.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	check(err)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	check(err)
	label := func(m *dto.Metric, name string) string {
		for _, l := range m.GetLabel() {
			if l.GetName() == name {
				return l.GetValue()
			}
		}
		return ""
	}
	verb := map[string]string{"GET": "get", "POST": "create"}[method]
	t := serverTimes{plugins: map[string]float64{}}
	for _, m := range fams["apiserver_request_duration_seconds"].GetMetric() {
		if label(m, "verb") == verb {
			t.requests += m.GetHistogram().GetSampleSum()
			t.requestsN += float64(m.GetHistogram().GetSampleCount())
		}
	}
	for _, m := range fams["flotilla_apiserver_authorization_duration_seconds"].GetMetric() {
		t.authz += m.GetHistogram().GetSampleSum()
		t.authzN += float64(m.GetHistogram().GetSampleCount())
	}
	if method == "POST" {
		for _, m := range fams["apiserver_admission_step_admission_duration_seconds"].GetMetric() {
			t.admission += m.GetHistogram().GetSampleSum()
		}
		for _, m := range fams["apiserver_admission_controller_admission_duration_seconds"].GetMetric() {
			t.plugins[label(m, "name")] += m.GetHistogram().GetSampleSum()
		}
	}
	return t
}

// add adds what happened between before and after.
func (t *serverTimes) add(after, before serverTimes) {
	t.requests += after.requests - before.requests
	t.requestsN += after.requestsN - before.requestsN
	t.authz += after.authz - before.authz
	t.authzN += after.authzN - before.authzN
	t.admission += after.admission - before.admission
	if t.plugins == nil {
		t.plugins = map[string]float64{}
	}
	for p, v := range after.plugins {
		t.plugins[p] += v - before.plugins[p]
	}
}

// perRequest, perDecision and perAdmission are means in µs; admission
// per request of the method.
func (t serverTimes) perRequest() float64   { return 1e6 * t.requests / t.requestsN }
func (t serverTimes) perDecision() float64  { return 1e6 * t.authz / t.authzN }
func (t serverTimes) perAdmission() float64 { return 1e6 * t.admission / t.requestsN }

// quiet waits until every server in servers is idle, and returns the
// CPU time the last one has used by then. A burst of requests leaves work
// behind it (etcd's commits, the watch events the server's own
// controllers handle), which is to count towards that burst, not towards
// whatever is measured next. Idle is at most one clock tick in 200 ms:
// an idle server's own housekeeping.
func quiet(servers ...*server) time.Duration {
	for _, s := range servers {
		for before := s.cpu(); ; {
			time.Sleep(200 * time.Millisecond)
			now := s.cpu()
			if now-before <= 10*time.Millisecond {
				break
			}
			before = now
		}
	}
	return servers[len(servers)-1].cpu()
}

// perRequest is d spread over n requests, in microseconds.
func perRequest(d time.Duration, n int) float64 { return float64(d.Microseconds()) / float64(n) }

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

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
