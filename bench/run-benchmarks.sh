#!/usr/bin/env bash
# The standard benchmark suite of kytkin on this machine (a few minutes):
#   1. the micro benchmarks (codec, routing, storage, ISO listener), briefly;
#   2. a fresh `kytkin serve --demo` on a temp data dir, durable journal on (every answer synced);
#   3. `kytkin load` over ISO 8583 and gRPC, closed loop (maximum throughput) and open loop at
#      fixed rates (latency measured from when each request was due).
# Writes bench/results/<UTC date-time>.md (a markdown table) and the raw outputs and JSON next to
# it in bench/results/<UTC date-time>/. Needs a Release build:
#   cmake -S . -B build -G Ninja && cmake --build build
#   bench/run-benchmarks.sh [BUILD_DIR]        (default: build)
# Environment: LOAD_DURATION (measured seconds per load run, default 10), LOAD_WARMUP (2).
# Not part of CI: CI runs tests, and a benchmark on a shared machine is not a test.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$repo/build}
bin=$build/bin
duration=${LOAD_DURATION:-10}
warmup=${LOAD_WARMUP:-2}
stamp=$(date -u +%Y-%m-%dT%H%MZ)
out_dir=$repo/bench/results/$stamp
table=$repo/bench/results/$stamp.md
for b in kytkin iso8583_bench routing_bench storage_bench iso_listener_bench; do
  [[ -x $bin/$b ]] || { echo "missing $bin/$b: build first (see the top of this script)" >&2; exit 2; }
done
mkdir -p "$out_dir"
work=$(mktemp -d /tmp/kytkin-bench.XXXXXX)
server_pid=
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"; wait "$server_pid" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "machine: $(nproc) cores, $cpu; load average before: $load_before"

# 1. Micro benchmarks: a few seconds each.
for b in iso8583_bench routing_bench storage_bench iso_listener_bench; do
  echo "== $b"
  "$bin/$b" --benchmark_min_time=0.1 --benchmark_out="$out_dir/$b.json" \
    --benchmark_out_format=json | tee "$out_dir/$b.txt"
done

# 2. A fresh server, durable journal on (the default: fdatasync before every answer).
"$bin/kytkin" serve --demo --data-dir "$work/data" --iso-listen 127.0.0.1:0 \
  --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 >"$out_dir/serve.out" 2>"$out_dir/serve.err" &
server_pid=$!
for _ in $(seq 1 100); do [[ -s $work/data/ports.json ]] && break; sleep 0.1; done
[[ -s $work/data/ports.json ]] || { echo "kytkin serve did not start" >&2; cat "$out_dir/serve.err" >&2; exit 1; }
ports=$work/data/ports.json

# 3. The load runs: name, then `kytkin load` flags. The first creates the cards.
runs=(
  "iso8583 closed loop|--protocol iso8583 --closed-loop --connections 8 --depth 16"
  "iso8583 open 50000/s|--protocol iso8583 --rate 50000 --connections 8 --depth 16"
  "iso8583 open 60000/s|--protocol iso8583 --rate 60000 --connections 8 --depth 16"
  "grpc closed loop|--protocol grpc --closed-loop --connections 8 --depth 16"
  "grpc open 15000/s|--protocol grpc --rate 15000 --connections 8 --depth 16"
  "grpc open 30000/s|--protocol grpc --rate 30000 --connections 8 --depth 16"
)
field() { sed -n "s/.*\"$2\": \([0-9.a-z]*\).*/\1/p" "$1" | head -1; }
# Latency fields from the "latency_us" object only ("max" also names the server's peak RSS).
latency() { grep '"latency_us"' "$1" | sed -n "s/.*\"$2\": \([0-9.]*\).*/\1/p" | head -1; }
{
  echo "# kytkin benchmark results $stamp"
  echo
  echo "Machine: $(nproc) cores, $cpu. Load generator on the same machine (1 thread)."
  echo "Server: \`kytkin serve --demo\`, durable journal on (fdatasync before every answer)."
  echo "Each load run: ${warmup} s warm-up, ${duration} s measured; latency in µs from when each"
  echo "request was due (open loop) or sent (closed loop). Mix: 60% authorizations, 20% purchases,"
  echo "5% reversals of own approvals, 5% balance inquiries, 5% unknown cards, 5% empty accounts;"
  echo "10,000 cards, Zipf 0.99."
  echo
  echo "| run | offered/s | achieved/s | p50 | p90 | p99 | p99.9 | p99.99 | max | errors+timeouts | valid |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
} >"$table"
setup=
i=0
for run in "${runs[@]}"; do
  name=${run%%|*}
  flags=${run#*|}
  i=$((i + 1))
  json=$out_dir/load-$i.json
  echo "== kytkin load: $name"
  # shellcheck disable=SC2086
  "$bin/kytkin" load --ports-json "$ports" $flags --duration "$duration" --warmup "$warmup" \
    --server-pid "$server_pid" $setup --json "$json" | tee "$out_dir/load-$i.txt" || true
  setup=--skip-setup
  [[ -s $json ]] || { echo "| $name | | | | | | | | | run failed | no |" >>"$table"; continue; }
  errors=$(( $(field "$json" errors) + $(field "$json" timeouts) ))
  valid=$(field "$json" valid)
  printf '| %s | %.0f | %.0f | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" \
    "$(field "$json" offered_per_s)" "$(field "$json" achieved_per_s)" "$(latency "$json" p50)" \
    "$(latency "$json" p90)" "$(latency "$json" p99)" "$(latency "$json" p99_9)" \
    "$(latency "$json" p99_99)" "$(latency "$json" max)" "$errors" \
    "$([[ $valid == true ]] && echo yes || echo INVALID)" >>"$table"
done
rss_kb=$(sed -n 's/VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$server_pid/status")
kill -TERM "$server_pid"; wait "$server_pid" || true
server_pid=
"$bin/kytkin" ledger verify --data-dir "$work/data" >"$out_dir/ledger-verify.txt" 2>&1 &&
  verified=yes || verified=NO
{
  echo
  echo "Server peak RSS: $((rss_kb / 1024)) MiB. \`kytkin ledger verify\` after the runs: $verified."
  echo "Load average (1/5/15 min) before the suite: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "Raw outputs: bench/results/$stamp/."
} >>"$table"
echo
cat "$table"
