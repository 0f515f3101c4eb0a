#!/usr/bin/env bash
# Installs what Flotilla needs on the machine when it is missing: the stock
# kubectl is expected at /usr/bin/kubectl; containerd, runc and the CNI
# plugins come from Debian (the node agent uses them).
set -euo pipefail
need=()
command -v containerd >/dev/null 2>&1 || need+=(containerd)
command -v runc >/dev/null 2>&1 || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
[ -x /bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install: ${need[*]}" >&2
    exit 1
  fi
  echo "install-deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v kubectl >/dev/null 2>&1 || echo "install-deps: warning: kubectl not found; e2e tests need /usr/bin/kubectl" >&2
