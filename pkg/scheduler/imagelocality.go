package scheduler

import (
	"strings"

	v1 "k8s.io/api/core/v1"
)

// Image locality thresholds, as upstream: below 23MB an image is not worth
// chasing; 1000MB per container is as good as it gets.
const (
	minImageThreshold          = 23 * 1024 * 1024
	maxContainerImageThreshold = 1000 * 1024 * 1024
)

// normalizeImage spells an image reference fully, so "nginx" and
// "docker.io/library/nginx:latest" compare equal.
func normalizeImage(ref string) string {
	name := ref
	if i := strings.IndexByte(name, '/'); i < 0 {
		name = "docker.io/library/" + name
	} else if first := name[:i]; !strings.ContainsAny(first, ".:") && first != "localhost" {
		name = "docker.io/" + name
	}
	last := name[strings.LastIndexByte(name, '/')+1:]
	if !strings.ContainsAny(last, ":@") {
		name += ":latest"
	}
	return name
}

// nodeImages maps the normalised names of the node's images to their
// sizes.
func nodeImages(node *v1.Node) map[string]int64 {
	if len(node.Status.Images) == 0 {
		return nil
	}
	out := map[string]int64{}
	for _, img := range node.Status.Images {
		for _, n := range img.Names {
			out[normalizeImage(n)] = img.SizeBytes
		}
	}
	return out
}

// imageIndex maps every normalised image name on the nodes to its size and
// the number of nodes holding it.
type imageIndex struct {
	size  map[string]int64
	nodes map[string]int
	total int
}

func newImageIndex(s *Snapshot) *imageIndex {
	ix := &imageIndex{size: map[string]int64{}, nodes: map[string]int{}, total: len(s.Nodes)}
	for _, ni := range s.Nodes {
		for n, size := range ni.images {
			ix.size[n] = size
			ix.nodes[n]++
		}
	}
	return ix
}

// podImages lists the normalised images of the pod's containers, init
// containers first.
func podImages(pod *v1.Pod) []string {
	out := make([]string, 0, len(pod.Spec.InitContainers)+len(pod.Spec.Containers))
	for i := range pod.Spec.InitContainers {
		out = append(out, normalizeImage(pod.Spec.InitContainers[i].Image))
	}
	for i := range pod.Spec.Containers {
		out = append(out, normalizeImage(pod.Spec.Containers[i].Image))
	}
	return out
}

// imageLocality favours nodes that already hold the pod's images, big
// images and images few nodes have counting most: 0..100.
func imageLocality(pod *v1.Pod, ix *imageIndex, ni *NodeInfo) int64 {
	return imageLocalityOf(podImages(pod), ix, ni)
}

// imageLocalityOf is imageLocality with the pod's images listed.
func imageLocalityOf(images []string, ix *imageIndex, ni *NodeInfo) int64 {
	hi := int64(maxContainerImageThreshold * len(images))
	if hi <= minImageThreshold {
		return 0
	}
	var sum int64
	for _, img := range images {
		if _, ok := ni.images[img]; !ok || ix.total == 0 {
			continue
		}
		sum += int64(float64(ix.size[img]) * float64(ix.nodes[img]) / float64(ix.total))
	}
	sum = max(min(sum, hi), minImageThreshold)
	return 100 * (sum - minImageThreshold) / (hi - minImageThreshold)
}
