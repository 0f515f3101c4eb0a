package namespacelifecycle

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/flotilla-io/flotilla/pkg/admission/internal/deps"
)

func TestAdmit(t *testing.T) {
	cs := fake.NewSimpleClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "live"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "going"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
	)
	factory := informers.NewSharedInformerFactory(cs, 0)
	p, err := New(deps.Deps{Client: cs, Informers: factory})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	m := p.(admission.MutationInterface)

	pods := corev1.SchemeGroupVersion.WithResource("pods")
	podKind := corev1.SchemeGroupVersion.WithKind("Pod")
	create := func(ns string) error {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns}}
		return m.Admit(ctx, admission.NewAttributesRecord(pod, nil, podKind, ns, "p", pods, "", admission.Create, nil, false, nil), nil)
	}
	if err := create("live"); err != nil {
		t.Errorf("create in an active namespace: %v", err)
	}
	if err := create("missing"); !apierrors.IsNotFound(err) || err.Error() != `namespaces "missing" not found` {
		t.Errorf("create in a missing namespace: %v", err)
	}
	err = create("going")
	if want := `pods "p" is forbidden: unable to create new content in namespace going because it is being terminated`; !apierrors.IsForbidden(err) || err.Error() != want {
		t.Errorf("create in a terminating namespace: got %v, want %s", err, want)
	}
	nsRes, nsKind := corev1.SchemeGroupVersion.WithResource("namespaces"), corev1.SchemeGroupVersion.WithKind("Namespace")
	for name, refused := range map[string]bool{"default": true, "kube-system": true, "kube-public": true, "live": false} {
		err := m.Admit(ctx, admission.NewAttributesRecord(nil, nil, nsKind, "", name, nsRes, "", admission.Delete, nil, false, nil), nil)
		if refused != (err != nil) {
			t.Errorf("delete namespace %s: %v", name, err)
		}
		if refused && err.Error() != `namespaces "`+name+`" is forbidden: this namespace may not be deleted` {
			t.Errorf("delete namespace %s: %v", name, err)
		}
	}
}
