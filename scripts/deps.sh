#!/usr/bin/env bash
# Installs the Debian 12 packages kytkin builds and tests with, only those that are missing.
# Run as root (or with sudo). Every dependency is a Debian package; nothing is downloaded otherwise.
set -euo pipefail

packages=(
  g++ clang libclang-rt-14-dev cmake ninja-build ccache pkg-config git
  libboost1.81-dev                                  # Asio, Beast, Boost.JSON (header-only)
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  librocksdb-dev                                    # the ledger and journal store
  libssl-dev                                        # HMAC-SHA256 card keys, SHA-256 journal chain
  libtomlplusplus-dev                               # the config file (TOML)
  libgtest-dev libgmock-dev libbenchmark-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
