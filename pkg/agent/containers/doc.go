// Package containers builds what the node agent asks the CRI runtime to
// create: a pod's sandbox config (identity, host name, namespaces,
// sysctls, DNS, host ports; the runtime handler of its RuntimeClass) and
// the config of each container attempt — command and args with $(VAR)
// references expanded, the environment (envFrom, env with ConfigMap,
// Secret, fieldRef and resourceFieldRef sources), mounts (the pod's
// volumes, prepared by the volume manager, plus the managed /etc/hosts
// and a fresh termination-message file per attempt), resources and
// security context. An ephemeral container with a target joins the
// target's process namespace.
//
// It is the container-config half of the kubelet's kuberuntime manager;
// the pod worker decides when to create what.
package containers
