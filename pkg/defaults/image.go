package defaults

import (
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// pullPolicy is the default pull policy of an image reference: Always for
// the moving "latest" tag (named, or implied by giving neither tag nor
// digest), IfNotPresent otherwise, including for references that do not
// parse (validation reports those).
func pullPolicy(image string) corev1.PullPolicy {
	if tag, ok := imageTag(image); ok && tag == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// The reference grammar of container images (docker/distribution).
var (
	pathComponent = `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
	domainPart    = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
	domainRe      = regexp.MustCompile(`^(?:` + domainPart + `(?:\.` + domainPart + `)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$`)
	pathRe        = regexp.MustCompile(`^` + pathComponent + `(?:/` + pathComponent + `)*$`)
	tagRe         = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	hex64Re       = regexp.MustCompile(`^[a-f0-9]{64}$`)
	digestLengths = map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}
	lowerHexRe    = regexp.MustCompile(`^[a-f0-9]+$`)
)

// imageTag returns the tag an image reference pulls: its explicit tag,
// "latest" when it has neither tag nor digest, "" when only a digest.
// ok is false when the reference is not valid.
func imageTag(ref string) (tag string, ok bool) {
	name, digest, hasDigest := strings.Cut(ref, "@")
	if hasDigest {
		algo, hex, found := strings.Cut(digest, ":")
		if n, known := digestLengths[algo]; !found || !known || len(hex) != n || !lowerHexRe.MatchString(hex) {
			return "", false
		}
	}
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, tag = name[:i], name[i+1:]
		if !tagRe.MatchString(tag) {
			return "", false
		}
	}
	if name == "" || len(name) > 255 || hex64Re.MatchString(name) {
		return "", false
	}
	// The first component is a registry host when it looks like one.
	path := name
	if first, rest, found := strings.Cut(name, "/"); found &&
		(strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first) {
		if !domainRe.MatchString(first) {
			return "", false
		}
		path = rest
	}
	if !pathRe.MatchString(path) {
		return "", false
	}
	if tag == "" && !hasDigest {
		tag = "latest"
	}
	return tag, true
}
