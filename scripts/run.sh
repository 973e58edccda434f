#!/usr/bin/env bash
# Installs what is missing, builds kytkin (Release, -j2) and starts `kytkin serve` on its embedded
# default: RocksDB under ./data, demo accounts and cards, ISO 8583 on 8583, gRPC on 50051, HTTP
# on 8080. Extra arguments go to `kytkin serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2 --target kytkin
exec build/bin/kytkin serve --demo "$@"
