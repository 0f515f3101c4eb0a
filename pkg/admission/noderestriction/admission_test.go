package noderestriction

import (
	"context"
	"strings"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
)

var (
	nodeA = &user.DefaultInfo{Name: "system:node:node-a", Groups: []string{"system:nodes", "system:authenticated"}}
	admin = &user.DefaultInfo{Name: "admin", Groups: []string{"system:masters"}}
)

func pod(name, nodeName string, mut ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c"}}}}
	for _, m := range mut {
		m(p)
	}
	return p
}

func mirror(p *corev1.Pod) { p.Annotations = map[string]string{MirrorPodAnnotation: "x"} }

func stored() PodGetter {
	pods := map[string]*corev1.Pod{"a-pod": pod("a-pod", "node-a"), "b-pod": pod("b-pod", "node-b")}
	return func(_ context.Context, ns, name string) (*corev1.Pod, error) {
		if p, ok := pods[name]; ok && ns == "ns" {
			return p, nil
		}
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, name)
	}
}

func node(name string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Taints: taints}}
}

func lease(ns, name string) *coordinationv1.Lease {
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func TestValidate(t *testing.T) {
	p := New(stored())
	podsR, nodesR := corev1.SchemeGroupVersion.WithResource("pods"), corev1.SchemeGroupVersion.WithResource("nodes")
	leasesR := coordinationv1.SchemeGroupVersion.WithResource("leases")
	for _, tc := range []struct {
		name             string
		u                user.Info
		obj, old         runtime.Object
		res              schema.GroupVersionResource
		sub, ns, objName string
		op               admission.Operation
		want             string // "" = admitted
	}{
		{"mirror pod on itself", nodeA, pod("m", "node-a", mirror), nil, podsR, "", "ns", "m", admission.Create, ""},
		{"ordinary pod", nodeA, pod("m", "node-a"), nil, podsR, "", "ns", "m", admission.Create, `pod does not have "kubernetes.io/config.mirror" annotation, node "node-a" can only create mirror pods`},
		{"mirror pod elsewhere", nodeA, pod("m", "node-b", mirror), nil, podsR, "", "ns", "m", admission.Create, `node "node-a" can only create pods with spec.nodeName set to itself`},
		{"mirror pod with secret", nodeA, pod("m", "node-a", mirror, func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "x"}}}}
		}), nil, podsR, "", "ns", "m", admission.Create, `node "node-a" can not create pods that reference secrets`},
		{"mirror pod with env configmap", nodeA, pod("m", "node-a", mirror, func(p *corev1.Pod) {
			p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}}}}
		}), nil, podsR, "", "ns", "m", admission.Create, `node "node-a" can not create pods that reference configmaps`},
		{"mirror pod with service account", nodeA, pod("m", "node-a", mirror, func(p *corev1.Pod) { p.Spec.ServiceAccountName = "robot" }), nil, podsR, "", "ns", "m", admission.Create, `node "node-a" can not create pods that use service accounts`},
		{"own pod status", nodeA, pod("a-pod", "node-a"), pod("a-pod", "node-a"), podsR, "status", "ns", "a-pod", admission.Update, ""},
		{"other node's pod status", nodeA, pod("b-pod", "node-b"), pod("b-pod", "node-b"), podsR, "status", "ns", "b-pod", admission.Update, `node "node-a" can only update pod status for pods with spec.nodeName set to itself`},
		{"status re-owning", nodeA, pod("a-pod", "node-a", func(p *corev1.Pod) { p.OwnerReferences = []metav1.OwnerReference{{Name: "x"}} }), pod("a-pod", "node-a"), podsR, "status", "ns", "a-pod", admission.Update, "cannot update ownerReferences"},
		{"delete own pod", nodeA, nil, nil, podsR, "", "ns", "a-pod", admission.Delete, ""},
		{"delete other node's pod", nodeA, nil, nil, podsR, "", "ns", "b-pod", admission.Delete, `node "node-a" can only delete pods with spec.nodeName set to itself`},
		{"update pod", nodeA, pod("a-pod", "node-a"), pod("a-pod", "node-a"), podsR, "", "ns", "a-pod", admission.Update, `node "node-a" can not update pods`},
		{"evict own pod", nodeA, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "a-pod", Namespace: "ns"}}, nil, podsR, "eviction", "ns", "a-pod", admission.Create, ""},
		{"evict other node's pod", nodeA, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "b-pod", Namespace: "ns"}}, nil, podsR, "eviction", "ns", "b-pod", admission.Create, `node "node-a" can only evict pods with spec.nodeName set to itself`},
		{"create own node", nodeA, node("node-a", map[string]string{"kubernetes.io/hostname": "node-a", "flotilla.io/joined": "yes", "node.kubernetes.io/exclude-from-external-load-balancers": ""}), nil, nodesR, "", "", "node-a", admission.Create, ""},
		{"create other node", nodeA, node("node-b", nil), nil, nodesR, "", "", "node-b", admission.Create, `node "node-a" is not allowed to modify node "node-b"`},
		{"update other node status", nodeA, node("node-b", nil), node("node-b", nil), nodesR, "status", "", "node-b", admission.Update, `node "node-a" is not allowed to modify node "node-b"`},
		{"create with restricted label", nodeA, node("node-a", map[string]string{"node-restriction.kubernetes.io/pci": "yes"}), nil, nodesR, "", "", "node-a", admission.Create, `node "node-a" is not allowed to set the following labels: node-restriction.kubernetes.io/pci`},
		{"create with role label", nodeA, node("node-a", map[string]string{"node-role.kubernetes.io/control-plane": ""}), nil, nodesR, "", "", "node-a", admission.Create, "node-role.kubernetes.io/control-plane"},
		{"add restricted label", nodeA, node("node-a", map[string]string{"node-restriction.kubernetes.io/pci": "yes"}), node("node-a", nil), nodesR, "", "", "node-a", admission.Update, `node "node-a" is not allowed to modify labels: node-restriction.kubernetes.io/pci`},
		{"remove restricted label", nodeA, node("node-a", nil), node("node-a", map[string]string{"node-restriction.kubernetes.io/pci": "yes"}), nodesR, "", "", "node-a", admission.Update, "not allowed to modify labels: node-restriction.kubernetes.io/pci"},
		{"keep restricted label", nodeA, node("node-a", map[string]string{"node-restriction.kubernetes.io/pci": "yes", "a": "b"}), node("node-a", map[string]string{"node-restriction.kubernetes.io/pci": "yes"}), nodesR, "", "", "node-a", admission.Update, ""},
		{"remove taint", nodeA, node("node-a", nil), node("node-a", nil, corev1.Taint{Key: "k", Effect: corev1.TaintEffectNoSchedule}), nodesR, "", "", "node-a", admission.Update, `node "node-a" is not allowed to modify taints`},
		{"admin sets restricted label", admin, node("node-a", map[string]string{"node-restriction.kubernetes.io/pci": "yes"}), node("node-a", nil), nodesR, "", "", "node-a", admission.Update, ""},
		{"create own lease", nodeA, lease("kube-node-lease", "node-a"), nil, leasesR, "", "kube-node-lease", "node-a", admission.Create, ""},
		{"create other node's lease", nodeA, lease("kube-node-lease", "node-b"), nil, leasesR, "", "kube-node-lease", "node-b", admission.Create, "can only access node lease with the same name as the requesting node"},
		{"update other node's lease", nodeA, lease("kube-node-lease", "node-b"), lease("kube-node-lease", "node-b"), leasesR, "", "kube-node-lease", "node-b", admission.Update, "can only access node lease with the same name as the requesting node"},
		{"lease elsewhere", nodeA, lease("kube-system", "node-a"), nil, leasesR, "", "kube-system", "node-a", admission.Create, `can only access leases in the "kube-node-lease" namespace`},
		{"admin creates any lease", admin, lease("kube-node-lease", "node-b"), nil, leasesR, "", "kube-node-lease", "node-b", admission.Create, ""},
		{"admin creates pod", admin, pod("x", "node-b"), nil, podsR, "", "ns", "x", admission.Create, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			attrs := admission.NewAttributesRecord(tc.obj, tc.old, schema.GroupVersionKind{}, tc.ns, tc.objName, tc.res, tc.sub, tc.op, nil, false, tc.u)
			err := p.Validate(context.Background(), attrs, nil)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want Forbidden containing %q", err, tc.want)
			}
		})
	}
}
