// Package persistentvolume binds PersistentVolumeClaims to
// PersistentVolumes and provisions local-path volumes, in the manner of
// upstream's persistentvolume binder controller and the rancher
// local-path provisioner.
//
// # Binding
//
// A Pending claim is bound to the smallest Available volume that
// satisfies it: same storage class ("" binds only to volumes without a
// class), same volume mode, every requested access mode offered, capacity
// at least the storage request, spec.selector matching the volume's
// labels, and spec.volumeName, when set, naming it. A volume whose
// claimRef already names the claim (pre-bound) wins over every other.
// Binding writes the volume first (spec.claimRef, annotation
// pv.kubernetes.io/bound-by-controller when the controller chose it,
// status.phase Bound) and then the claim (spec.volumeName, annotations
// pv.kubernetes.io/bind-completed and pv.kubernetes.io/bound-by-controller,
// status.phase Bound with the volume's capacity and access modes), so an
// interrupted bind is finished by the next sync.
//
// Claims of a class whose volumeBindingMode is WaitForFirstConsumer are
// bound only once a consumer has a node: the annotation
// volume.kubernetes.io/selected-node when something sets it, otherwise
// the node of a scheduled pod that mounts the claim (Flotilla's scheduler
// does not set the annotation). Volumes are then also required to accept
// that node through their spec.nodeAffinity.
//
// When the claim of a bound volume is deleted, the volume becomes
// Released. reclaimPolicy Retain leaves it so; Delete removes the volume
// object, and for volumes this package provisioned first their directory
// (Config.RemoveDirectory). Static volumes with reclaimPolicy Delete are
// deleted without touching their data: Flotilla has no deleter plugins
// (upstream would mark such a volume Failed instead).
//
// # Default storage class
//
// Upstream's DefaultStorageClass admission plugin fills in the default
// class of claims created without spec.storageClassName, and the binder
// retroactively does so for older claims. Flotilla's API server has no
// such admission plugin, so this controller sets the class of every
// claim created without one while a default class exists, before trying
// to bind it. A claim that asks for storageClassName "" keeps it.
//
// # Local-path provisioner
//
// The built-in StorageClass local-path (LocalPathStorageClass: provisioner
// flotilla.io/local-path, the default class, WaitForFirstConsumer,
// reclaimPolicy Delete) is created when the API server serves
// storage.k8s.io/v1 StorageClasses; when it does not, the controller
// still knows the class and serves claims that name it (or that get it
// as the default). A claim of that class that no existing volume
// satisfies gets, once a consumer is on a node, a volume named
// pvc-<claim UID> of exactly the requested size, pre-bound to the claim,
// with a hostPath of type DirectoryOrCreate at
// <BaseDir>/<namespace>_<claim>_<volume> and a node affinity requiring
// kubernetes.io/hostname of that node. The node agent creates the
// directory when it mounts the volume. Claims of the class in Immediate
// binding mode are provisioned the same way, as soon as a consumer is
// scheduled: a node-local volume needs a node.
package persistentvolume
