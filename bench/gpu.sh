#!/usr/bin/env bash
# GPU check for a machine with an NVIDIA GPU and no network (everything installed beforehand).
#
#   bench/gpu.sh [OUT.json]        (default bench/results/gpu-<UTC date>.json)
#
# 1. Reports the GPU (nvidia-smi) and probes the GPU paths this repository can use, each in its
#    own process: @tensorflow/tfjs-node-gpu with a visible GPU, and onnxruntime-node's CUDA
#    execution provider.
# 2. With tfjs-node-gpu available: runs the backend-tfjs test suite (cross-backend laws against
#    the reference evaluator and ONNX Runtime, model and PEFT fixtures, the loss curve, the
#    leak check) on the node-gpu engine, then the tfjs benchmarks on it.
# 3. Writes one JSON file with all of it: the GPU, each path's availability and the reason when
#    unavailable, test counts, benchmark results. When no GPU path is available it says so
#    (status "no-gpu-path", with the reasons) and exits 0: nothing else was run.
# Finishes within 10 minutes: each phase runs under a timeout drawn from one budget.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=${1:-bench/results/gpu-$(date -u +%Y%m%dT%H%M%SZ).json}
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
deadline=$((SECONDS + 570))
left() { local r=$((deadline - SECONDS)); [ "$r" -lt 10 ] && r=10; echo "$r"; }
say() { echo "[gpu.sh] $*" >&2; }

# --- the GPU ------------------------------------------------------------------------------------
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$tmp/gpu.txt" 2>"$tmp/gpu.err" || true
  nvidia-smi 2>/dev/null | grep -o 'CUDA Version: [0-9.]*' | head -1 >"$tmp/cuda.txt" || true
else
  echo "nvidia-smi not found" >"$tmp/gpu.err"
fi
say "GPU: $(cat "$tmp/gpu.txt" 2>/dev/null || true) $(cat "$tmp/cuda.txt" 2>/dev/null || true) $(cat "$tmp/gpu.err" 2>/dev/null || true)"

# --- the GPU paths (one process each: a native library loads once per process) -------------------
for p in tfjs onnx; do
  timeout 120 node --import tsx bench/tfjs.ts --probe "$p" >"$tmp/probe-$p.json" 2>"$tmp/probe-$p.err" \
    || echo "{\"path\":\"$p\",\"available\":false,\"detail\":\"probe failed: $(tail -1 "$tmp/probe-$p.err" | tr -d '"\\' | cut -c1-200)\"}" >"$tmp/probe-$p.json"
  say "probe $p: $(cat "$tmp/probe-$p.json")"
done

tfjs_gpu=$(node -e 'const p=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8").trim().split("\n").pop());process.stdout.write(p.available?"yes":"no")' "$tmp/probe-tfjs.json" 2>/dev/null || echo no)

# --- tests and benchmarks on tfjs-node-gpu ---------------------------------------------------------
if [ "$tfjs_gpu" = yes ]; then
  say "running the backend-tfjs tests on the node-gpu engine"
  PREFIX_TUNING_TEST_TFJS_ENGINE=node-gpu timeout "$(( $(left) / 2 ))" node scripts/test.mjs packages/backend-tfjs >"$tmp/tests.log" 2>&1
  echo $? >"$tmp/tests.rc"
  tail -15 "$tmp/tests.log" >&2
  say "running the tfjs benchmarks on the node-gpu engine"
  timeout "$(( $(left) - 15 ))" node --import tsx bench/tfjs.ts --engine node-gpu --steps 5 --out "$tmp/bench.json" 2>"$tmp/bench.log"
  echo $? >"$tmp/bench.rc"
  cat "$tmp/bench.log" >&2
fi

# --- the report -----------------------------------------------------------------------------------
node - "$tmp" "$out" "$root" <<'EOF'
const fs = require('fs');
const path = require('path');
const [tmp, out] = process.argv.slice(2);
const read = (f) => { try { return fs.readFileSync(path.join(tmp, f), 'utf8').trim(); } catch { return undefined; } };
const json = (f) => { const t = read(f); if (t === undefined) return undefined; try { return JSON.parse(t.split('\n').pop()); } catch { return { unparsable: t.slice(0, 500) }; } };
const probes = ['tfjs', 'onnx'].map((p) => json(`probe-${p}.json`)).filter(Boolean);
const testsLog = read('tests.log');
const count = (k) => { const m = testsLog && new RegExp(`ℹ ${k} (\\d+)`).exec(testsLog); return m ? Number(m[1]) : undefined; };
const tested = testsLog !== undefined;
const report = {
  date: new Date().toISOString(),
  gpu: read('gpu.txt') || null,
  cuda_driver: read('cuda.txt') || null,
  gpu_error: read('gpu.err') || null,
  paths: probes,
  status: probes.some((p) => p.available) ? (tested ? 'ran' : 'gpu-path-without-tfjs') : 'no-gpu-path',
  note: tested ? undefined : probes.some((p) => p.available)
    ? 'Only onnxruntime-node CUDA is available: the ONNX benchmarks (bench/run.ts) have no CUDA option yet, so nothing ran on the GPU.'
    : 'No GPU path is installed: nothing ran on the GPU. tfjs-node-gpu needs its native addon and libtensorflow 2.9.1 (GPU) with CUDA 11.2 and cuDNN 8.1; onnxruntime-node needs its CUDA provider libraries. See packages/backend-tfjs/README.md.',
  tests: tested ? { engine: 'node-gpu', exit_code: Number(read('tests.rc')), pass: count('pass'), fail: count('fail'), skipped: count('skipped') } : null,
  benchmarks: read('bench.json') ? JSON.parse(read('bench.json')) : null,
};
fs.writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
console.error(`[gpu.sh] ${report.status}: wrote ${out}`);
EOF
