package ingress

import (
	"sort"

	networkingv1 "k8s.io/api/networking/v1"
)

// classes is what the IngressClasses say about which Ingresses are ours.
type classes struct {
	ours        map[string]bool // names of the IngressClasses with our controller
	defaultOurs bool            // the cluster's default class is one of them
}

// readClasses reads list. The default class is the one upstream's
// DefaultIngressClass admission gives a new Ingress (the newest marked
// default, the lowest name among equals), so an Ingress written before
// any class existed is served by whoever a new one would be given to.
func readClasses(list []*networkingv1.IngressClass) classes {
	c := classes{ours: map[string]bool{}}
	var defaults []*networkingv1.IngressClass
	for _, ic := range list {
		if ic.Spec.Controller == ControllerName && ic.DeletionTimestamp == nil {
			c.ours[ic.Name] = true
		}
		if ic.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true" {
			defaults = append(defaults, ic)
		}
	}
	if len(defaults) > 0 {
		sort.Slice(defaults, func(i, j int) bool {
			a, b := defaults[i].CreationTimestamp, defaults[j].CreationTimestamp
			if !a.Equal(&b) {
				return b.Before(&a)
			}
			return defaults[i].Name < defaults[j].Name
		})
		c.defaultOurs = c.ours[defaults[0].Name]
	}
	return c
}

// any tells whether an IngressClass of ours exists: without one there is
// nothing to serve and no reason to hold the node's ports.
func (c classes) any() bool { return len(c.ours) > 0 }

// serves tells whether ing is ours: its class (spec.ingressClassName, else
// the deprecated annotation) is one of ours, or it names none and the
// default class is ours.
func (c classes) serves(ing *networkingv1.Ingress) bool {
	if ing.DeletionTimestamp != nil {
		return false
	}
	if n := ing.Spec.IngressClassName; n != nil {
		return c.ours[*n]
	}
	if n, ok := ing.Annotations[classAnnotation]; ok {
		return c.ours[n]
	}
	return c.defaultOurs
}
