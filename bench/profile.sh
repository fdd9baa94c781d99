#!/usr/bin/env bash
# Profiles spoor's pass-through path with perf and writes a flamegraph SVG (issue 7).
#
#   bench/profile.sh NAME PROTOCOL CONCURRENCY [CONFIG]
#   bench/profile.sh grpc-c32 grpc 32                      # -> bench/profiles/grpc-c32.svg
#
# spoor runs pinned to CPU 0 and spoor-loadgen to CPU 1. The VM has no hardware counters, so
# perf samples the cpu-clock software event, and it unwinds with DWARF because the release
# build keeps no frame pointers (it keeps line tables). Needs perf (Debian's linux-perf) and
# inferno (cargo install inferno). Loopback only; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

name=${1:?name} protocol=${2:?protocol} concurrency=${3:?concurrency}
config=${4:-bench/configs/otlp-batch-nop.yaml}
seconds=${PROFILE_SECONDS:-8}
out=bench/profiles
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

taskset -c 0 target/release/spoor --config "$config" >"$work/spoor.log" 2>&1 &
spoor=$!
trap 'kill $spoor 2>/dev/null || true; rm -rf "$work"' EXIT
port=$([ "$protocol" = grpc ] && echo 14317 || echo 14318)
for _ in $(seq 1 100); do
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
  sleep 0.1
done

# The load runs a little longer than the recording, so every sample is under load.
taskset -c 1 target/release/spoor-loadgen --protocol "$protocol" --endpoint "http://127.0.0.1:$port" \
  --concurrency "$concurrency" --duration "$((seconds + 3))s" --warmup 1s >"$work/load.txt" &
load=$!
sleep 1.5
perf record -e cpu-clock -F 499 --call-graph dwarf,16384 -p "$spoor" -o "$work/perf.data" -- sleep "$seconds" \
  2>"$work/perf.log"
wait $load
perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf >"$work/$name.folded"
inferno-flamegraph --title "spoor $(basename "$config" .yaml), $protocol concurrency $concurrency (cpu-clock)" \
  <"$work/$name.folded" >"$out/$name.svg"
grep -E 'spans/s|p99' "$work/load.txt" || true
echo "wrote $out/$name.svg ($(wc -l <"$work/$name.folded") stacks); load average $(cut -d' ' -f1-3 /proc/loadavg)"
