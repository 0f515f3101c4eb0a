#!/usr/bin/env bash
# Installs what Flotilla needs on the machine when it is missing: the stock
# kubectl is expected at /usr/bin/kubectl; containerd, runc and the CNI
# plugins come from Debian (the node agent uses them). With --test it also
# installs Debian's docker-registry, which the e2e tests run on loopback to
# test image pulls.
set -euo pipefail
need=()
if [ "${1:-}" = "--test" ]; then
  command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
fi
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
  # policy-rc.d keeps packaged services (docker-registry's) from starting.
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  apt-get install -y -qq "${need[@]}" >/dev/null
  if [ "$own_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
command -v kubectl >/dev/null 2>&1 || echo "install-deps: warning: kubectl not found; e2e tests need /usr/bin/kubectl" >&2
