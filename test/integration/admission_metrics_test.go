package integration

import (
	"context"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// TestAdmissionAndAuthorizationMetrics: /metrics counts each phase of the
// admission chain and each plugin's part of it under upstream's series,
// by operation and refusal, and each authorization decision, allowed or
// denied.
func TestAdmissionAndAuthorizationMetrics(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	counts := func() map[string]float64 {
		t.Helper()
		body, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, line := range strings.Split(string(body), "\n") {
			name, value, ok := strings.Cut(line, " ")
			if !ok || !strings.Contains(name, "_count{") {
				continue
			}
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			out[name] = v
		}
		return out
	}
	const (
		admitCreate    = `apiserver_admission_step_admission_duration_seconds_count{operation="CREATE",rejected="false",type="admit"}`
		validateCreate = `apiserver_admission_step_admission_duration_seconds_count{operation="CREATE",rejected="false",type="validate"}`
		admitRefused   = `apiserver_admission_step_admission_duration_seconds_count{operation="CREATE",rejected="true",type="admit"}`
		lifecycle      = `apiserver_admission_controller_admission_duration_seconds_count{name="NamespaceLifecycle",operation="CREATE",rejected="true",type="admit"}`
		quota          = `apiserver_admission_controller_admission_duration_seconds_count{name="ResourceQuota",operation="CREATE",rejected="false",type="validate"}`
		allowed        = `flotilla_apiserver_authorization_duration_seconds_count{decision="allowed"}`
		denied         = `flotilla_apiserver_authorization_duration_seconds_count{decision="denied"}`
	)
	before := counts()
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "counted"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// NamespaceLifecycle refuses a write into a namespace that does not
	// exist, in the mutating phase.
	if _, err := cs.CoreV1().ConfigMaps("missing").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "refused"}}, metav1.CreateOptions{}); err == nil {
		t.Fatal("a ConfigMap was created in a missing namespace")
	}
	cfg := srv.RESTConfig()
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "nobody"}
	_, err := clientFor(t, cfg).CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
	wantForbidden(t, "an unbound user listing Secrets", err, `secrets is forbidden: User "nobody" cannot list resource "secrets" in API group "" in the namespace "default"`)
	after := counts()
	// The server's own controllers write and are authorized meanwhile, so
	// each count must have grown by at least what this test caused.
	for series, least := range map[string]float64{admitCreate: 1, validateCreate: 1, admitRefused: 1, lifecycle: 1, quota: 1, allowed: 4, denied: 1} {
		if got := after[series] - before[series]; got < least {
			t.Errorf("%s grew by %v, want at least %v", series, got, least)
		}
	}
}
