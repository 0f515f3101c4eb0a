// Package quota holds the ResourceQuota evaluators: what a pod, a
// service, a persistent volume claim or any other counted object uses of
// a quota, as upstream v1.32 counts it. The ResourceQuota admission
// plugin (k8s.io/apiserver's generic one) charges new objects with them,
// and the resourcequota controller recalculates status.used with them.
package quota
