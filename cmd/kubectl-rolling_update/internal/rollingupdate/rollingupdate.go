// Package rollingupdate is the core of the kubectl-rolling_update plugin:
// the rolling update of a ReplicationController that kubectl
// rolling-update performed before kubectl dropped it, with the same
// steps, annotations and messages.
//
// A new controller is created with zero replicas (from a file, or as a
// copy of the old one with a new image whose selector and pod labels gain
// a `deployment` label holding a hash of the new template, after the old
// controller's pods and selector got the old template's hash). Then, one
// pod at a time (maxSurge 1, maxUnavailable 0), the new controller is
// scaled up and, once its new pods are available, the old one down, until
// the new one has the old replica count and the old one none. The old
// controller is deleted; in the --image form without a new name the new
// controller is recreated under the old name and the temporary one
// deleted, orphaning its pods to the recreated controller.
//
// Progress lives in annotations, as in kubectl: the new controller's
// desired replica count and source, the old one's original count and the
// name of its successor, so an interrupted update resumes when run again
// and Rollback scales the old controller back and deletes the new one.
package rollingupdate

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// Annotations kubectl rolling-update keeps its state in.
const (
	AnnotationSourceID         = "kubectl.kubernetes.io/update-source-id"
	AnnotationDesiredReplicas  = "kubectl.kubernetes.io/desired-replicas"
	AnnotationOriginalReplicas = "kubectl.kubernetes.io/original-replicas"
	AnnotationNextController   = "kubectl.kubernetes.io/next-controller-id"
)

// Defaults of Config's zero fields, as kubectl's flags.
const (
	DefaultUpdatePeriod  = time.Minute
	DefaultPollInterval  = 3 * time.Second
	DefaultTimeout       = 5 * time.Minute
	DefaultDeploymentKey = "deployment"
)

// Config describes one rolling update.
type Config struct {
	Client    kubernetes.Interface
	Namespace string
	Out       io.Writer

	// OldName is the controller being replaced.
	OldName string
	// NewRC is the replacement read from a file (the -f form); nil with Image.
	NewRC *corev1.ReplicationController
	// NewName names the replacement in the Image and Rollback forms; ""
	// derives it (Image) or reads it from the old controller's annotation,
	// and in the Image form keeps the old name at the end.
	NewName string
	// Image is the new image (the --image form), for Container (needed
	// when the pod has several), with PullPolicy when the image is unchanged.
	Image, Container string
	PullPolicy       corev1.PullPolicy
	// DeploymentKey is the label telling the two templates' pods apart.
	DeploymentKey string

	UpdatePeriod time.Duration // pause between scaling up and down
	PollInterval time.Duration // polling while waiting for controllers
	Timeout      time.Duration // longest wait for a scale or for progress

	// Rollback aborts an interrupted update: the old controller is scaled
	// back to its original size and the new one deleted.
	Rollback bool
	// DryRun only says what would be rolled to what.
	DryRun bool
}

func (c *Config) defaults() {
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.UpdatePeriod <= 0 {
		c.UpdatePeriod = DefaultUpdatePeriod
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.DeploymentKey == "" {
		c.DeploymentKey = DefaultDeploymentKey
	}
}

// cleanup is what happens to the controllers once the update is done.
type cleanup int

const (
	deleteOld cleanup = iota // -f form and rollback
	renameNew                // --image form keeping the old name
)

// Run performs the update and prints kubectl's progress messages.
func Run(ctx context.Context, cfg Config) error {
	cfg.defaults()
	if cfg.Client == nil || cfg.OldName == "" {
		return errors.New("a client and the old controller's name are required")
	}
	if (cfg.NewRC != nil) == (cfg.Image != "") && !cfg.Rollback {
		return errors.New("exactly one of a new controller (-f) or --image is required")
	}
	rcs := cfg.Client.CoreV1().ReplicationControllers(cfg.Namespace)
	oldRc, err := rcs.Get(ctx, cfg.OldName, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) && cfg.Image != "" && cfg.NewName == "" {
			// kubectl's hint: an earlier --image run may have died between
			// deleting the old controller and recreating it.
			return fmt.Errorf("%w; if the update was interrupted while renaming, the new controller may still exist under another name", err)
		}
		return fmt.Errorf("get replicationcontroller %s: %w", cfg.OldName, err)
	}
	keepOldName := cfg.NewRC == nil && cfg.NewName == ""
	var newRc *corev1.ReplicationController

	switch {
	case cfg.Rollback:
		name := nextName(cfg.NewName, oldRc)
		if cfg.NewRC != nil {
			name = cfg.NewRC.Name
		}
		if name == "" {
			return fmt.Errorf("could not find the controller to roll back from %s: no %s annotation", oldRc.Name, AnnotationNextController)
		}
		if newRc, err = loadNext(ctx, cfg, name); err != nil {
			return err
		}
		if newRc == nil {
			return fmt.Errorf("could not find %s to rollback", name)
		}
	case cfg.NewRC != nil:
		newRc = cfg.NewRC.DeepCopy()
		if err := validateNewRC(cfg.Namespace, oldRc, newRc); err != nil {
			return err
		}
	default:
		if newRc, err = loadNext(ctx, cfg, nextName(cfg.NewName, oldRc)); err != nil {
			return err
		}
		if newRc != nil {
			idx, err := containerIndex(newRc, cfg.Container)
			if err != nil {
				return err
			}
			if img := newRc.Spec.Template.Spec.Containers[idx].Image; img != cfg.Image {
				return fmt.Errorf("found existing in-progress update to image (%s).\nEither continue in-progress update with --image=%s or rollback with --rollback", img, img)
			}
			fmt.Fprintf(cfg.Out, "Found existing update in progress (%s), resuming.\n", newRc.Name)
		} else if newRc, err = nextFromImage(cfg, oldRc); err != nil {
			return err
		}
	}

	if cfg.DryRun {
		fmt.Fprintf(cfg.Out, "Rolling from:\n%s\nTo:\n%s\n", oldRc.Name, newRc.Name)
		fmt.Fprintf(cfg.Out, "replicationcontroller/%s rolling updated (dry run)\n", oldRc.Name)
		return nil
	}

	policy := deleteOld
	if keepOldName {
		policy = renameNew
	}
	if cfg.Image != "" && !cfg.Rollback {
		// Point the old controller at its successor and tell its pods
		// apart from the new ones by the old template's hash.
		oldHash, err := hashOf(oldRc)
		if err != nil {
			return err
		}
		if oldRc, err = markOld(ctx, cfg, oldRc, newRc.Name, oldHash+"-orig"); err != nil {
			return err
		}
	}
	if cfg.Rollback {
		// Roll back by updating in reverse, to the original size.
		orig, ok := newRc.Annotations[AnnotationOriginalReplicas]
		if !ok {
			orig, ok = oldRc.Annotations[AnnotationOriginalReplicas]
		}
		if !ok {
			return fmt.Errorf("couldn't find original replica count of %q", oldRc.Name)
		}
		back := oldRc
		oldRc, newRc = newRc, back
		fmt.Fprintf(cfg.Out, "Setting %q replicas to %s\n", newRc.Name, orig)
		if newRc, err = updateRC(ctx, cfg, newRc.Name, func(rc *corev1.ReplicationController) {
			setAnnotation(rc, AnnotationSourceID, sourceID(oldRc))
			setAnnotation(rc, AnnotationDesiredReplicas, orig)
		}); err != nil {
			return err
		}
		policy = deleteOld
	}
	if err := update(ctx, cfg, oldRc, newRc, policy); err != nil {
		return err
	}
	switch {
	case cfg.Rollback:
		fmt.Fprintf(cfg.Out, "replicationcontroller/%s rolled back\n", cfg.OldName)
	case keepOldName:
		fmt.Fprintf(cfg.Out, "replicationcontroller/%s rolling updated\n", cfg.OldName)
	default:
		fmt.Fprintf(cfg.Out, "replicationcontroller/%s rolling updated to %q\n", cfg.OldName, newRc.Name)
	}
	return nil
}

func nextName(explicit string, old *corev1.ReplicationController) string {
	if explicit != "" {
		return explicit
	}
	return old.Annotations[AnnotationNextController]
}

func sourceID(rc *corev1.ReplicationController) string { return rc.Name + ":" + string(rc.UID) }

func setAnnotation(rc *corev1.ReplicationController, k, v string) {
	if rc.Annotations == nil {
		rc.Annotations = map[string]string{}
	}
	rc.Annotations[k] = v
}

// loadNext gets the named successor controller; nil if there is none.
func loadNext(ctx context.Context, cfg Config, name string) (*corev1.ReplicationController, error) {
	if name == "" {
		return nil, nil
	}
	rc, err := cfg.Client.CoreV1().ReplicationControllers(cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get replicationcontroller %s: %w", name, err)
	}
	return rc, nil
}

// validateNewRC applies kubectl's rules to the -f form.
func validateNewRC(ns string, old, rc *corev1.ReplicationController) error {
	if rc.Namespace != "" && rc.Namespace != ns {
		return fmt.Errorf("the new replicationcontroller's namespace %q must be %q", rc.Namespace, ns)
	}
	if rc.Name == "" {
		return errors.New("the new replicationcontroller needs a name")
	}
	if rc.Name == old.Name {
		return fmt.Errorf("%s cannot have the same name as the existing ReplicationController %s", rc.Name, old.Name)
	}
	differs := false
	for k, v := range old.Spec.Selector {
		if nv, ok := rc.Spec.Selector[k]; ok && nv != v {
			differs = true
			break
		}
	}
	if !differs {
		return fmt.Errorf("the new replicationcontroller must specify a matching key with non-equal value in Selector for %s", old.Name)
	}
	if rc.Spec.Replicas == nil {
		rc.Spec.Replicas = ptr(replicas(old))
	}
	rc.Namespace, rc.ResourceVersion = ns, ""
	return nil
}

func containerIndex(rc *corev1.ReplicationController, name string) (int, error) {
	cs := rc.Spec.Template.Spec.Containers
	if name != "" {
		for i, c := range cs {
			if c.Name == name {
				return i, nil
			}
		}
		return 0, fmt.Errorf("container %s not found in pod", name)
	}
	if len(cs) == 0 {
		return 0, errors.New("pod has no containers")
	}
	if len(cs) > 1 {
		return 0, errors.New("must specify container to update when updating a multi-container pod")
	}
	return 0, nil
}

// nextFromImage is the old controller with the new image, named (unless
// named by the user) and labelled by a hash of itself.
func nextFromImage(cfg Config, old *corev1.ReplicationController) (*corev1.ReplicationController, error) {
	rc := old.DeepCopy()
	idx, err := containerIndex(rc, cfg.Container)
	if err != nil {
		return nil, err
	}
	c := &rc.Spec.Template.Spec.Containers[idx]
	if c.Image == cfg.Image && cfg.PullPolicy == "" {
		return nil, errors.New("--image-pull-policy (Always|Never|IfNotPresent) must be provided when --image is the same as existing container image")
	}
	c.Image = cfg.Image
	if cfg.PullPolicy != "" {
		c.ImagePullPolicy = cfg.PullPolicy
	}
	hash, err := hashOf(rc)
	if err != nil {
		return nil, err
	}
	rc.Name = cfg.NewName
	if rc.Name == "" {
		rc.Name = old.Name + "-" + hash
	}
	rc.Spec.Selector = maps.Clone(rc.Spec.Selector)
	if rc.Spec.Selector == nil {
		rc.Spec.Selector = maps.Clone(rc.Spec.Template.Labels)
	}
	rc.Spec.Selector[cfg.DeploymentKey] = hash
	if rc.Spec.Template.Labels == nil {
		rc.Spec.Template.Labels = map[string]string{}
	}
	rc.Spec.Template.Labels[cfg.DeploymentKey] = hash
	rc.ObjectMeta = metav1.ObjectMeta{Name: rc.Name, Namespace: old.Namespace, Labels: rc.Labels, Annotations: maps.Clone(rc.Annotations)}
	delete(rc.Annotations, AnnotationNextController)
	delete(rc.Annotations, AnnotationOriginalReplicas)
	rc.Status = corev1.ReplicationControllerStatus{}
	return rc, nil
}

// hashOf is the MD5 of an object's JSON, hex-encoded, as kubectl's.
func hashOf(obj any) (string, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return "", fmt.Errorf("hash: %w", err)
	}
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:]), nil
}

// markOld records the successor's name on the old controller and, if its
// selector lacks the deployment key, adds key=hash to its template, its
// pods and its selector, in that order, then removes pods that escaped the
// relabelling.
func markOld(ctx context.Context, cfg Config, old *corev1.ReplicationController, next, hash string) (*corev1.ReplicationController, error) {
	key := cfg.DeploymentKey
	if _, has := old.Spec.Selector[key]; has {
		return updateRC(ctx, cfg, old.Name, func(rc *corev1.ReplicationController) { setAnnotation(rc, AnnotationNextController, next) })
	}
	origSelector := maps.Clone(old.Spec.Selector)
	if len(origSelector) == 0 {
		origSelector = maps.Clone(old.Spec.Template.Labels)
	}
	rc, err := updateRC(ctx, cfg, old.Name, func(rc *corev1.ReplicationController) {
		setAnnotation(rc, AnnotationNextController, next)
		if rc.Spec.Template.Labels == nil {
			rc.Spec.Template.Labels = map[string]string{}
		}
		rc.Spec.Template.Labels[key] = hash
	})
	if err != nil {
		return nil, err
	}
	pods := cfg.Client.CoreV1().Pods(cfg.Namespace)
	sel := labels.SelectorFromSet(origSelector).String()
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("list pods of %s: %w", old.Name, err)
	}
	for _, p := range list.Items {
		if p.Labels[key] == hash {
			continue
		}
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := pods.Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if cur.Labels == nil {
				cur.Labels = map[string]string{}
			}
			cur.Labels[key] = hash
			_, err = pods.Update(ctx, cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("label pod %s: %w", p.Name, err)
		}
	}
	if rc, err = updateRC(ctx, cfg, old.Name, func(rc *corev1.ReplicationController) {
		rc.Spec.Selector = maps.Clone(origSelector)
		rc.Spec.Selector[key] = hash
	}); err != nil {
		return nil, err
	}
	// A pod the controller made from the old template while we relabelled.
	list, err = pods.List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("list pods of %s: %w", old.Name, err)
	}
	for _, p := range list.Items {
		if p.Labels[key] != hash && p.DeletionTimestamp == nil {
			if err := pods.Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("delete unlabelled pod %s: %w", p.Name, err)
			}
		}
	}
	return rc, nil
}

// updateRC applies mutate to the current controller, retrying conflicts.
func updateRC(ctx context.Context, cfg Config, name string, mutate func(*corev1.ReplicationController)) (*corev1.ReplicationController, error) {
	rcs := cfg.Client.CoreV1().ReplicationControllers(cfg.Namespace)
	var out *corev1.ReplicationController
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		rc, err := rcs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		mutate(rc)
		out, err = rcs.Update(ctx, rc, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update replicationcontroller %s: %w", name, err)
	}
	return out, nil
}

func replicas(rc *corev1.ReplicationController) int32 {
	if rc.Spec.Replicas == nil {
		return 0
	}
	return *rc.Spec.Replicas
}

func ptr[T any](v T) *T { return &v }

// update moves replicas from oldRc to newRc (created if needed) and cleans up.
func update(ctx context.Context, cfg Config, oldRc, newRc *corev1.ReplicationController, policy cleanup) error {
	newRc, existed, err := target(ctx, cfg, newRc, sourceID(oldRc))
	if err != nil {
		return err
	}
	if existed {
		fmt.Fprintf(cfg.Out, "Continuing update with existing controller %s.\n", newRc.Name)
	} else {
		fmt.Fprintf(cfg.Out, "Created %s\n", newRc.Name)
	}
	d, err := strconv.Atoi(newRc.Annotations[AnnotationDesiredReplicas])
	if err != nil {
		return fmt.Errorf("unable to parse annotation %s of %s: %w", AnnotationDesiredReplicas, newRc.Name, err)
	}
	desired := int32(d)
	if _, ok := oldRc.Annotations[AnnotationOriginalReplicas]; !ok {
		if oldRc, err = updateRC(ctx, cfg, oldRc.Name, func(rc *corev1.ReplicationController) {
			setAnnotation(rc, AnnotationOriginalReplicas, strconv.Itoa(int(replicas(rc))))
		}); err != nil {
			return err
		}
	}
	// kubectl's fixed fenceposts: one extra pod, none missing.
	const maxSurge, maxUnavailable = int32(1), int32(0)
	minAvailable := max(0, desired-maxUnavailable)
	if desired == 0 {
		minAvailable = 0
	}
	fmt.Fprintf(cfg.Out, "Scaling up %s from %d to %d, scaling down %s from %d to 0 (keep %d pods available, don't exceed %d pods)\n",
		newRc.Name, replicas(newRc), desired, oldRc.Name, replicas(oldRc), minAvailable, desired+maxSurge)

	deadline := time.Now().Add(cfg.Timeout)
	for replicas(newRc) != desired || replicas(oldRc) != 0 {
		before := [2]int32{replicas(newRc), replicas(oldRc)}
		if newRc, err = scaleUp(ctx, cfg, newRc, oldRc, desired, maxSurge); err != nil {
			return err
		}
		if err := sleep(ctx, cfg.UpdatePeriod); err != nil {
			return err
		}
		if oldRc, err = scaleDown(ctx, cfg, newRc, oldRc, desired, minAvailable); err != nil {
			return err
		}
		if before != [2]int32{replicas(newRc), replicas(oldRc)} {
			deadline = time.Now().Add(cfg.Timeout)
		} else if time.Now().After(deadline) {
			return errors.New("timed out waiting for any update progress to be made")
		}
	}
	return finish(ctx, cfg, oldRc, newRc, policy)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// target creates the new controller at zero replicas, its desired count
// and source in annotations, or resumes with the one an earlier run made.
func target(ctx context.Context, cfg Config, rc *corev1.ReplicationController, source string) (*corev1.ReplicationController, bool, error) {
	rcs := cfg.Client.CoreV1().ReplicationControllers(cfg.Namespace)
	existing, err := rcs.Get(ctx, rc.Name, metav1.GetOptions{})
	if err == nil {
		_, hasDesired := existing.Annotations[AnnotationDesiredReplicas]
		if existing.Annotations[AnnotationSourceID] != source || !hasDesired {
			return nil, false, fmt.Errorf("missing/unexpected annotations for controller %s, expected %s : %v", rc.Name, source, existing.Annotations)
		}
		return existing, true, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, false, fmt.Errorf("get replicationcontroller %s: %w", rc.Name, err)
	}
	if replicas(rc) <= 0 {
		return nil, false, fmt.Errorf("invalid controller spec for %s; required: > 0 replicas, actual: %d", rc.Name, replicas(rc))
	}
	rc = rc.DeepCopy()
	setAnnotation(rc, AnnotationDesiredReplicas, strconv.Itoa(int(replicas(rc))))
	setAnnotation(rc, AnnotationSourceID, source)
	rc.Spec.Replicas = ptr(int32(0))
	created, err := rcs.Create(ctx, rc, metav1.CreateOptions{})
	if err != nil {
		return nil, false, fmt.Errorf("create replicationcontroller %s: %w", rc.Name, err)
	}
	return created, false, nil
}

// scaleUp grows newRc as far as the surge allows (all the way once the
// old one is empty) and waits for its pods to exist.
func scaleUp(ctx context.Context, cfg Config, newRc, oldRc *corev1.ReplicationController, desired, maxSurge int32) (*corev1.ReplicationController, error) {
	if replicas(newRc) == desired {
		return newRc, nil
	}
	inc := desired + maxSurge - (replicas(oldRc) + replicas(newRc))
	if replicas(oldRc) == 0 {
		inc = desired - replicas(newRc)
	}
	if inc <= 0 {
		return newRc, nil
	}
	next := min(replicas(newRc)+inc, desired)
	fmt.Fprintf(cfg.Out, "Scaling %s up to %d\n", newRc.Name, next)
	return scaleAndWait(ctx, cfg, newRc.Name, next)
}

// scaleDown shrinks oldRc as far as keeps minAvailable pods available,
// counting the new controller's available pods.
func scaleDown(ctx context.Context, cfg Config, newRc, oldRc *corev1.ReplicationController, desired, minAvailable int32) (*corev1.ReplicationController, error) {
	if replicas(oldRc) == 0 {
		return oldRc, nil
	}
	fresh, err := cfg.Client.CoreV1().ReplicationControllers(cfg.Namespace).Get(ctx, newRc.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get replicationcontroller %s: %w", newRc.Name, err)
	}
	newAvailable := int32(0)
	if fresh.Status.ObservedGeneration >= fresh.Generation {
		newAvailable = min(fresh.Status.AvailableReplicas, replicas(newRc))
	}
	all := replicas(oldRc) + replicas(newRc)
	dec := all - minAvailable - (replicas(newRc) - newAvailable)
	if dec <= 0 {
		return oldRc, nil
	}
	next := max(0, replicas(oldRc)-dec)
	if replicas(newRc) == desired && newAvailable == desired {
		next = 0
	}
	fmt.Fprintf(cfg.Out, "Scaling %s down to %d\n", oldRc.Name, next)
	return scaleAndWait(ctx, cfg, oldRc.Name, next)
}

// scaleAndWait sets spec.replicas and waits until the controller's status
// shows that many pods.
func scaleAndWait(ctx context.Context, cfg Config, name string, n int32) (*corev1.ReplicationController, error) {
	if _, err := updateRC(ctx, cfg, name, func(rc *corev1.ReplicationController) { rc.Spec.Replicas = ptr(n) }); err != nil {
		return nil, err
	}
	var out *corev1.ReplicationController
	err := wait.PollUntilContextTimeout(ctx, cfg.PollInterval, cfg.Timeout, true, func(ctx context.Context) (bool, error) {
		rc, err := cfg.Client.CoreV1().ReplicationControllers(cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		out = rc
		return rc.Status.ObservedGeneration >= rc.Generation && rc.Status.Replicas == replicas(rc), nil
	})
	if err != nil {
		return nil, fmt.Errorf("scaling %s to %d: %w", name, n, err)
	}
	return out, nil
}

// finish drops the progress annotations, waits for the new controller to
// settle and applies the cleanup policy.
func finish(ctx context.Context, cfg Config, oldRc, newRc *corev1.ReplicationController, policy cleanup) error {
	newRc, err := updateRC(ctx, cfg, newRc.Name, func(rc *corev1.ReplicationController) {
		delete(rc.Annotations, AnnotationSourceID)
		delete(rc.Annotations, AnnotationDesiredReplicas)
	})
	if err != nil {
		return err
	}
	rcs := cfg.Client.CoreV1().ReplicationControllers(cfg.Namespace)
	if err := wait.PollUntilContextTimeout(ctx, cfg.PollInterval, cfg.Timeout, true, func(ctx context.Context) (bool, error) {
		rc, err := rcs.Get(ctx, newRc.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		newRc = rc
		return rc.Status.ObservedGeneration >= rc.Generation && rc.Status.Replicas == replicas(rc), nil
	}); err != nil {
		return fmt.Errorf("waiting for %s to have its replicas: %w", newRc.Name, err)
	}
	switch policy {
	case renameNew:
		fmt.Fprintf(cfg.Out, "Update succeeded. Deleting old controller: %s\n", oldRc.Name)
		if err := rcs.Delete(ctx, oldRc.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete replicationcontroller %s: %w", oldRc.Name, err)
		}
		if err := waitGone(ctx, cfg, oldRc.Name); err != nil {
			return err
		}
		fmt.Fprintf(cfg.Out, "Renaming %s to %s\n", newRc.Name, oldRc.Name)
		return rename(ctx, cfg, newRc, oldRc.Name)
	default:
		fmt.Fprintf(cfg.Out, "Update succeeded. Deleting %s\n", oldRc.Name)
		if err := rcs.Delete(ctx, oldRc.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete replicationcontroller %s: %w", oldRc.Name, err)
		}
		return nil
	}
}

// rename recreates rc as name: the copy is deleted orphaning its pods,
// then created under the new name, whose selector adopts them.
func rename(ctx context.Context, cfg Config, rc *corev1.ReplicationController, name string) error {
	rcs := cfg.Client.CoreV1().ReplicationControllers(cfg.Namespace)
	orphan := metav1.DeletePropagationOrphan
	if err := rcs.Delete(ctx, rc.Name, metav1.DeleteOptions{PropagationPolicy: &orphan}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete replicationcontroller %s: %w", rc.Name, err)
	}
	if err := waitGone(ctx, cfg, rc.Name); err != nil {
		return err
	}
	renamed := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: rc.Namespace, Labels: rc.Labels, Annotations: rc.Annotations},
		Spec:       rc.Spec,
	}
	if _, err := rcs.Create(ctx, renamed, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create replicationcontroller %s: %w", name, err)
	}
	return nil
}

func waitGone(ctx context.Context, cfg Config, name string) error {
	err := wait.PollUntilContextTimeout(ctx, cfg.PollInterval, max(cfg.Timeout, time.Minute), true, func(ctx context.Context) (bool, error) {
		_, err := cfg.Client.CoreV1().ReplicationControllers(cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		return fmt.Errorf("waiting for replicationcontroller %s to go: %w", name, err)
	}
	return nil
}
