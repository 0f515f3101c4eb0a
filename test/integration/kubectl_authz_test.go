package integration

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

const kubectlBin = "/usr/bin/kubectl"

// kubectlResult is one run of the stock kubectl.
type kubectlResult struct {
	stdout, stderr string
	code           int
}

func (r kubectlResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runKubectl runs kubectl with kubeconfig (a user's) and args.
func runKubectl(t *testing.T, kubeconfig string, args ...string) kubectlResult {
	t.Helper()
	cmd := exec.Command(kubectlBin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := kubectlResult{stdout: out.String(), stderr: errb.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("kubectl %v: %v (the stock kubectl is needed at %s)", args, err, kubectlBin)
	}
	return r
}

// mustKubectl runs kubectl and fails the test unless it succeeds.
func mustKubectl(t *testing.T, kubeconfig string, args ...string) string {
	t.Helper()
	r := runKubectl(t, kubeconfig, args...)
	if r.code != 0 {
		t.Fatalf("kubectl %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// userKubeconfig writes a kubeconfig for user name in groups (a client
// certificate of the cluster CA), as an admin hands one to a teammate.
func userKubeconfig(t *testing.T, in *testserver.Instance, name string, groups ...string) string {
	t.Helper()
	cfg := in.UserConfig(t, name, groups...)
	kc := clientcmdapi.NewConfig()
	kc.Clusters["flotilla"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: "flotilla", AuthInfo: name}
	kc.CurrentContext = name
	path := filepath.Join(t.TempDir(), name+".kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// squash folds runs of blanks so kubectl's column padding does not
// matter to a comparison.
func squash(s string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(lines, "\n")
}

// The kubectl user matrix of issue 12: users bound to view, edit and
// admin in a namespace and one bound to nothing run the same kubectl
// commands; each is allowed or refused as upstream's roles decide, and a
// refusal prints upstream's exact message (as kubectl wraps it: create
// deployment and create rolebinding prefix "error: failed to create ...",
// scale prefixes its failed read with "error: no objects passed to
// scale").
func TestKubectlUserMatrix(t *testing.T) {
	in := testserver.Start(t, testserver.Options{})
	const ns = "team"
	admin := in.Kubeconfig
	mustKubectl(t, admin, "create", "namespace", ns)
	testserver.Settled(t, in.Clientset(t), ns)
	users := map[string]string{"viewer": "view", "editor": "edit", "nsadmin": "admin", "nobody": ""}
	configs := map[string]string{}
	for u, role := range users {
		configs[u] = userKubeconfig(t, in, u)
		if role != "" {
			mustKubectl(t, admin, "create", "rolebinding", u+"-"+role, "-n", ns, "--clusterrole="+role, "--user="+u)
		}
	}
	mustKubectl(t, admin, "create", "secret", "generic", "db", "-n", ns, "--from-literal=password=s3cret")
	// The bindings are seen by the authorizer's caches within moments.
	for u, role := range users {
		if role == "" {
			continue
		}
		testserver.Eventually(t, 20*time.Second, u+" may list pods", func() (bool, string) {
			r := runKubectl(t, configs[u], "get", "pods", "-n", ns)
			return r.code == 0, r.String()
		})
	}

	forbidden := func(user, verb, resource, group, name string) string {
		what, scope := resource, `in the namespace "`+ns+`"`
		if group != "" {
			what += "." + group
		}
		if name != "" {
			what += ` "` + name + `"`
		}
		if resource == "nodes" {
			scope = "at the cluster scope"
		}
		res := resource
		if resource == "deployments" && verb == "patch" {
			res = "deployments/scale"
		}
		return fmt.Sprintf(`%s is forbidden: User %q cannot %s resource %q in API group %q %s`, what, user, verb, res, group, scope)
	}
	type row struct {
		name    string
		args    func(user string) []string
		allowed map[string]bool
		stderr  func(user string) string // for the refused
	}
	all := map[string]bool{"viewer": true, "editor": true, "nsadmin": true, "nobody": true}
	readers := map[string]bool{"viewer": true, "editor": true, "nsadmin": true}
	writers := map[string]bool{"editor": true, "nsadmin": true}
	admins := map[string]bool{"nsadmin": true}
	fixed := func(args ...string) func(string) []string { return func(string) []string { return args } }
	rows := []row{
		{"get pods", fixed("get", "pods", "-n", ns), readers,
			func(u string) string { return "Error from server (Forbidden): " + forbidden(u, "list", "pods", "", "") }},
		{"get secrets", fixed("get", "secrets", "-n", ns), writers,
			func(u string) string {
				return "Error from server (Forbidden): " + forbidden(u, "list", "secrets", "", "")
			}},
		{"get secret db", fixed("get", "secret", "db", "-n", ns), writers,
			func(u string) string {
				return "Error from server (Forbidden): " + forbidden(u, "get", "secrets", "", "db")
			}},
		{"create deployment", func(u string) []string {
			return []string{"create", "deployment", "new-" + u, "--image=registry.local/app:1", "-n", ns}
		}, writers,
			func(u string) string {
				return "error: failed to create deployment: " + forbidden(u, "create", "deployments", "apps", "")
			}},
		{"scale", fixed("scale", "deployment", "web", "--replicas=2", "-n", ns), writers,
			func(u string) string {
				if u == "nobody" { // kubectl reads the deployment first
					return "error: no objects passed to scale " + forbidden(u, "get", "deployments", "apps", "web")
				}
				return "Error from server (Forbidden): " + forbidden(u, "patch", "deployments", "apps", "web")
			}},
		{"delete", fixed("delete", "deployment", "web", "-n", ns), writers,
			func(u string) string {
				return "Error from server (Forbidden): " + forbidden(u, "delete", "deployments", "apps", "web")
			}},
		{"create role", func(u string) []string {
			return []string{"create", "role", "reader-" + u, "--verb=get", "--resource=pods", "-n", ns}
		}, admins,
			func(u string) string {
				return "Error from server (Forbidden): " + forbidden(u, "create", "roles", "rbac.authorization.k8s.io", "")
			}},
		{"create rolebinding", func(u string) []string {
			return []string{"create", "rolebinding", "rb-" + u, "--clusterrole=view", "--user=someone", "-n", ns}
		}, admins,
			func(u string) string {
				return "error: failed to create rolebinding: " + forbidden(u, "create", "rolebindings", "rbac.authorization.k8s.io", "")
			}},
		{"auth can-i --list", fixed("auth", "can-i", "--list", "-n", ns), all, nil},
		{"auth whoami", fixed("auth", "whoami"), all, nil},
		{"get nodes", fixed("get", "nodes"), nil,
			func(u string) string {
				return "Error from server (Forbidden): " + forbidden(u, "list", "nodes", "", "")
			}},
	}
	for _, u := range []string{"viewer", "editor", "nsadmin", "nobody"} {
		t.Run(u, func(t *testing.T) {
			// Each user finds the deployment "web" (an earlier user may
			// have deleted it).
			if r := runKubectl(t, admin, "get", "deployment", "web", "-n", ns); r.code != 0 {
				mustKubectl(t, admin, "create", "deployment", "web", "--image=registry.local/app:1", "-n", ns)
			}
			for _, row := range rows {
				args := row.args(u)
				r := runKubectl(t, configs[u], args...)
				if row.allowed[u] {
					if r.code != 0 {
						t.Errorf("%s: kubectl %s: want allowed, got %s", row.name, strings.Join(args, " "), r)
					}
					continue
				}
				if want := row.stderr(u); r.code == 0 || strings.TrimSpace(r.stderr) != want {
					t.Errorf("%s: kubectl %s:\n got  %s\n want exit 1, stderr %s", row.name, strings.Join(args, " "), r, want)
				}
			}
		})
	}

	t.Run("can-i --list shows each role's rules", func(t *testing.T) {
		rule := func(resource, verbs string) *regexp.Regexp {
			return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(resource) + `\s+\[\]\s+\[\]\s+\[` + regexp.QuoteMeta(verbs) + `\]$`)
		}
		for _, tc := range []struct {
			user      string
			has, lack []*regexp.Regexp
		}{
			{"viewer", []*regexp.Regexp{rule("pods", "get list watch"), rule("deployments.apps", "get list watch")}, []*regexp.Regexp{regexp.MustCompile(`(?m)^secrets\s`)}},
			{"editor", []*regexp.Regexp{rule("secrets", "get list watch create update patch delete deletecollection")}, []*regexp.Regexp{regexp.MustCompile(`(?m)^roles\.rbac`)}},
			{"nsadmin", []*regexp.Regexp{rule("rolebindings.rbac.authorization.k8s.io", "get list watch create update patch delete deletecollection")}, nil},
			{"nobody", []*regexp.Regexp{rule("selfsubjectreviews.authentication.k8s.io", "create"), rule("selfsubjectaccessreviews.authorization.k8s.io", "create")}, []*regexp.Regexp{regexp.MustCompile(`(?m)^pods\s`)}},
		} {
			out := mustKubectl(t, configs[tc.user], "auth", "can-i", "--list", "-n", ns)
			if !strings.HasPrefix(squash(out), "Resources Non-Resource URLs Resource Names Verbs\n") {
				t.Errorf("%s: can-i --list header:\n%s", tc.user, out)
			}
			for _, re := range tc.has {
				if !re.MatchString(out) {
					t.Errorf("%s: can-i --list lacks %s:\n%s", tc.user, re, out)
				}
			}
			for _, re := range tc.lack {
				if re.MatchString(out) {
					t.Errorf("%s: can-i --list has %s:\n%s", tc.user, re, out)
				}
			}
		}
	})

	t.Run("whoami", func(t *testing.T) {
		for _, u := range []string{"viewer", "nobody"} {
			got := squash(mustKubectl(t, configs[u], "auth", "whoami"))
			if want := "ATTRIBUTE VALUE\nUsername " + u + "\nGroups [system:authenticated]"; got != want {
				t.Errorf("whoami as %s:\n%s\nwant\n%s", u, got, want)
			}
		}
	})

	t.Run("can-i answers", func(t *testing.T) {
		for _, tc := range []struct {
			user, verb, resource, want string
		}{
			{"viewer", "list", "pods", "yes"}, {"viewer", "get", "secrets", "no"}, {"viewer", "create", "deployments", "no"},
			{"editor", "create", "deployments", "yes"}, {"editor", "create", "roles", "no"},
			{"nsadmin", "create", "rolebindings", "yes"}, {"nsadmin", "list", "nodes", "no"},
			{"nobody", "get", "pods", "no"},
		} {
			r := runKubectl(t, configs[tc.user], "auth", "can-i", tc.verb, tc.resource, "-n", ns)
			if strings.TrimSpace(r.stdout) != tc.want {
				t.Errorf("%s can-i %s %s: %s, want %s", tc.user, tc.verb, tc.resource, r, tc.want)
			}
		}
	})

	// A namespace admin may grant only what it holds: a Role or a binding
	// of a role beyond its own rules is refused with upstream's
	// escalation message, until it is let "bind" that role.
	t.Run("escalation and bind", func(t *testing.T) {
		r := runKubectl(t, configs["nsadmin"], "create", "role", "node-reader", "--verb=get", "--resource=nodes", "-n", ns)
		want := `Error from server (Forbidden): roles.rbac.authorization.k8s.io "node-reader" is forbidden: user "nsadmin" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:
{APIGroups:[""], Resources:["nodes"], Verbs:["get"]}`
		if r.code == 0 || strings.TrimSpace(r.stderr) != want {
			t.Errorf("admin creates a role beyond its rules:\n got  %s\n want %s", r, want)
		}
		r = runKubectl(t, configs["nsadmin"], "create", "rolebinding", "all-powerful", "--clusterrole=cluster-admin", "--user=someone", "-n", ns)
		want = `error: failed to create rolebinding: rolebindings.rbac.authorization.k8s.io "all-powerful" is forbidden: user "nsadmin" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:
{APIGroups:["*"], Resources:["*"], Verbs:["*"]}
{NonResourceURLs:["*"], Verbs:["*"]}`
		if r.code == 0 || strings.TrimSpace(r.stderr) != want {
			t.Errorf("admin binds cluster-admin:\n got  %s\n want %s", r, want)
		}
		// The cluster admin lets nsadmin bind cluster-admin in the namespace.
		mustKubectl(t, admin, "create", "role", "bind-cluster-admin", "--verb=bind", "--resource=clusterroles.rbac.authorization.k8s.io", "--resource-name=cluster-admin", "-n", ns)
		mustKubectl(t, admin, "create", "rolebinding", "nsadmin-bind", "--role=bind-cluster-admin", "--user=nsadmin", "-n", ns)
		testserver.Eventually(t, 20*time.Second, "nsadmin binds cluster-admin with bind", func() (bool, string) {
			r := runKubectl(t, configs["nsadmin"], "create", "rolebinding", "all-powerful", "--clusterrole=cluster-admin", "--user=someone", "-n", ns)
			return r.code == 0, r.String()
		})
	})
}

// kubectl create role|clusterrole|rolebinding|clusterrolebinding with
// their flags, and describe of each, print as upstream (describe breaks a
// rule naming several resources into one line per resource name).
func TestKubectlCreateDescribeRBAC(t *testing.T) {
	in := testserver.Start(t, testserver.Options{})
	const ns = "team"
	k := in.Kubeconfig
	mustKubectl(t, k, "create", "namespace", ns)
	testserver.Settled(t, in.Clientset(t), ns)
	mustKubectl(t, k, "create", "serviceaccount", "app", "-n", ns)
	mustKubectl(t, k, "create", "role", "pod-reader", "-n", ns, "--verb=get", "--verb=list", "--resource=pods", "--resource-name=web", "--resource-name=db")
	mustKubectl(t, k, "create", "clusterrole", "deploy-scaler", "--verb=get,update,patch", "--resource=deployments.apps/scale", "--resource=replicasets.apps")
	mustKubectl(t, k, "create", "rolebinding", "readers", "-n", ns, "--role=pod-reader", "--user=alice", "--group=devs", "--serviceaccount="+ns+":app")
	mustKubectl(t, k, "create", "clusterrolebinding", "scalers", "--clusterrole=deploy-scaler", "--user=bob", "--group=ops")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"describe", "role", "pod-reader", "-n", ns}, `Name: pod-reader
Labels: <none>
Annotations: <none>
PolicyRule:
Resources Non-Resource URLs Resource Names Verbs
--------- ----------------- -------------- -----
pods [] [db] [get list]
pods [] [web] [get list]`},
		{[]string{"describe", "clusterrole", "deploy-scaler"}, `Name: deploy-scaler
Labels: <none>
Annotations: <none>
PolicyRule:
Resources Non-Resource URLs Resource Names Verbs
--------- ----------------- -------------- -----
deployments.apps/scale [] [] [get update patch]
replicasets.apps [] [] [get update patch]`},
		{[]string{"describe", "rolebinding", "readers", "-n", ns}, `Name: readers
Labels: <none>
Annotations: <none>
Role:
Kind: Role
Name: pod-reader
Subjects:
Kind Name Namespace
---- ---- ---------
User alice
Group devs
ServiceAccount app team`},
		{[]string{"describe", "clusterrolebinding", "scalers"}, `Name: scalers
Labels: <none>
Annotations: <none>
Role:
Kind: ClusterRole
Name: deploy-scaler
Subjects:
Kind Name Namespace
---- ---- ---------
User bob
Group ops`},
	} {
		if got := squash(mustKubectl(t, k, tc.args...)); got != tc.want {
			t.Errorf("kubectl %s:\n%s\nwant\n%s", strings.Join(tc.args, " "), got, tc.want)
		}
	}
	// The objects hold what the flags said.
	got := mustKubectl(t, k, "get", "rolebinding", "readers", "-n", ns, "-o", `jsonpath={.roleRef.kind}/{.roleRef.name} {range .subjects[*]}{.kind}:{.apiGroup}:{.namespace}:{.name} {end}`)
	if want := "Role/pod-reader User:rbac.authorization.k8s.io::alice Group:rbac.authorization.k8s.io::devs ServiceAccount::team:app "; got != want {
		t.Errorf("rolebinding readers: %q, want %q", got, want)
	}
	// get prints upstream's columns.
	if got := squash(mustKubectl(t, k, "get", "rolebinding", "readers", "-n", ns, "-o", "wide")); !regexp.MustCompile(`^NAME ROLE AGE USERS GROUPS SERVICEACCOUNTS\nreaders Role/pod-reader \S+ alice devs team/app$`).MatchString(got) {
		t.Errorf("get rolebinding -o wide:\n%s", got)
	}
	if got := squash(mustKubectl(t, k, "get", "clusterrole", "deploy-scaler")); !regexp.MustCompile(`^NAME CREATED AT\ndeploy-scaler \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).MatchString(got) {
		t.Errorf("get clusterrole:\n%s", got)
	}
}
