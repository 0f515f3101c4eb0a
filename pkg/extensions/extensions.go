// Package extensions holds Flotilla's additions to the Kubernetes API and
// how they are carried on standard objects.
//
// requiredDuringSchedulingRequiredDuringExecution is a node selector in a
// pod's spec.affinity.nodeAffinity that must hold while the pod runs, not
// only when it is scheduled: when a node's labels change so that it no
// longer matches, the pod is evicted (and its controller recreates it on
// a node that matches). The k8s.io/api types have no field for it, so the
// API server lifts the field into the RequiredDuringExecutionAnnotation of
// the pod, or of the pod template of a workload, when it decodes a request;
// the scheduler treats it as a required node selector and the node
// lifecycle controller evicts pods that stop matching.
package extensions

import (
	"bytes"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

const (
	// RequiredDuringExecutionField is the extension field's name under
	// spec.affinity.nodeAffinity.
	RequiredDuringExecutionField = "requiredDuringSchedulingRequiredDuringExecution"
	// RequiredDuringExecutionAnnotation holds the field's node selector
	// as JSON.
	RequiredDuringExecutionAnnotation = "flotilla.io/required-during-execution"
)

// RequiredDuringExecution is the node selector an object's annotations
// carry, or nil.
func RequiredDuringExecution(annotations map[string]string) (*corev1.NodeSelector, error) {
	v, ok := annotations[RequiredDuringExecutionAnnotation]
	if !ok {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(v)))
	dec.DisallowUnknownFields()
	var sel corev1.NodeSelector
	if err := dec.Decode(&sel); err != nil {
		return nil, fmt.Errorf("%s: %w", RequiredDuringExecutionField, err)
	}
	return &sel, nil
}

// SimulatedNodeAnnotation ("true") marks the nodes of `flotilla sim`:
// their addresses are made up and never dialled, their pods run nothing.
const SimulatedNodeAnnotation = "flotilla.io/simulated"

// Resource usage of simulated nodes (issue 11). Real nodes are scraped at
// https://InternalIP:daemonEndpoints.kubeletEndpoint.port; a simulated
// node's address is made up, so its Node names where its sim serves the
// same endpoints instead.
const (
	// StatsEndpointAnnotation on a Node is the base URL of its usage
	// endpoints: BASE + "/metrics/resource" and BASE + "/stats/summary".
	StatsEndpointAnnotation = "flotilla.io/stats-endpoint"
	// SimCPUAnnotation and SimMemoryAnnotation on a pod bound to a
	// simulated node are the usage its containers report, split evenly
	// between them: a quantity ("250m", "64Mi") or a ramp "FROM->TO/DURATION"
	// ("100m->900m/60s": linear from FROM to TO over DURATION since the
	// container started running, then TO).
	SimCPUAnnotation    = "flotilla.io/sim-cpu"
	SimMemoryAnnotation = "flotilla.io/sim-memory"
)
