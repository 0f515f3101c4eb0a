// Package containers builds what the node agent asks the CRI runtime to
// create: a pod's sandbox config (identity, host name — the FQDN with
// setHostnameAsFQDN —, namespaces, sysctls, host ports, the runtime
// handler of its RuntimeClass, and the resolver configuration the
// runtime writes as the pod's resolv.conf: per dnsPolicy the cluster DNS
// Service with the cluster's search domains, the node's resolv.conf, or
// only spec.dnsConfig, which is merged in for every policy, all cut to
// the resolvers' limits as the kubelet does) and the config of each
// container attempt — command and args with $(VAR) references expanded,
// the environment (envFrom, env with ConfigMap, Secret, fieldRef and
// resourceFieldRef sources, then the Services' variables:
// KUBERNETES_SERVICE_HOST and, with enableServiceLinks, those of the
// pod's namespace, read from a ServiceCache the agent runs), mounts (the
// pod's volumes, prepared by the volume manager, plus the managed
// /etc/hosts and a fresh termination-message file per attempt),
// resources and security context. An ephemeral container with a target
// joins the target's process namespace.
//
// It is the container-config half of the kubelet's kuberuntime manager,
// with its DNS configurer and Service env vars; the pod worker decides
// when to create what.
package containers
