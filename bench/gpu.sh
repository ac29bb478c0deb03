#!/usr/bin/env bash
# GPU check for a machine with an NVIDIA GPU and no network (everything installed beforehand).
#
#   bench/gpu.sh [OUT.json]        (default bench/results/gpu-<UTC date>.json)
#
# 1. Reports the GPU (nvidia-smi) and probes the GPU paths this repository can use, each in its
#    own process: onnxruntime-node's CUDA execution provider (bench/cuda.ts: GPT-2 small's
#    forward, with ORT's node placement read from its profile), and @tensorflow/tfjs-node-gpu.
# 2. With the CUDA provider: runs the backend-onnx test suite on it (PREFIX_TUNING_ONNX_EP=cuda,
#    NVIDIA_TF32_OVERRIDE=0 so that matrix products keep fp32 and the 1e-4 tolerances of the
#    transformers fixtures apply), then bench/cuda.ts --train (where a train step's time goes:
#    ORT's per-node profile, MLP vs direct parametrisation, 8 steps per run) and --decode (1 vs 8
#    tokens per run), then the ONNX benchmarks with `--ep cuda`, each followed by
#    its PyTorch mirror on the same GPU when a Python with torch, transformers and peft is found
#    ($PREFIX_TUNING_BENCH_PYTHON, else python3). TF32 stays off for both sides of the comparison.
# 3. With tfjs-node-gpu: runs the backend-tfjs test suite on the node-gpu engine, then the tfjs
#    benchmarks on it.
# 4. Writes one JSON file with all of it: the GPU, each path's availability and the reason when
#    unavailable, test counts, benchmark results. When no GPU path is available it says so
#    (status "no-gpu-path", with the reasons) and exits 0: nothing else was run.
# On a GPU machine without Node.js or network, bench/gpu-payload.sh packs Node, node_modules and
# onnxruntime-node's CUDA provider to carry there, and its setup scripts end by running this one.
# Finishes within 10 minutes: each phase runs under a timeout drawn from one budget
# (GPU_SH_SECONDS, default 570), and a phase left under 5 s of it is skipped (and recorded
# nothing). GPU_SH_LOGS=DIR keeps every phase's log there.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=${1:-bench/results/gpu-$(date -u +%Y%m%dT%H%M%SZ).json}
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
# GPU_SH_LOGS=DIR keeps the phases' logs (test output, probe and benchmark JSON) in DIR
trap '[ -n "${GPU_SH_LOGS:-}" ] && mkdir -p "$GPU_SH_LOGS" && cp "$tmp"/* "$GPU_SH_LOGS"/ 2>/dev/null; rm -rf "$tmp"' EXIT
deadline=$((SECONDS + ${GPU_SH_SECONDS:-570}))
left() { echo $((deadline - SECONDS)); }
say() { echo "[gpu.sh] $*" >&2; }
# budget MAX MARGIN: a phase's timeout in seconds, min(MAX, seconds left - MARGIN)
budget() { local r=$(( $(left) - $2 )); [ "$1" -lt "$r" ] && r=$1; echo "$r"; }
# fits SECONDS WHAT: whether a phase with that budget runs (at least 5 s); says so when it is skipped
fits() { [ "$1" -ge 5 ] || { say "skipping $2: the GPU_SH_SECONDS budget leaves it $1 s (under 5)"; return 1; }; }

# --- the GPU ------------------------------------------------------------------------------------
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$tmp/gpu.txt" 2>"$tmp/gpu.err" || true
  nvidia-smi 2>/dev/null | grep -o 'CUDA Version: [0-9.]*' | head -1 >"$tmp/cuda.txt" || true
else
  echo "nvidia-smi not found" >"$tmp/gpu.err"
fi
say "GPU: $(cat "$tmp/gpu.txt" 2>/dev/null || true) $(cat "$tmp/cuda.txt" 2>/dev/null || true) $(cat "$tmp/gpu.err" 2>/dev/null || true)"

# --- the GPU paths (one process each: a native library loads once per process) -------------------
if t=$(budget 180 10); fits "$t" "the onnxruntime-node CUDA probe"; then
  timeout "$t" node --import tsx bench/cuda.ts >"$tmp/probe-onnx.json" 2>"$tmp/probe-onnx.err" \
    || echo "{\"path\":\"onnxruntime-node cuda\",\"available\":false,\"detail\":\"probe failed: $(tail -1 "$tmp/probe-onnx.err" | tr -d '"\\' | cut -c1-200)\"}" >"$tmp/probe-onnx.json"
  say "probe onnx: $(cat "$tmp/probe-onnx.json")"
fi
if t=$(budget 120 10); fits "$t" "the tfjs-node-gpu probe"; then
  timeout "$t" node --import tsx bench/tfjs.ts --probe >"$tmp/probe-tfjs.json" 2>"$tmp/probe-tfjs.err" \
    || echo "{\"path\":\"tfjs-node-gpu\",\"available\":false,\"detail\":\"probe failed: $(tail -1 "$tmp/probe-tfjs.err" | tr -d '"\\' | cut -c1-200)\"}" >"$tmp/probe-tfjs.json"
  say "probe tfjs: $(cat "$tmp/probe-tfjs.json")"
fi

available() { node -e 'const p=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8").trim().split("\n").pop());process.stdout.write(p.available?"yes":"no")' "$1" 2>/dev/null || echo no; }
onnx_gpu=$(available "$tmp/probe-onnx.json")
tfjs_gpu=$(available "$tmp/probe-tfjs.json")

# --- tests and benchmarks on onnxruntime-node CUDA -------------------------------------------------
if [ "$onnx_gpu" = yes ]; then
  if t=$(budget "$(( $(left) * 2 / 5 ))" 10); fits "$t" "the backend-onnx tests on CUDA"; then
    say "running the backend-onnx tests on the CUDA execution provider"
    PREFIX_TUNING_ONNX_EP=cuda NVIDIA_TF32_OVERRIDE=0 PREFIX_TUNING_TEST_CONCURRENCY=${PREFIX_TUNING_TEST_CONCURRENCY:-$(nproc)} \
      timeout "$t" node scripts/test.mjs packages/backend-onnx >"$tmp/onnx-tests.log" 2>&1
    echo $? >"$tmp/onnx-tests.rc"
    grep -E '^ℹ|✖' "$tmp/onnx-tests.log" | head -40 >&2
  fi
  if t=$(budget 150 20); fits "$t" "bench/cuda.ts --train"; then
    say "where a train step's time goes on CUDA (bench/cuda.ts --train)"
    NVIDIA_TF32_OVERRIDE=0 timeout "$t" node --import tsx bench/cuda.ts --train >"$tmp/onnx-train.json" 2>"$tmp/onnx-train.err"
    cat "$tmp/onnx-train.json" >&2
  fi
  if t=$(budget 150 20); fits "$t" "bench/cuda.ts --decode"; then
    say "batched greedy decoding at 1 and 8 tokens per run (bench/cuda.ts --decode)"
    NVIDIA_TF32_OVERRIDE=0 timeout "$t" node --import tsx bench/cuda.ts --decode >"$tmp/onnx-decode.json" 2>"$tmp/onnx-decode.err"
    cat "$tmp/onnx-decode.json" >&2
  fi
  py=${PREFIX_TUNING_BENCH_PYTHON:-python3}
  torch=()
  if "$py" -c 'import torch, transformers, peft; assert torch.cuda.is_available()' 2>/dev/null; then torch=(--torch "$py"); else say "no Python with torch+CUDA, transformers and peft: ONNX benchmarks only"; fi
  if t=$(budget "$(left)" 20); fits "$t" "the ONNX benchmarks on CUDA"; then
    say "running the ONNX benchmarks on CUDA ${torch[*]}"
    NVIDIA_TF32_OVERRIDE=0 timeout "$t" node --import tsx bench/run.ts --ep cuda --steps "${GPU_SH_STEPS:-20}" \
      --only onnx.forward.gpt2-small.b5t128,onnx.train.gpt2-small.prefix10.b5t128,onnx.decode.gpt2-small.b1,onnx.decode.gpt2-small.b32-mixed \
      "${torch[@]}" --out "$tmp/onnx-bench.json" 2>"$tmp/onnx-bench.log"
    echo $? >"$tmp/onnx-bench.rc"
    cat "$tmp/onnx-bench.log" >&2
  fi
fi

# --- tests and benchmarks on tfjs-node-gpu ---------------------------------------------------------
if [ "$tfjs_gpu" = yes ]; then
  if t=$(budget "$(( $(left) / 2 ))" 10); fits "$t" "the backend-tfjs tests on node-gpu"; then
    say "running the backend-tfjs tests on the node-gpu engine"
    PREFIX_TUNING_TEST_TFJS_ENGINE=node-gpu timeout "$t" node scripts/test.mjs packages/backend-tfjs >"$tmp/tests.log" 2>&1
    echo $? >"$tmp/tests.rc"
    tail -15 "$tmp/tests.log" >&2
  fi
  if t=$(budget "$(left)" 15); fits "$t" "the tfjs benchmarks on node-gpu"; then
    say "running the tfjs benchmarks on the node-gpu engine"
    timeout "$t" node --import tsx bench/tfjs.ts --engine node-gpu --steps 5 --out "$tmp/bench.json" 2>"$tmp/bench.log"
    echo $? >"$tmp/bench.rc"
    cat "$tmp/bench.log" >&2
  fi
fi

# --- the report -----------------------------------------------------------------------------------
node - "$tmp" "$out" "$root" <<'EOF'
const fs = require('fs');
const path = require('path');
const [tmp, out] = process.argv.slice(2);
const read = (f) => { try { return fs.readFileSync(path.join(tmp, f), 'utf8').trim(); } catch { return undefined; } };
const json = (f) => { const t = read(f); if (t === undefined) return undefined; try { return JSON.parse(t.split('\n').pop()); } catch { return { unparsable: t.slice(0, 500) }; } };
const probes = ['onnx', 'tfjs'].map((p) => json(`probe-${p}.json`)).filter(Boolean);
const counts = (log, rc, extra) => {
  const text = read(log);
  if (text === undefined) return null;
  // the summary; a run cut short by its timeout has none, so count the reported leaf tests
  const lines = (mark) => [...text.matchAll(new RegExp(`^\\s*${mark} `, 'gm'))].length;
  const count = (k) => { const m = new RegExp(`ℹ ${k} (\\d+)`).exec(text); return m ? Number(m[1]) : k === 'pass' ? lines('✔') : k === 'fail' ? lines('✖') : undefined; };
  const failures = [...text.matchAll(/^\s*✖ (.*)$/gm)].map((m) => m[1]).filter((l) => !/^failing tests/.test(l)).slice(0, 20);
  return { ...extra, exit_code: Number(read(rc)), pass: count('pass'), fail: count('fail'), skipped: count('skipped'), failures };
};
const onnxTests = counts('onnx-tests.log', 'onnx-tests.rc', { suite: 'packages/backend-onnx', env: 'PREFIX_TUNING_ONNX_EP=cuda NVIDIA_TF32_OVERRIDE=0' });
const tfjsTests = counts('tests.log', 'tests.rc', { suite: 'packages/backend-tfjs', engine: 'node-gpu' });
// a phase skipped for want of time records nothing; the path's section lists what did run
const onnxRan = onnxTests !== null || ['onnx-train.json', 'onnx-decode.json', 'onnx-bench.rc'].some((f) => read(f) !== undefined);
const tfjsRan = tfjsTests !== null || read('bench.rc') !== undefined;
const ran = onnxRan || tfjsRan;
const report = {
  date: new Date().toISOString(),
  gpu: read('gpu.txt') || null,
  cuda_driver: read('cuda.txt') || null,
  gpu_error: read('gpu.err') || null,
  paths: probes,
  status: ran ? 'ran' : 'no-gpu-path',
  note: ran ? undefined
    : probes.length === 0 ? 'The GPU_SH_SECONDS budget left no time for the probes: nothing ran.'
    : 'No GPU path is installed: nothing ran on the GPU. onnxruntime-node needs its CUDA provider libraries (packages/backend-onnx/README.md); tfjs-node-gpu needs its native addon and libtensorflow 2.9.1 (GPU) with CUDA 11.2 and cuDNN 8.1 (packages/backend-tfjs/README.md).',
  onnx: !onnxRan ? null : { tests: onnxTests, benchmarks: read('onnx-bench.json') ? JSON.parse(read('onnx-bench.json')) : null, bench_exit_code: Number(read('onnx-bench.rc')), train_breakdown: json('onnx-train.json') ?? null, decode_tokens_per_run: json('onnx-decode.json') ?? null },
  tfjs: !tfjsRan ? null : { tests: tfjsTests, benchmarks: read('bench.json') ? JSON.parse(read('bench.json')) : null },
};
fs.writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
console.error(`[gpu.sh] ${report.status}: wrote ${out}`);
EOF
