#!/usr/bin/env bash
# Installs onnxruntime-node's CUDA execution-provider libraries from PyPI's onnxruntime-gpu wheel.
#
#   scripts/install-ort-cuda.sh [--to DIR] [WHEEL]
#
# onnxruntime-node ships CPU binaries only; its postinstall script downloads the CUDA provider
# from NuGet, which this workspace skips (a clean install downloads nothing outside the npm
# registry). This script is the other way in: it takes libonnxruntime_providers_cuda.so and
# libonnxruntime_providers_shared.so from the onnxruntime-gpu wheel of the *same version* as the
# installed onnxruntime-node (WHEEL, or `pip download`ed from PyPI when omitted) and puts them in
# onnxruntime-node's bin folder, where `cudaAvailable()` and the CUDA execution provider look
# (`--to DIR`: into DIR instead, e.g. to carry them elsewhere; bench/gpu-payload.sh does).
#
# onnxruntime-gpu 1.30.0 on PyPI is built for CUDA 13 and cuDNN 9: libcublas.so.13,
# libcublasLt.so.13, libcudart.so.13 and libcurand.so.10 must be found at run time (a CUDA 13
# toolkit, or the nvidia-* pip packages that PyTorch cu13x installs; put their lib folders on
# LD_LIBRARY_PATH). The script ends by listing any that the loader cannot find.
# Verified on an H100 (driver 580, CUDA 13.0): see packages/backend-onnx/README.md.
set -euo pipefail
dest=''
if [ "${1:-}" = --to ]; then dest=$(realpath -m "${2:?--to needs a directory}"); shift 2; fi
wheel=${1:+$(realpath "$1")}
cd "$(dirname "$0")/../packages/backend-onnx"
read -r bin version < <(node -p "const p = require('path'); p.join(p.dirname(require.resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch) + ' ' + require('onnxruntime-node/package.json').version")
if [ "$(node -p 'process.platform + "/" + process.arch')" != linux/x64 ]; then
  echo "install-ort-cuda: onnxruntime-node's CUDA provider exists for linux/x64 only" >&2
  exit 2
fi
dest=${dest:-$bin}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -z "$wheel" ]; then
  echo "install-ort-cuda: downloading onnxruntime-gpu==$version from PyPI" >&2
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 -d "$tmp" "onnxruntime-gpu==$version"
  wheel=$(ls "$tmp"/onnxruntime_gpu-*.whl)
fi
case "$(basename "$wheel")" in
  onnxruntime_gpu-"$version"-*) ;;
  *) echo "install-ort-cuda: $wheel is not onnxruntime-gpu $version (the provider must match onnxruntime-node $version)" >&2; exit 2 ;;
esac
mkdir -p "$dest"
python3 - "$wheel" "$dest" <<'EOF'
import sys, zipfile, os
wheel, bin_dir = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for name in ("libonnxruntime_providers_cuda.so", "libonnxruntime_providers_shared.so"):
        data = z.read(f"onnxruntime/capi/{name}")
        tmp = os.path.join(bin_dir, name + ".part")
        with open(tmp, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o755)
        os.replace(tmp, os.path.join(bin_dir, name))
        print(f"install-ort-cuda: {os.path.join(bin_dir, name)} ({len(data) / 2**20:.0f} MiB)", file=sys.stderr)
EOF
[ "$dest" = "$bin" ] || exit 0
missing=$(ldd "$bin/libonnxruntime_providers_cuda.so" | awk '/not found/ { print $1 }' | paste -sd' ' || true)
if [ -n "$missing" ]; then
  echo "install-ort-cuda: installed; the loader does not find yet: $missing (add their folders to LD_LIBRARY_PATH)" >&2
else
  echo "install-ort-cuda: installed; all its CUDA libraries are found. Use onnxBackend({ executionProviders: ['cuda', 'cpu'] }) or PREFIX_TUNING_ONNX_EP=cuda" >&2
fi
