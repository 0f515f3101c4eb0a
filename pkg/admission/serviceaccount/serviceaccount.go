// Package serviceaccount is upstream's ServiceAccount admission plugin for
// new pods: a pod runs as the namespace's "default" account unless it
// names one, gets its account's image pull secrets when it has none, and
// gets the account's credentials mounted (a projected kube-api-access
// volume) unless the pod or the account opts out. A pod naming an account
// that does not exist is refused.
package serviceaccount

import (
	"context"
	"fmt"
	"math/rand"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/flotilla-io/flotilla/pkg/admission/internal/deps"
)

// PluginName is the name upstream gives the plugin.
const PluginName = "ServiceAccount"

// DefaultName is the account pods run as unless they name another.
const DefaultName = "default"

// MountPath is where pods find their API credentials.
const MountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// tokenExpirationSeconds is the lifetime upstream gives the projected
// token of kube-api-access volumes (an hour and seven seconds, so the
// agent's refresh is told apart from a user-chosen hour).
const tokenExpirationSeconds = 3607

// Plugin completes new pods from their ServiceAccount.
type Plugin struct {
	*admission.Handler
	accounts corelisters.ServiceAccountLister
	client   kubernetes.Interface
}

var _ admission.MutationInterface = (*Plugin)(nil)

// New builds the plugin on the ServiceAccount informer.
func New(d deps.Deps) (admission.Interface, error) {
	inf := d.Informers.Core().V1().ServiceAccounts()
	p := &Plugin{Handler: admission.NewHandler(admission.Create), accounts: inf.Lister(), client: d.Client}
	p.SetReadyFunc(inf.Informer().HasSynced)
	return p, nil
}

// Admit completes a new pod. Mirror pods (a node's static pods) are
// exempt: they cannot use the API's credentials.
func (p *Plugin) Admit(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	pod, ok := deps.NewPod(a)
	if !ok {
		return nil
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return nil
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = DefaultName
	}
	pod.Spec.DeprecatedServiceAccount = pod.Spec.ServiceAccountName
	account, err := p.account(ctx, a.GetNamespace(), pod.Spec.ServiceAccountName)
	if err != nil {
		return admission.NewForbidden(a, fmt.Errorf("error looking up service account %s/%s: %w", a.GetNamespace(), pod.Spec.ServiceAccountName, err))
	}
	if len(pod.Spec.ImagePullSecrets) == 0 {
		pod.Spec.ImagePullSecrets = append(pod.Spec.ImagePullSecrets, account.ImagePullSecrets...)
	}
	if automount(pod, account) {
		mount(pod)
	}
	return nil
}

// defaultAttempts is how often the default account is looked up before
// a pod is refused: the serviceaccount controller creates it moments
// after its namespace, and a pod created in between should not fail.
// Other accounts are users' to create, so they are looked up once.
const defaultAttempts = 10

// account reads the pod's ServiceAccount from the cache, or from the
// server when the cache does not have it (yet). The default account is
// retried for a short while (upstream waits up to about two seconds);
// a missing one is a NotFound error, which refuses the pod.
func (p *Plugin) account(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	if p.WaitForReady() {
		sa, err := p.accounts.ServiceAccounts(ns).Get(name)
		if err == nil {
			return sa, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	attempts := 1
	if name == DefaultName {
		attempts = defaultAttempts
	}
	pause := time.Duration(100+rand.Int63n(100)) * time.Millisecond
	for i := 0; i < attempts; i++ {
		if i > 0 {
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
		sa, err := p.client.CoreV1().ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			return sa, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "serviceaccount"}, name)
}

// automount says whether the pod gets its account's credentials: the
// pod's automountServiceAccountToken decides, else the account's, else
// yes.
func automount(pod *corev1.Pod, account *corev1.ServiceAccount) bool {
	if a := pod.Spec.AutomountServiceAccountToken; a != nil {
		return *a
	}
	if account.AutomountServiceAccountToken != nil {
		return *account.AutomountServiceAccountToken
	}
	return true
}

// mount adds the projected volume kube-api-access-XXXXX (a bound token,
// the cluster CA, the namespace) mounted read-only in every container,
// unless something is mounted at MountPath already.
func mount(pod *corev1.Pod) {
	for _, l := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range l {
			for _, m := range c.VolumeMounts {
				if m.MountPath == MountPath {
					return
				}
			}
		}
	}
	name := "kube-api-access-" + utilrand.String(5)
	expiry, mode := int64(tokenExpirationSeconds), int32(0o644)
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: &mode,
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: &expiry}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		},
	}}})
	m := corev1.VolumeMount{Name: name, MountPath: MountPath, ReadOnly: true}
	for i := range pod.Spec.InitContainers {
		pod.Spec.InitContainers[i].VolumeMounts = append(pod.Spec.InitContainers[i].VolumeMounts, m)
	}
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].VolumeMounts = append(pod.Spec.Containers[i].VolumeMounts, m)
	}
}
