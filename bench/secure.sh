#!/usr/bin/env bash
# The pass-through path (otlp -> batch -> nop, bench/configs/otlp-batch-nop.yaml) with and
# without TLS and bearer auth, and, with BASE_SPOOR=path, the same plain run of another spoor
# binary in turn with this one (A B A B ...), for a regression check of the listener code.
#
#   bench/secure.sh                         release binaries, 5 rounds of 10 s per run
#   BASE_SPOOR=/path/to/old/spoor bench/secure.sh
#   bench/secure.sh --quick                 1 round of 2 s: a smoke run, no conclusions
#
# Server pinned to CPU 0, spoor-loadgen to CPU 1 (concurrency 32, 100-span requests): OTLP/gRPC
# and OTLP/HTTP in plain text, and OTLP/gRPC with TLS and a bearer token.
# Certificates are made with openssl in a temporary directory. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=5 duration=10s warmup=2s
if [ "${1:-}" = --quick ]; then rounds=1 duration=2s warmup=1s; fi
bench/build-binaries.sh >&2
profile=${SPOOR_BENCH_PROFILE:-release}
target=${CARGO_TARGET_DIR:-target}/$profile
spoor=$target/spoor
loadgen=$target/spoor-loadgen
base=${BASE_SPOOR:-}

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
(
  cd "$work"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=bench-ca \
    -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout server.key -out server.csr 2>/dev/null
  echo "subjectAltName=DNS:localhost,IP:127.0.0.1" > server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile server.ext \
    -out server.pem 2>/dev/null
)
token=bench-token-$RANDOM$RANDOM
cat > "$work/secure.yaml" <<YAML
extensions:
  bearertokenauth/in:
    token: $token
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:14317
        tls: {cert_file: $work/server.pem, key_file: $work/server.key}
        auth: {authenticator: bearertokenauth/in}
processors:
  batch:
exporters:
  nop:
service:
  extensions: [bearertokenauth/in]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [nop]
  telemetry:
    metrics:
      address: 127.0.0.1:18888
YAML

# One run: start `binary` with `config`, load it, print "spans/s p50 p99", stop it.
run() {
  local binary=$1 config=$2; shift 2
  taskset -c 0 "$binary" --config "$config" >"$work/server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/14317) 2>/dev/null && break; sleep 0.1; done
  taskset -c 1 "$loadgen" --concurrency 32 --duration "$duration" --warmup "$warmup" --json "$@" \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); print(round(r["spans_per_sec"]), r["latency_ms"]["p50"], r["latency_ms"]["p99"], r["requests_failed"])'
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
}

plain=bench/configs/otlp-batch-nop.yaml
declare -a rows
grpc=(--protocol grpc --endpoint http://127.0.0.1:14317)
http=(--protocol http --endpoint http://127.0.0.1:14318)
for round in $(seq "$rounds"); do
  for protocol in grpc http; do
    declare -n args=$protocol
    if [ -n "$base" ]; then rows+=("base $protocol-plain $(run "$base" "$plain" "${args[@]}")"); fi
    rows+=("this $protocol-plain $(run "$spoor" "$plain" "${args[@]}")")
  done
  rows+=("this grpc-tls+bearer $(run "$spoor" "$work/secure.yaml" --protocol grpc --endpoint https://localhost:14317 \
    --ca-file "$work/ca.pem" --authorization "Bearer $token")")
  echo "round $round done" >&2
done

printf '%s\n' "${rows[@]}" | python3 -c '
import statistics, sys
runs = {}
for line in sys.stdin:
    binary, mode, rate, p50, p99, failed = line.split()
    runs.setdefault((binary, mode), []).append((float(rate), float(p50), float(p99), int(failed)))
print("| binary | protocol and listener | runs | spans/s (median, min-max) | p50 / p99 ms (median) | failed requests |")
print("| --- | --- | --- | --- | --- | --- |")
for (binary, mode), values in runs.items():
    rates = [v[0] for v in values]
    print(f"| {binary} | {mode} | {len(values)} | {statistics.median(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) "
          f"| {statistics.median(v[1] for v in values):.1f} / {statistics.median(v[2] for v in values):.1f} "
          f"| {sum(v[3] for v in values)} |")
print()
for protocol in ("grpc", "http"):
    mode = f"{protocol}-plain"
    if ("base", mode) in runs:
        this, base = (statistics.median(v[0] for v in runs[(binary, mode)]) for binary in ("this", "base"))
        print(f"this/base {mode} throughput: {this / base:.3f}")
'
