package integration

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// The server's Node authorizer follows the pods the API holds: node A may
// read a Secret once a pod bound to it uses it, never the Secret only node
// B's pod uses, nor write node B; the access goes when the pod does.
func TestNodeAuthorizerFollowsPods(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{DisableControllers: []string{"scheduler"}})
	cs := srv.Clientset(t)
	ctx := context.Background()
	az := srv.NodeAuthorizer()
	nodeA := &user.DefaultInfo{Name: "system:node:authz-a", Groups: []string{"system:nodes", "system:authenticated"}}

	for _, name := range []string{"secret-a", "secret-b"} {
		if _, err := cs.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	podUsing := func(name, node, secret string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				NodeName:   node,
				Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
				Volumes:    []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}}},
			},
		}
	}
	for _, p := range []*corev1.Pod{podUsing("pod-a", "authz-a", "secret-a"), podUsing("pod-b", "authz-b", "secret-b")} {
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	decide := func(attrs authorizer.AttributesRecord) authorizer.Decision {
		attrs.User, attrs.ResourceRequest = nodeA, true
		d, _, err := az.Authorize(ctx, attrs)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	getSecret := func(name string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{Verb: "get", Resource: "secrets", Namespace: "default", Name: name}
	}
	waitFor := func(what string, attrs authorizer.AttributesRecord, want authorizer.Decision) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for decide(attrs) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: still not %v after 30s", what, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// The positive signal that the graph has seen both pods: pod-b's own
	// status is its node's, and node A's secret is node A's.
	waitFor("node A reads the Secret of its pod", getSecret("secret-a"), authorizer.DecisionAllow)
	nodeB := &user.DefaultInfo{Name: "system:node:authz-b", Groups: []string{"system:nodes"}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, _, _ := az.Authorize(ctx, authorizer.AttributesRecord{User: nodeB, ResourceRequest: true, Verb: "get", Resource: "secrets", Namespace: "default", Name: "secret-b"})
		if d == authorizer.DecisionAllow {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node B never got to read its pod's Secret")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, tc := range []struct {
		what  string
		attrs authorizer.AttributesRecord
	}{
		{"read the Secret of node B's pod", getSecret("secret-b")},
		{"watch the Secret of node B's pod by name", authorizer.AttributesRecord{Verb: "watch", Resource: "secrets", Namespace: "default"}},
		{"list Secrets", authorizer.AttributesRecord{Verb: "list", Resource: "secrets", Namespace: "default"}},
		{"update node B", authorizer.AttributesRecord{Verb: "update", Resource: "nodes", Name: "authz-b"}},
		{"patch node B's status", authorizer.AttributesRecord{Verb: "patch", Resource: "nodes", Subresource: "status", Name: "authz-b"}},
		{"update node B's pod status", authorizer.AttributesRecord{Verb: "update", Resource: "pods", Subresource: "status", Namespace: "default", Name: "pod-b"}},
		{"renew node B's lease", authorizer.AttributesRecord{Verb: "update", APIGroup: "coordination.k8s.io", Resource: "leases", Namespace: "kube-node-lease", Name: "authz-b"}},
	} {
		if d := decide(tc.attrs); d != authorizer.DecisionNoOpinion {
			t.Errorf("node A may %s: %v, want no opinion (RBAC grants nodes nothing)", tc.what, d)
		}
	}
	if d := decide(authorizer.AttributesRecord{Verb: "patch", Resource: "nodes", Subresource: "status", Name: "authz-a"}); d != authorizer.DecisionAllow {
		t.Errorf("node A may not patch its own status: %v", d)
	}
	// Once its pod is gone, node A loses the Secret.
	if err := cs.CoreV1().Pods("default").Delete(ctx, "pod-a", *metav1.NewDeleteOptions(0)); err != nil {
		t.Fatal(err)
	}
	waitFor("node A loses the Secret of its deleted pod", getSecret("secret-a"), authorizer.DecisionNoOpinion)
}
