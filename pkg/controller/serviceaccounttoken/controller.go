package serviceaccounttoken

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/flotilla-io/flotilla/pkg/controller/worker"
)

// Issuer signs legacy tokens.
type Issuer interface {
	IssueLegacy(namespace, name, uid, secret string) (string, error)
}

// Controller fills and prunes service account token Secrets.
type Controller struct {
	client   kubernetes.Interface
	accounts listersv1.ServiceAccountLister
	secrets  listersv1.SecretLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	issuer   Issuer
	caPEM    []byte
	log      *slog.Logger
}

// New builds the controller on a shared informer factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, issuer Issuer, caPEM []byte, log *slog.Logger) *Controller {
	sa, secrets := factory.Core().V1().ServiceAccounts(), factory.Core().V1().Secrets()
	c := &Controller{
		client: client, accounts: sa.Lister(), secrets: secrets.Lister(),
		synced: []cache.InformerSynced{sa.Informer().HasSynced, secrets.Informer().HasSynced},
		queue:  workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "serviceaccount-token"}),
		issuer: issuer, caPEM: caPEM,
		log: log.With("controller", "serviceaccount-token"),
	}
	onSecret := func(obj any) {
		if s, ok := obj.(*corev1.Secret); ok && s.Type == corev1.SecretTypeServiceAccountToken {
			if key, err := cache.MetaNamespaceKeyFunc(s); err == nil {
				c.queue.Add(key)
			}
		}
	}
	_, _ = secrets.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: onSecret, UpdateFunc: func(_, n any) { onSecret(n) }})
	// An account's change or deletion revisits its token Secrets.
	onAccount := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		sa, ok := obj.(*corev1.ServiceAccount)
		if !ok {
			return
		}
		list, _ := c.secrets.Secrets(sa.Namespace).List(labels.Everything())
		for _, s := range list {
			if s.Type == corev1.SecretTypeServiceAccountToken && s.Annotations[corev1.ServiceAccountNameKey] == sa.Name {
				c.queue.Add(s.Namespace + "/" + s.Name)
			}
		}
	}
	_, _ = sa.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: onAccount, UpdateFunc: func(_, n any) { onAccount(n) }, DeleteFunc: onAccount})
	return c
}

// Run works the queue until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	worker.Run(ctx, c.queue, workers, c.sync, c.log)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	secret, err := c.secrets.Secrets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if secret.Type != corev1.SecretTypeServiceAccountToken || secret.DeletionTimestamp != nil {
		return nil
	}
	account, err := c.account(ctx, ns, secret.Annotations[corev1.ServiceAccountNameKey])
	if err != nil {
		return err
	}
	if uid := secret.Annotations[corev1.ServiceAccountUIDKey]; account == nil || (uid != "" && uid != string(account.UID)) {
		// The account is gone or is another one now: its token with it.
		c.log.Info("deleting token secret of a missing service account", "ns", ns, "secret", name)
		err := c.client.CoreV1().Secrets(ns).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &secret.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete token secret %s: %w", key, err)
		}
		return nil
	}
	if len(secret.Data[corev1.ServiceAccountTokenKey]) > 0 && secret.Annotations[corev1.ServiceAccountUIDKey] == string(account.UID) &&
		len(secret.Data[corev1.ServiceAccountRootCAKey]) > 0 && string(secret.Data[corev1.ServiceAccountNamespaceKey]) == ns {
		return nil
	}
	fresh := secret.DeepCopy()
	if fresh.Data == nil {
		fresh.Data = map[string][]byte{}
	}
	if fresh.Annotations == nil {
		fresh.Annotations = map[string]string{}
	}
	if len(fresh.Data[corev1.ServiceAccountTokenKey]) == 0 {
		token, err := c.issuer.IssueLegacy(ns, account.Name, string(account.UID), name)
		if err != nil {
			return fmt.Errorf("sign token for %s: %w", key, err)
		}
		fresh.Data[corev1.ServiceAccountTokenKey] = []byte(token)
	}
	if len(fresh.Data[corev1.ServiceAccountRootCAKey]) == 0 {
		fresh.Data[corev1.ServiceAccountRootCAKey] = c.caPEM
	}
	fresh.Data[corev1.ServiceAccountNamespaceKey] = []byte(ns)
	fresh.Annotations[corev1.ServiceAccountUIDKey] = string(account.UID)
	_, err = c.client.CoreV1().Secrets(ns).Update(ctx, fresh, metav1.UpdateOptions{FieldManager: "flotilla-tokens-controller"})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil // a newer version comes through the informer
	}
	if err != nil {
		return fmt.Errorf("fill token secret %s: %w", key, err)
	}
	return nil
}

// account returns the Secret's ServiceAccount, nil if there is none. A
// cache miss is confirmed with the API: a Secret created right after its
// account is not deleted for the cache's lag.
func (c *Controller) account(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	if name == "" {
		return nil, nil
	}
	sa, err := c.accounts.ServiceAccounts(ns).Get(name)
	if err == nil {
		return sa, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, err
	}
	sa, err = c.client.CoreV1().ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return sa, err
}
