package persistentvolume

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	storageinformers "k8s.io/client-go/informers/storage/v1"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/flotilla-io/flotilla/pkg/controller/worker"
)

// Names and annotations shared with upstream.
const (
	// Provisioner is the provisioner name of the built-in local-path class.
	Provisioner = "flotilla.io/local-path"
	// LocalPathClass is the name of the built-in StorageClass.
	LocalPathClass = "local-path"
	// DefaultBaseDir is where provisioned volumes live on their node.
	DefaultBaseDir = "/var/lib/flotilla/storage"
	// DefaultResyncPeriod is how often every claim and volume is synced
	// again, as upstream's binder does.
	DefaultResyncPeriod = 15 * time.Second

	AnnBindCompleted          = "pv.kubernetes.io/bind-completed"
	AnnBoundByController      = "pv.kubernetes.io/bound-by-controller"
	AnnProvisionedBy          = "pv.kubernetes.io/provisioned-by"
	AnnSelectedNode           = "volume.kubernetes.io/selected-node"
	AnnStorageProvisioner     = "volume.kubernetes.io/storage-provisioner"
	AnnBetaStorageProvisioner = "volume.beta.kubernetes.io/storage-provisioner"
	AnnDefaultClass           = "storageclass.kubernetes.io/is-default-class"
	AnnBetaDefaultClass       = "storageclass.beta.kubernetes.io/is-default-class"

	fieldManager = "flotilla-persistentvolume"
)

// Config tunes the controller; zero fields take the defaults.
type Config struct {
	// BaseDir is the directory, on each node, under which local-path
	// volumes are created (DefaultBaseDir).
	BaseDir string
	// RemoveDirectory deletes the directory of a provisioned volume whose
	// reclaim policy is Delete, on node. Nil removes path from the
	// controller's own filesystem when it lies under BaseDir — right when
	// the controller shares the node's filesystem (single-node clusters);
	// other nodes need the agent's help.
	RemoveDirectory func(ctx context.Context, node, path string) error
	// ResyncPeriod is how often everything is synced again
	// (DefaultResyncPeriod).
	ResyncPeriod time.Duration
}

// LocalPathStorageClass is the built-in default StorageClass.
func LocalPathStorageClass() *storagev1.StorageClass {
	mode, reclaim := storagev1.VolumeBindingWaitForFirstConsumer, corev1.PersistentVolumeReclaimDelete
	return &storagev1.StorageClass{
		TypeMeta:          metav1.TypeMeta{APIVersion: "storage.k8s.io/v1", Kind: "StorageClass"},
		ObjectMeta:        metav1.ObjectMeta{Name: LocalPathClass, Annotations: map[string]string{AnnDefaultClass: "true"}},
		Provisioner:       Provisioner,
		ReclaimPolicy:     &reclaim,
		VolumeBindingMode: &mode,
	}
}

// Controller binds claims to volumes and provisions local-path volumes.
type Controller struct {
	client  kubernetes.Interface
	claims  listersv1.PersistentVolumeClaimLister
	volumes listersv1.PersistentVolumeLister
	pods    listersv1.PodLister
	nodes   listersv1.NodeLister
	synced  []cache.InformerSynced
	queue   workqueue.TypedRateLimitingInterface[string] // claimKey or volumeKey
	cfg     Config
	log     *slog.Logger

	// classStore holds the served StorageClasses; nil while the API
	// server does not serve them, when only the built-in class exists.
	classStore cache.Store
}

// Queue keys: "claim/<ns>/<name>" and "volume/<name>".
const claimPrefix, volumePrefix = "claim/", "volume/"

// New builds the controller on a shared informer factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, cfg Config, log *slog.Logger) *Controller {
	if cfg.BaseDir == "" {
		cfg.BaseDir = DefaultBaseDir
	}
	if cfg.ResyncPeriod <= 0 {
		cfg.ResyncPeriod = DefaultResyncPeriod
	}
	pvcs, pvs := factory.Core().V1().PersistentVolumeClaims(), factory.Core().V1().PersistentVolumes()
	pods, nodes := factory.Core().V1().Pods(), factory.Core().V1().Nodes()
	c := &Controller{
		client: client, claims: pvcs.Lister(), volumes: pvs.Lister(), pods: pods.Lister(), nodes: nodes.Lister(),
		synced: []cache.InformerSynced{pvcs.Informer().HasSynced, pvs.Informer().HasSynced, pods.Informer().HasSynced, nodes.Informer().HasSynced},
		queue:  workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "persistentvolume"}),
		cfg:    cfg,
		log:    log.With("controller", "persistentvolume"),
	}
	if c.cfg.RemoveDirectory == nil {
		c.cfg.RemoveDirectory = c.removeLocal
	}
	_, _ = pvcs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.claimChanged,
		UpdateFunc: func(_, n any) { c.claimChanged(n) },
		DeleteFunc: c.claimChanged,
	})
	_, _ = pvs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.volumeChanged,
		UpdateFunc: func(_, n any) { c.volumeChanged(n) },
		DeleteFunc: c.volumeChanged,
	})
	_, _ = pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podChanged,
		UpdateFunc: func(_, n any) { c.podChanged(n) },
	})
	return c
}

func claimKey(ns, name string) string { return claimPrefix + ns + "/" + name }

func untomb(obj any) any {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return tomb.Obj
	}
	return obj
}

func (c *Controller) claimChanged(obj any) {
	pvc, ok := untomb(obj).(*corev1.PersistentVolumeClaim)
	if !ok {
		return
	}
	c.queue.Add(claimKey(pvc.Namespace, pvc.Name))
	if pvc.Spec.VolumeName != "" {
		c.queue.Add(volumePrefix + pvc.Spec.VolumeName)
	}
}

func (c *Controller) volumeChanged(obj any) {
	pv, ok := untomb(obj).(*corev1.PersistentVolume)
	if !ok {
		return
	}
	c.queue.Add(volumePrefix + pv.Name)
	if ref := pv.Spec.ClaimRef; ref != nil {
		c.queue.Add(claimKey(ref.Namespace, ref.Name))
	} else {
		c.enqueueUnbound() // a free volume may satisfy a waiting claim
	}
}

// podChanged wakes the unbound claims of a pod once it has a node: they
// may be waiting for their first consumer.
func (c *Controller) podChanged(obj any) {
	pod, ok := untomb(obj).(*corev1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return
	}
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		if pvc, err := c.claims.PersistentVolumeClaims(pod.Namespace).Get(v.PersistentVolumeClaim.ClaimName); err == nil && pvc.Spec.VolumeName == "" {
			c.queue.Add(claimKey(pod.Namespace, pvc.Name))
		}
	}
}

func (c *Controller) enqueueUnbound() {
	pvcs, err := c.claims.List(labels.Everything())
	if err != nil {
		return
	}
	for _, pvc := range pvcs {
		if pvc.Spec.VolumeName == "" {
			c.queue.Add(claimKey(pvc.Namespace, pvc.Name))
		}
	}
}

func (c *Controller) enqueueAll() {
	if pvcs, err := c.claims.List(labels.Everything()); err == nil {
		for _, pvc := range pvcs {
			c.queue.Add(claimKey(pvc.Namespace, pvc.Name))
		}
	}
	if pvs, err := c.volumes.List(labels.Everything()); err == nil {
		for _, pv := range pvs {
			c.queue.Add(volumePrefix + pv.Name)
		}
	}
}

// Run works the queue until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	var wg sync.WaitGroup
	defer wg.Wait()
	if c.classesServed(ctx) {
		inf := storageinformers.NewStorageClassInformer(c.client, 0, cache.Indexers{})
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { c.enqueueUnbound() },
			UpdateFunc: func(_, _ any) { c.enqueueUnbound() },
		})
		c.classStore = inf.GetStore()
		wg.Add(1)
		go func() {
			defer wg.Done()
			inf.Run(ctx.Done())
		}()
		c.synced = append(c.synced, inf.HasSynced)
	} else {
		c.log.Info("the API server does not serve storage.k8s.io/v1 StorageClasses; using the built-in " + LocalPathClass + " class only")
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	if c.classStore != nil {
		c.ensureBuiltinClass(ctx)
	}
	wg.Add(1)
	go func() { // resync everything periodically
		defer wg.Done()
		ticker := time.NewTicker(c.cfg.ResyncPeriod)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
				c.enqueueAll()
			}
		}
	}()
	worker.Run(ctx, c.queue, workers, c.syncKey, c.log)
}

// classesServed asks discovery whether StorageClasses exist.
func (c *Controller) classesServed(ctx context.Context) bool {
	for {
		list, err := c.client.Discovery().ServerResourcesForGroupVersion("storage.k8s.io/v1")
		if err == nil {
			for _, r := range list.APIResources {
				if r.Name == "storageclasses" {
					return true
				}
			}
			return false
		}
		if apierrors.IsNotFound(err) {
			return false
		}
		c.log.Warn("discover storage.k8s.io/v1", "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Second):
		}
	}
}

// ensureBuiltinClass creates the local-path class once, when missing.
func (c *Controller) ensureBuiltinClass(ctx context.Context) {
	if _, ok, _ := c.classStore.GetByKey(LocalPathClass); ok {
		return
	}
	_, err := c.client.StorageV1().StorageClasses().Create(ctx, LocalPathStorageClass(), metav1.CreateOptions{FieldManager: fieldManager})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		c.log.Warn("create built-in storage class", "class", LocalPathClass, "err", err)
	}
}

// syncKey dispatches a key to the claim or volume sync its prefix names.
func (c *Controller) syncKey(ctx context.Context, key string) error {
	if rest, ok := strings.CutPrefix(key, claimPrefix); ok {
		ns, name, _ := strings.Cut(rest, "/")
		return c.syncClaim(ctx, ns, name)
	}
	if name, ok := strings.CutPrefix(key, volumePrefix); ok {
		return c.syncVolume(ctx, name)
	}
	return nil
}

// class resolves a StorageClass by name.
func (c *Controller) class(name string) *storagev1.StorageClass {
	if name == "" {
		return nil
	}
	if c.classStore == nil {
		if name == LocalPathClass {
			return LocalPathStorageClass()
		}
		return nil
	}
	obj, ok, err := c.classStore.GetByKey(name)
	if err != nil || !ok {
		return nil
	}
	return obj.(*storagev1.StorageClass)
}

// defaultClass is the newest class annotated as the default, as upstream
// picks among several.
func (c *Controller) defaultClass() *storagev1.StorageClass {
	if c.classStore == nil {
		return LocalPathStorageClass()
	}
	var best *storagev1.StorageClass
	for _, obj := range c.classStore.List() {
		sc := obj.(*storagev1.StorageClass)
		if sc.Annotations[AnnDefaultClass] != "true" && sc.Annotations[AnnBetaDefaultClass] != "true" {
			continue
		}
		if best == nil || best.CreationTimestamp.Before(&sc.CreationTimestamp) ||
			(best.CreationTimestamp.Equal(&sc.CreationTimestamp) && sc.Name < best.Name) {
			best = sc
		}
	}
	return best
}

// removeLocal is the default Config.RemoveDirectory.
func (c *Controller) removeLocal(_ context.Context, _, path string) error {
	base := filepath.Clean(c.cfg.BaseDir) + string(filepath.Separator)
	path = filepath.Clean(path)
	if !strings.HasPrefix(path, base) {
		return fmt.Errorf("refusing to remove %s: not under %s", path, base)
	}
	return os.RemoveAll(path)
}
