#!/bin/bash
# Installs everything uvpn's build, tests, demo and benchmarks need on a fresh Debian 12, via apt-get.
# Idempotent and quiet: when every package is already installed it does nothing (no apt-get update).
# Needs root (or sudo) for the install itself.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libgtest-dev libgmock-dev
  iproute2 iputils-ping util-linux procps psmisc
  iperf3 curl openssh-server openssh-client redis-server redis-tools socat
  python3 python3-matplotlib
  openmpi-bin libopenmpi-dev
  spin
  libsodium-dev libssl-dev python3-cryptography tshark
  musl-tools
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Daemons from these packages (sshd, redis) must not start on install: the tests run their own instances.
policy_made=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  policy_made=1
fi
trap '[ $policy_made = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d' EXIT
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
