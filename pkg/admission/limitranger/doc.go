// Package limitranger is upstream's LimitRanger admission plugin. In the
// mutating phase it gives every container of a new pod the default
// limits and requests of the namespace's LimitRanges (Container type) it
// does not state, and records what it set in the annotation
// kubernetes.io/limit-ranger. In the validating phase it refuses pods
// and persistent volume claims outside a LimitRange's min, max or
// maxLimitRequestRatio, with upstream's messages.
package limitranger
