// Package staticpods is the node agent's configuration source for static
// pods (the kubelet's file and http config sources): pods it runs from
// manifests in a directory (--pod-manifest-path) or at a URL
// (--manifest-url) rather than from the API, and the mirror pods that
// show them in the API.
//
// A Watcher polls the sources into a Table, which the pod worker consults
// before the API: a static pod runs from its manifest, the API's pod of
// that name is only its mirror. Each manifest pod is named NAME-NODE, its
// UID is a hash of the manifest, the node and the source (so an edited
// manifest is a new pod), and it gets the API server's defaults and
// validation; one that references ConfigMaps or Secrets is rejected, as
// the API server rejects such mirrors. Mirrors creates and deletes the
// mirror pods; IsMirror, IsStatic and MirrorOf tell the kinds of pods
// apart by the kubelet's annotations.
package staticpods
