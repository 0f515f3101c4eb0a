#!/usr/bin/env bash
# Installs what Flotilla needs on the machine when it is missing: the stock
# kubectl is expected at /usr/bin/kubectl; containerd, runc and the CNI
# plugins come from Debian (the node agent uses them). With --test it also
# installs Debian's docker-registry, which the e2e tests run on loopback to
# test image pulls. With --conformance it also installs the Debian tools that
# hack/conformance copies into the stand-ins for upstream's e2e test images
# (wget, curl, dig, nc, ip, etcd, ...), and copies Debian's dynamically
# linked busybox to $CONFORMANCE_BUSYBOX.
#
# The node's built-in busybox image is made of the binary of Debian's busybox
# package, which this script unpacks to $NODE_BUSYBOX (pkg/images'
# DynamicBusybox): the package conflicts with busybox-static (/bin/busybox,
# which the agent looks for), and busybox-static's shell runs its own applets
# even where the image has its own wget and nc (busybox 1.35's wget crashes
# on -T, its nc has no -z).
set -euo pipefail
NODE_BUSYBOX=/usr/local/lib/flotilla/busybox
CONFORMANCE_BUSYBOX=/usr/local/lib/flotilla-conformance/busybox
test_deps=0
conformance=0
for arg in "$@"; do
  case "$arg" in
    --test) test_deps=1 ;;
    --conformance) conformance=1 ;;
    *) echo "usage: $0 [--test] [--conformance]" >&2; exit 2 ;;
  esac
done
need=()
if [ "$test_deps" = 1 ]; then
  command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
fi
if [ "$conformance" = 1 ]; then
  [ -x /usr/bin/wget ] || need+=(wget)
  [ -x /usr/bin/curl ] || need+=(curl)
  [ -x /usr/bin/dig ] && [ -x /usr/bin/nslookup ] || need+=(bind9-dnsutils)
  [ -x /usr/bin/host ] || need+=(bind9-host)
  [ -x /bin/nc.openbsd ] || need+=(netcat-openbsd)
  [ -x /bin/ip ] && [ -x /bin/ss ] || need+=(iproute2)
  [ -x /usr/bin/etcd ] || need+=(etcd-server)
fi
command -v containerd >/dev/null 2>&1 || need+=(containerd)
command -v runc >/dev/null 2>&1 || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
[ -x /bin/busybox ] || need+=(busybox-static)
fetch_busybox=0
if [ ! -x "$NODE_BUSYBOX" ]; then
  fetch_busybox=1
fi
copy_busybox=0
if [ "$conformance" = 1 ] && [ ! -x "$CONFORMANCE_BUSYBOX" ]; then
  copy_busybox=1
fi
if [ ${#need[@]} -gt 0 ] || [ "$fetch_busybox" = 1 ] || [ "$copy_busybox" = 1 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install: ${need[*]} $NODE_BUSYBOX $CONFORMANCE_BUSYBOX" >&2
    exit 1
  fi
fi
if [ ${#need[@]} -gt 0 ] || [ "$fetch_busybox" = 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "install-deps: installing ${need[*]}"
  # policy-rc.d keeps packaged services (docker-registry's, etcd's: it would
  # take the node's etcd ports) from starting.
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  apt-get install -y -qq "${need[@]}" >/dev/null
  if [ "$own_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
if [ "$fetch_busybox" = 1 ]; then
  echo "install-deps: unpacking Debian's busybox to $NODE_BUSYBOX"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root busybox >/dev/null)
  dpkg-deb -x "$tmp"/busybox_*.deb "$tmp/root"
  install -D -m 0755 "$tmp/root/bin/busybox" "$NODE_BUSYBOX"
fi
if [ "$copy_busybox" = 1 ]; then
  install -D -m 0755 "$NODE_BUSYBOX" "$CONFORMANCE_BUSYBOX"
fi
command -v kubectl >/dev/null 2>&1 || echo "install-deps: warning: kubectl not found; e2e tests need /usr/bin/kubectl" >&2
