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

// imageIndex maps every normalised image name on the nodes to its size and
// the number of nodes holding it.
type imageIndex struct {
	size  map[string]int64
	nodes map[string]int
	on    map[string]map[string]bool // node → images
	total int
}

func newImageIndex(s *Snapshot) *imageIndex {
	ix := &imageIndex{size: map[string]int64{}, nodes: map[string]int{}, on: map[string]map[string]bool{}, total: len(s.Nodes)}
	for _, ni := range s.Nodes {
		have := map[string]bool{}
		for _, img := range ni.Node.Status.Images {
			for _, n := range img.Names {
				have[normalizeImage(n)] = true
				ix.size[normalizeImage(n)] = img.SizeBytes
			}
		}
		for n := range have {
			ix.nodes[n]++
		}
		ix.on[ni.Node.Name] = have
	}
	return ix
}

// imageLocality favours nodes that already hold the pod's images, big
// images and images few nodes have counting most: 0..100.
func imageLocality(pod *v1.Pod, ix *imageIndex, node *v1.Node) int64 {
	var sum int64
	containers := append(append([]v1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range containers {
		img := normalizeImage(c.Image)
		if !ix.on[node.Name][img] || ix.total == 0 {
			continue
		}
		sum += int64(float64(ix.size[img]) * float64(ix.nodes[img]) / float64(ix.total))
	}
	hi := int64(maxContainerImageThreshold * len(containers))
	if hi <= minImageThreshold {
		return 0
	}
	sum = max(min(sum, hi), minImageThreshold)
	return 100 * (sum - minImageThreshold) / (hi - minImageThreshold)
}
