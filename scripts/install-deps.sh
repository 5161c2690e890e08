#!/usr/bin/env bash
# Installs the Debian packages ferry builds, tests and demos with; does nothing
# when they are all present. Needs root (apt-get) only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libpq-dev librdkafka-dev libprotobuf-dev protobuf-compiler librocksdb-dev liblz4-dev
  libspdlog-dev libfmt-dev libgtest-dev libcli11-dev nlohmann-json3-dev
  postgresql-15 postgresql-client-15 util-linux
)

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
