package node

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

func testGraph() *Graph {
	g := NewGraph()
	g.SetPod(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a-pod"},
		Spec: corev1.PodSpec{
			NodeName: "node-a", ServiceAccountName: "sa-a",
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "pull-a"}},
			Volumes: []corev1.Volume{
				{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "secret-a"}}},
				{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm-a"}}}},
				{Name: "p", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "claim-a"}}},
				{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "proj-secret-a"}}},
				}}}},
			},
			Containers: []corev1.Container{{Name: "c", Env: []corev1.EnvVar{
				{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "env-secret-a"}, Key: "k"}}},
			}, EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "envfrom-cm-a"}}}}}},
		},
	})
	g.SetPod(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "b-pod"},
		Spec: corev1.PodSpec{NodeName: "node-b", Volumes: []corev1.Volume{
			{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "secret-b"}}},
		}, Containers: []corev1.Container{{Name: "c"}}},
	})
	g.SetPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "pending"}, Spec: corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "secret-pending"}}},
	}}})
	g.claimChanged(&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "claim-a"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-a"}})
	return g
}

func nodeUser(name string) user.Info {
	return &user.DefaultInfo{Name: "system:node:" + name, Groups: []string{"system:nodes", "system:authenticated"}}
}

func TestAuthorizer(t *testing.T) {
	az := New(testGraph())
	a := nodeUser("node-a")
	nameSel := func(name string) fields.Requirements {
		return fields.Requirements{{Operator: selection.Equals, Field: "metadata.name", Value: name}}
	}
	for _, tc := range []struct {
		name  string
		attrs authorizer.AttributesRecord
		want  authorizer.Decision
	}{
		{"list nodes", authorizer.AttributesRecord{Verb: "list", Resource: "nodes"}, authorizer.DecisionAllow},
		{"get other node", authorizer.AttributesRecord{Verb: "get", Resource: "nodes", Name: "node-b"}, authorizer.DecisionAllow},
		{"create a node (name checked by NodeRestriction)", authorizer.AttributesRecord{Verb: "create", Resource: "nodes"}, authorizer.DecisionAllow},
		{"create a lease (name checked by NodeRestriction)", authorizer.AttributesRecord{Verb: "create", APIGroup: "coordination.k8s.io", Resource: "leases", Namespace: "kube-node-lease"}, authorizer.DecisionAllow},
		{"create a lease elsewhere", authorizer.AttributesRecord{Verb: "create", APIGroup: "coordination.k8s.io", Resource: "leases", Namespace: "kube-system"}, authorizer.DecisionNoOpinion},
		{"create node status", authorizer.AttributesRecord{Verb: "create", Resource: "nodes", Subresource: "status"}, authorizer.DecisionNoOpinion},
		{"patch own node status", authorizer.AttributesRecord{Verb: "patch", Resource: "nodes", Subresource: "status", Name: "node-a"}, authorizer.DecisionAllow},
		{"update other node", authorizer.AttributesRecord{Verb: "update", Resource: "nodes", Name: "node-b"}, authorizer.DecisionNoOpinion},
		{"patch other node status", authorizer.AttributesRecord{Verb: "patch", Resource: "nodes", Subresource: "status", Name: "node-b"}, authorizer.DecisionNoOpinion},
		{"delete other node", authorizer.AttributesRecord{Verb: "delete", Resource: "nodes", Name: "node-b"}, authorizer.DecisionNoOpinion},
		{"own lease", authorizer.AttributesRecord{Verb: "update", APIGroup: "coordination.k8s.io", Resource: "leases", Namespace: "kube-node-lease", Name: "node-a"}, authorizer.DecisionAllow},
		{"other node's lease", authorizer.AttributesRecord{Verb: "update", APIGroup: "coordination.k8s.io", Resource: "leases", Namespace: "kube-node-lease", Name: "node-b"}, authorizer.DecisionNoOpinion},
		{"lease elsewhere", authorizer.AttributesRecord{Verb: "update", APIGroup: "coordination.k8s.io", Resource: "leases", Namespace: "kube-system", Name: "node-a"}, authorizer.DecisionNoOpinion},
		{"watch pods", authorizer.AttributesRecord{Verb: "watch", Resource: "pods"}, authorizer.DecisionAllow},
		{"own pod status", authorizer.AttributesRecord{Verb: "patch", Resource: "pods", Subresource: "status", Namespace: "ns", Name: "a-pod"}, authorizer.DecisionAllow},
		// Whose pod a write touches NodeRestriction checks against the
		// stored pod (the graph may lag behind a binding or a deletion).
		{"other node's pod status (NodeRestriction refuses)", authorizer.AttributesRecord{Verb: "patch", Resource: "pods", Subresource: "status", Namespace: "ns", Name: "b-pod"}, authorizer.DecisionAllow},
		{"delete own pod", authorizer.AttributesRecord{Verb: "delete", Resource: "pods", Namespace: "ns", Name: "a-pod"}, authorizer.DecisionAllow},
		{"delete other node's pod (NodeRestriction refuses)", authorizer.AttributesRecord{Verb: "delete", Resource: "pods", Namespace: "ns", Name: "b-pod"}, authorizer.DecisionAllow},
		{"update pod spec", authorizer.AttributesRecord{Verb: "update", Resource: "pods", Namespace: "ns", Name: "a-pod"}, authorizer.DecisionNoOpinion},
		{"exec", authorizer.AttributesRecord{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: "ns", Name: "a-pod"}, authorizer.DecisionNoOpinion},
		{"create event", authorizer.AttributesRecord{Verb: "create", Resource: "events", Namespace: "ns"}, authorizer.DecisionAllow},
		{"delete event", authorizer.AttributesRecord{Verb: "delete", Resource: "events", Namespace: "ns", Name: "e"}, authorizer.DecisionNoOpinion},
		{"get used secret", authorizer.AttributesRecord{Verb: "get", Resource: "secrets", Namespace: "ns", Name: "secret-a"}, authorizer.DecisionAllow},
		{"get pull secret", authorizer.AttributesRecord{Verb: "get", Resource: "secrets", Namespace: "ns", Name: "pull-a"}, authorizer.DecisionAllow},
		{"get projected secret", authorizer.AttributesRecord{Verb: "get", Resource: "secrets", Namespace: "ns", Name: "proj-secret-a"}, authorizer.DecisionAllow},
		{"get env secret", authorizer.AttributesRecord{Verb: "get", Resource: "secrets", Namespace: "ns", Name: "env-secret-a"}, authorizer.DecisionAllow},
		{"get other node's secret", authorizer.AttributesRecord{Verb: "get", Resource: "secrets", Namespace: "ns", Name: "secret-b"}, authorizer.DecisionNoOpinion},
		{"get unscheduled pod's secret", authorizer.AttributesRecord{Verb: "get", Resource: "secrets", Namespace: "ns", Name: "secret-pending"}, authorizer.DecisionNoOpinion},
		{"same name other namespace", authorizer.AttributesRecord{Verb: "get", Resource: "secrets", Namespace: "other", Name: "secret-a"}, authorizer.DecisionNoOpinion},
		{"list secrets", authorizer.AttributesRecord{Verb: "list", Resource: "secrets", Namespace: "ns"}, authorizer.DecisionNoOpinion},
		{"watch used secret by name", authorizer.AttributesRecord{Verb: "watch", Resource: "secrets", Namespace: "ns", FieldSelectorRequirements: nameSel("secret-a")}, authorizer.DecisionAllow},
		{"watch other secret by name", authorizer.AttributesRecord{Verb: "watch", Resource: "secrets", Namespace: "ns", FieldSelectorRequirements: nameSel("secret-b")}, authorizer.DecisionNoOpinion},
		{"watch TLS secrets", authorizer.AttributesRecord{Verb: "watch", Resource: "secrets", FieldSelectorRequirements: fields.Requirements{{Operator: selection.Equals, Field: "type", Value: "kubernetes.io/tls"}}}, authorizer.DecisionAllow},
		{"watch opaque secrets", authorizer.AttributesRecord{Verb: "watch", Resource: "secrets", FieldSelectorRequirements: fields.Requirements{{Operator: selection.Equals, Field: "type", Value: "Opaque"}}}, authorizer.DecisionNoOpinion},
		{"watch TLS secrets not only", authorizer.AttributesRecord{Verb: "watch", Resource: "secrets", FieldSelectorRequirements: fields.Requirements{{Operator: selection.NotEquals, Field: "type", Value: "kubernetes.io/tls"}}}, authorizer.DecisionNoOpinion},
		{"get TLS secret by name", authorizer.AttributesRecord{Verb: "get", Resource: "secrets", Namespace: "ns", Name: "tls", FieldSelectorRequirements: fields.Requirements{{Operator: selection.Equals, Field: "type", Value: "kubernetes.io/tls"}}}, authorizer.DecisionNoOpinion},
		{"update used secret", authorizer.AttributesRecord{Verb: "update", Resource: "secrets", Namespace: "ns", Name: "secret-a"}, authorizer.DecisionNoOpinion},
		{"get used configmap", authorizer.AttributesRecord{Verb: "get", Resource: "configmaps", Namespace: "ns", Name: "cm-a"}, authorizer.DecisionAllow},
		{"get envFrom configmap", authorizer.AttributesRecord{Verb: "get", Resource: "configmaps", Namespace: "ns", Name: "envfrom-cm-a"}, authorizer.DecisionAllow},
		{"get unused configmap", authorizer.AttributesRecord{Verb: "get", Resource: "configmaps", Namespace: "ns", Name: "cm-b"}, authorizer.DecisionNoOpinion},
		{"get used claim", authorizer.AttributesRecord{Verb: "get", Resource: "persistentvolumeclaims", Namespace: "ns", Name: "claim-a"}, authorizer.DecisionAllow},
		{"get bound volume", authorizer.AttributesRecord{Verb: "get", Resource: "persistentvolumes", Name: "pv-a"}, authorizer.DecisionAllow},
		{"get other volume", authorizer.AttributesRecord{Verb: "get", Resource: "persistentvolumes", Name: "pv-b"}, authorizer.DecisionNoOpinion},
		{"token of used service account", authorizer.AttributesRecord{Verb: "create", Resource: "serviceaccounts", Subresource: "token", Namespace: "ns", Name: "sa-a"}, authorizer.DecisionAllow},
		{"token of other service account", authorizer.AttributesRecord{Verb: "create", Resource: "serviceaccounts", Subresource: "token", Namespace: "ns", Name: "default"}, authorizer.DecisionNoOpinion},
		{"watch services", authorizer.AttributesRecord{Verb: "watch", Resource: "services"}, authorizer.DecisionAllow},
		{"list endpointslices", authorizer.AttributesRecord{Verb: "list", APIGroup: "discovery.k8s.io", Resource: "endpointslices"}, authorizer.DecisionAllow},
		{"create services", authorizer.AttributesRecord{Verb: "create", Resource: "services", Namespace: "ns"}, authorizer.DecisionNoOpinion},
		{"deployments", authorizer.AttributesRecord{Verb: "list", APIGroup: "apps", Resource: "deployments"}, authorizer.DecisionNoOpinion},
		{"cluster roles", authorizer.AttributesRecord{Verb: "create", APIGroup: "rbac.authorization.k8s.io", Resource: "clusterroles"}, authorizer.DecisionNoOpinion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.attrs.User, tc.attrs.ResourceRequest = a, true
			got, reason, err := az.Authorize(context.Background(), tc.attrs)
			if err != nil || got != tc.want {
				t.Errorf("got %v (%q, %v), want %v", got, reason, err, tc.want)
			}
		})
	}
}

// Other identities, and non-resource requests, get no opinion.
func TestAuthorizerIgnoresOthers(t *testing.T) {
	az := New(testGraph())
	for _, u := range []user.Info{
		&user.DefaultInfo{Name: "system:node:node-a"},                             // not in system:nodes
		&user.DefaultInfo{Name: "node-a", Groups: []string{"system:nodes"}},       // not a node user name
		&user.DefaultInfo{Name: "system:node:", Groups: []string{"system:nodes"}}, // no node name
		&user.DefaultInfo{Name: "admin", Groups: []string{"system:masters"}},
	} {
		got, _, _ := az.Authorize(context.Background(), authorizer.AttributesRecord{User: u, Verb: "list", Resource: "nodes", ResourceRequest: true})
		if got != authorizer.DecisionNoOpinion {
			t.Errorf("%v: %v, want no opinion", u, got)
		}
	}
	got, _, _ := az.Authorize(context.Background(), authorizer.AttributesRecord{User: nodeUser("node-a"), Verb: "get", Path: "/api"})
	if got != authorizer.DecisionNoOpinion {
		t.Errorf("non-resource request: %v", got)
	}
}

// A pod moving off a node (deleted) takes its objects' access with it.
func TestGraphForgetsDeletedPods(t *testing.T) {
	g := testGraph()
	if !g.nodeUses("node-a", kindSecret, "ns", "secret-a") {
		t.Fatal("secret-a not used by node-a")
	}
	g.DeletePod("ns/a-pod")
	for _, k := range []string{kindSecret, kindConfigMap, kindPVC, kindServiceAccount} {
		for _, n := range []string{"secret-a", "cm-a", "claim-a", "sa-a"} {
			if g.nodeUses("node-a", k, "ns", n) {
				t.Errorf("node-a still uses %s %s", k, n)
			}
		}
	}
	if len(g.uses["node-a"]) != 0 || g.nodeUsesVolume("node-a", "pv-a") {
		t.Errorf("node-a index not empty: %v", g.uses["node-a"])
	}
}
