#!/usr/bin/env bash
# Installs from Debian what the real node (LocalCluster(real_node=True), the `node` test tier) and
# scripts/build-images.sh need: containerd, runc, the CNI plugins, buildah, debootstrap, iptables,
# conntrack and nft (to drop the empty iptables-nft tables kubelet leaves). Skipped when every command is already there (~0 s); one apt-get otherwise (~15 s).
set -euo pipefail
missing=()
for pair in containerd:containerd runc:runc buildah:buildah debootstrap:debootstrap iptables:iptables \
            conntrack:conntrack nft:nftables; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "${pair%%:*}" >/dev/null 2>&1 \
    || missing+=("${pair#*:}")
done
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
if [ "${#missing[@]}" -eq 0 ]; then exit 0; fi
printf '[bootstrap] installing the real node packages from Debian: %s\n' "${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
