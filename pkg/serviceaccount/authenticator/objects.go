package authenticator

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
)

// CachedObjects reads bound objects from informer caches and, when the
// cache does not have one (not synced yet, or created a moment ago),
// from the API itself — as upstream's token getter does — so a token
// issued for a new pod is not refused for the cache's lag.
type CachedObjects struct {
	client   kubernetes.Interface
	accounts listersv1.ServiceAccountLister
	pods     listersv1.PodLister
	secrets  listersv1.SecretLister
	nodes    listersv1.NodeLister
}

// NewCachedObjects registers the informers it needs on factory; the
// caller starts the factory.
func NewCachedObjects(client kubernetes.Interface, factory informers.SharedInformerFactory) *CachedObjects {
	core := factory.Core().V1()
	return &CachedObjects{
		client:   client,
		accounts: core.ServiceAccounts().Lister(),
		pods:     core.Pods().Lister(),
		secrets:  core.Secrets().Lister(),
		nodes:    core.Nodes().Lister(),
	}
}

// cachedOrLive returns the cached object unless the cache does not have
// it or has another one by that name (uid, if set, differs): then it may
// be behind, and the API answers.
func cachedOrLive[T metav1.Object](uid string, cached func() (T, error), live func() (T, error)) (T, error) {
	obj, err := cached()
	if apierrors.IsNotFound(err) || (err == nil && uid != "" && string(obj.GetUID()) != uid) {
		return live()
	}
	return obj, err
}

func (o *CachedObjects) ServiceAccount(ctx context.Context, namespace, name, uid string) (*corev1.ServiceAccount, error) {
	return cachedOrLive(uid, func() (*corev1.ServiceAccount, error) { return o.accounts.ServiceAccounts(namespace).Get(name) },
		func() (*corev1.ServiceAccount, error) {
			return o.client.CoreV1().ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
		})
}

func (o *CachedObjects) Pod(ctx context.Context, namespace, name, uid string) (*corev1.Pod, error) {
	return cachedOrLive(uid, func() (*corev1.Pod, error) { return o.pods.Pods(namespace).Get(name) },
		func() (*corev1.Pod, error) {
			return o.client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		})
}

func (o *CachedObjects) Secret(ctx context.Context, namespace, name, uid string) (*corev1.Secret, error) {
	return cachedOrLive(uid, func() (*corev1.Secret, error) { return o.secrets.Secrets(namespace).Get(name) },
		func() (*corev1.Secret, error) {
			return o.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
		})
}

func (o *CachedObjects) FreshSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return o.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (o *CachedObjects) Node(ctx context.Context, name, uid string) (*corev1.Node, error) {
	return cachedOrLive(uid, func() (*corev1.Node, error) { return o.nodes.Get(name) },
		func() (*corev1.Node, error) { return o.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}) })
}
