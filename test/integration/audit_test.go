package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/flotilla-io/flotilla/pkg/auditlog"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
# The server's own components and discovery are noise here.
- level: None
  users: ["system:flotilla-controller"]
- level: None
  nonResourceURLs: ["/api*", "/version", "/openapi*", "/healthz*", "/readyz*", "/livez*"]
- level: None
  userGroups: ["system:serviceaccounts"]
- level: Metadata
  resources: [{group: "", resources: ["secrets"]}]
  omitStages: ["RequestReceived"]
- level: RequestResponse
  resources: [{group: "", resources: ["configmaps"]}]
  namespaces: ["audited"]
- level: Request
  verbs: ["create", "delete"]
  resources: [{group: "", resources: ["serviceaccounts"]}]
- level: Metadata
`

func readAudit(t *testing.T, path string) []auditv1.Event {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var evs []auditv1.Event
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4<<20), 4<<20)
	for sc.Scan() {
		var ev auditv1.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("audit line is not an Event: %v: %s", err, sc.Text())
		}
		if ev.Kind != "Event" || ev.APIVersion != "audit.k8s.io/v1" {
			t.Fatalf("audit line kind %q apiVersion %q", ev.Kind, ev.APIVersion)
		}
		evs = append(evs, ev)
	}
	return evs
}

// waitAudit waits until an event matching match is in the log.
func waitAudit(t *testing.T, path string, what string, match func(auditv1.Event) bool) []auditv1.Event {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		evs := readAudit(t, path)
		for _, ev := range evs {
			if match(ev) {
				return evs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit event: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func eventsFor(evs []auditv1.Event, verb, resource, name string) []auditv1.Event {
	var out []auditv1.Event
	for _, ev := range evs {
		if ev.Verb == verb && ev.ObjectRef != nil && ev.ObjectRef.Resource == resource && ev.ObjectRef.Name == name {
			out = append(out, ev)
		}
	}
	return out
}

// TestAuditLogPolicy runs a server with an audit policy and checks the
// audit.k8s.io/v1 events: levels per resource and namespace, the bodies
// each level keeps (Secrets at Metadata never with their data), stages
// (RequestReceived omitted per rule, ResponseStarted for a watch), and
// rules by user and group.
func TestAuditLogPolicy(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	logPath := filepath.Join(dir, "audit.log")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := testserver.Start(t, testserver.Options{Audit: auditlog.Config{PolicyFile: policy, Path: logPath, MaxSize: 10, MaxBackups: 2}})
	kc, err := clientcmd.BuildConfigFromFlags("", srv.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(kc) // system:admin
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "audited"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := cs.CoreV1().ConfigMaps("audited").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	const cmValue, secretValue = "configmap-value-in-the-log", "secret-value-never-in-the-log-31337"
	if _, err := cs.CoreV1().ConfigMaps("audited").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}, Data: map[string]string{"k": cmValue}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Secrets("audited").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, StringData: map[string]string{"password": secretValue}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Secrets("audited").Get(ctx, "s", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	// A service account's requests are in a group the policy ignores.
	if _, err := cs.CoreV1().ServiceAccounts("audited").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "quiet"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts("audited").CreateToken(ctx, "quiet", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	saCS := kubernetes.NewForConfigOrDie(&rest.Config{Host: srv.URL, BearerToken: tr.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAData: kc.CAData}})
	_, _ = saCS.CoreV1().ConfigMaps("audited").Get(ctx, "cm", metav1.GetOptions{})
	// The last request: once its event is there, every earlier one is.
	_, _ = cs.CoreV1().ConfigMaps("audited").Get(ctx, "last", metav1.GetOptions{})
	evs := waitAudit(t, logPath, "get of configmap last", func(ev auditv1.Event) bool {
		return ev.Verb == "get" && ev.ObjectRef != nil && ev.ObjectRef.Name == "last" && ev.Stage == auditv1.StageResponseComplete
	})

	// ConfigMaps in "audited": RequestResponse, both stages, bodies.
	cm := eventsFor(evs, "create", "configmaps", "")
	if len(cm) != 2 || cm[0].Stage != auditv1.StageRequestReceived || cm[1].Stage != auditv1.StageResponseComplete || cm[0].AuditID != cm[1].AuditID {
		t.Fatalf("configmap create events: %+v", cm)
	}
	done := cm[1]
	if done.Level != auditv1.LevelRequestResponse || done.User.Username != "system:admin" || done.ObjectRef.Namespace != "audited" ||
		done.ResponseStatus == nil || done.ResponseStatus.Code != 201 ||
		done.RequestObject == nil || !strings.Contains(string(done.RequestObject.Raw), cmValue) ||
		done.ResponseObject == nil || !strings.Contains(string(done.ResponseObject.Raw), `"resourceVersion"`) {
		t.Fatalf("configmap create ResponseComplete: %+v", done)
	}
	// A 404 keeps upstream's status.
	last := eventsFor(evs, "get", "configmaps", "last")
	if st := last[len(last)-1].ResponseStatus; st == nil || st.Code != 404 || st.Reason != metav1.StatusReasonNotFound {
		t.Fatalf("404 responseStatus: %+v", st)
	}
	// Secrets: Metadata, RequestReceived omitted, never a body.
	for _, verb := range []string{"create", "get"} {
		name := "s"
		if verb == "create" {
			name = ""
		}
		s := eventsFor(evs, verb, "secrets", name)
		if len(s) != 1 || s[0].Stage != auditv1.StageResponseComplete || s[0].Level != auditv1.LevelMetadata || s[0].RequestObject != nil || s[0].ResponseObject != nil {
			t.Fatalf("secret %s events: %+v", verb, s)
		}
	}
	raw, _ := os.ReadFile(logPath)
	if bytes.Contains(raw, []byte(secretValue)) {
		t.Fatal("the secret's value is in the audit log")
	}
	// Service accounts: Request level keeps the request, not the response.
	sa := eventsFor(evs, "create", "serviceaccounts", "")
	if len(sa) != 2 || sa[1].Level != auditv1.LevelRequest || sa[1].RequestObject == nil || sa[1].ResponseObject != nil {
		t.Fatalf("serviceaccount create events: %+v", sa)
	}
	// The token subresource falls to the catch-all Metadata rule.
	if tok := eventsFor(evs, "create", "serviceaccounts", "quiet"); len(tok) == 0 || tok[0].ObjectRef.Subresource != "token" || tok[len(tok)-1].Level != auditv1.LevelMetadata {
		t.Fatalf("token request events: %+v", tok)
	}
	// The service account's own request: its group's rule says None.
	for _, ev := range evs {
		if strings.HasPrefix(ev.User.Username, "system:serviceaccount:") {
			t.Fatalf("request by a service account logged: %+v", ev)
		}
		if ev.User.Username == "system:flotilla-controller" {
			t.Fatalf("request by the controllers logged: %+v", ev)
		}
	}
	// The watch: ResponseStarted once it streams.
	waitAudit(t, logPath, "ResponseStarted of the configmap watch", func(ev auditv1.Event) bool {
		return ev.Verb == "watch" && ev.Stage == auditv1.StageResponseStarted && ev.ObjectRef != nil && ev.ObjectRef.Resource == "configmaps" && ev.ResponseStatus != nil && ev.ResponseStatus.Code == 200
	})
}
