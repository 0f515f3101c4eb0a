// Package noderestriction is the NodeRestriction admission plugin: it
// holds a node agent (system:node:NAME in system:nodes) to its own Node
// object, without the labels reserved for administrators, and to the pods
// bound to it, as upstream's plugin of that name. The Node authorizer
// decides which requests a node may make at all; this plugin checks what
// those requests change.
package noderestriction
