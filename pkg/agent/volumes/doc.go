// Package volumes prepares the volumes a pod's containers mount (the
// kubelet's volume manager, for the volume types a single node serves
// itself): emptyDir (on disk, or tmpfs for medium Memory), hostPath (with
// its type check), persistentVolumeClaim (the host directory of a bound
// hostPath or local PersistentVolume), and the API-backed configMap,
// secret, downwardAPI and projected volumes (service account tokens
// included), whose files are written the way the kubelet's atomic writer
// does so that a later update swaps them in one rename.
//
// Each pod's files live under DATA-DIR/pods/UID. A running pod's
// API-backed volumes are rewritten every ten seconds (Refresh), so
// changed objects and renewed tokens reach the containers without a
// restart; Forget and Cleanup drop what a pod left once it is gone
// (mounts detached first, its logs under DATA-DIR/logs too), and
// TeardownVolumes removes the volumes of a pod that finished.
package volumes
