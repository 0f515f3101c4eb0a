// Package images makes a container's image present before the node agent
// creates the container, as its pull policy asks (the kubelet's image
// manager): Always pulls, IfNotPresent pulls only a missing image, Never
// only checks. Pulls try each matching credential of the pod's image pull
// secrets (dockerconfigjson or dockercfg; most specific registry key
// first), then anonymously, as the kubelet does.
//
// The images the agent imports itself at start (the sandbox's pause image
// and busybox) are always served locally, whatever the pull policy.
package images
