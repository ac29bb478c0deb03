#!/usr/bin/env bash
# Builds @tensorflow/tfjs-node's native addon from registry packages only, so that
# @prefix-tuning/backend-tfjs runs on TensorFlow's C library instead of wasm.
#
#   scripts/install-tfjs-native.sh [--wheel FILE] [--force]
#
# tfjs-node's own install script downloads libtensorflow 2.9.1 and a prebuilt addon from
# storage.googleapis.com; this workspace denies it (a clean install downloads nothing outside the
# npm registry), so tfjs-node is installed without its addon and backend-tfjs falls back to wasm.
# This script is the other way in:
#
# 1. `pip download`s PyPI's tensorflow-cpu==2.18.0 wheel (cp311, manylinux_2_17_x86_64, about
#    230 MB) into the project's cache, $PREFIX_TUNING_CACHE/wheels (default
#    ~/.cache/prefix-tuning/wheels, or under $XDG_CACHE_HOME), so that a rebuild (a fresh
#    node_modules, another clone, CI with a cached home) downloads nothing; `--wheel FILE` uses a
#    local copy instead. It extracts only
#    tensorflow/libtensorflow_cc.so.2 (about 600 MiB; it exports the TF_*/TFE_* C API the addon
#    calls and needs no Python at run time), tensorflow/libtensorflow_framework.so.2 (about
#    50 MiB) and the C API headers the addon includes (and what those include);
# 2. compiles the addon from the source tfjs-node ships (binding/tfjs_backend.cc,
#    binding/tfjs_binding.cc) with the system g++ against this Node's own headers (N-API 8);
# 3. installs it where tfjs-node loads it: lib/napi-v8/tfjs_binding.node, the libraries in
#    deps/lib (the addon's rpath), inside the installed @tensorflow/tfjs-node package;
# 4. checks that it loads: tf.getBackend() is 'tensorflow', a matMul and a tf.grad are right.
#
# A second run finds the addon built from the same inputs and stops at once (`--force`
# rebuilds). Needs linux/x64, g++, python3 with pip (or --wheel), Node's C headers
# (include/node beside the node binary, or node-gyp's cache). GPU (tfjs-node-gpu): see
# packages/backend-tfjs/README.md; not done by this script.
set -euo pipefail
say() { echo "install-tfjs-native: $*" >&2; }
die() { say "$*"; exit 2; }

tf_version=2.18.0
wheel=''
force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --wheel) wheel=$(realpath "${2:?--wheel needs a file}") || die "--wheel: no such file: $2"; shift 2 ;;
    --force) force=1; shift ;;
    -h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (usage: scripts/install-tfjs-native.sh [--wheel FILE] [--force])" ;;
  esac
done
[ -z "$wheel" ] || [ -f "$wheel" ] || die "--wheel: no such file: $wheel"

cd "$(dirname "$0")/../packages/backend-tfjs"
command -v node >/dev/null 2>&1 || die "node is not on PATH"
[ "$(node -p 'process.platform + "/" + process.arch')" = linux/x64 ] || die "this route exists for linux/x64 only (the tensorflow-cpu wheel's platform)"
pkg=$(node -p "require('path').dirname(require.resolve('@tensorflow/tfjs-node/package.json'))" 2>/dev/null) \
  || die "@tensorflow/tfjs-node is not installed (it is an optional dependency of backend-tfjs: run pnpm install first)"
pkg_version=$(node -p "require('$pkg/package.json').version")
[ -f "$pkg/binding/tfjs_backend.cc" ] && [ -f "$pkg/binding/tfjs_binding.cc" ] || die "$pkg has no binding/ sources"
addon="$pkg/lib/napi-v8/tfjs_binding.node"
libdir="$pkg/deps/lib"
stamp="$pkg/lib/napi-v8/.prefix-tuning-build"

# Node's C headers: include/node beside the node binary (distribution and distro packages), or
# node-gyp's cache for this version
node_inc=''
for d in "$(node -p "require('path').join(process.config.variables.node_prefix || '', 'include', 'node')")" \
         "$(dirname "$(dirname "$(node -p process.execPath)")")/include/node" \
         "${XDG_CACHE_HOME:-$HOME/.cache}/node-gyp/$(node -p 'process.versions.node')/include/node" \
         "$HOME/.node-gyp/$(node -p 'process.versions.node')/include/node"; do
  if [ -f "$d/node_api.h" ]; then node_inc=$d; break; fi
done
[ -n "$node_inc" ] || die "Node's C headers (node_api.h) were not found beside $(node -p process.execPath) nor in node-gyp's cache: install them (e.g. 'npx node-gyp install', or your distribution's nodejs-dev package)"
command -v g++ >/dev/null 2>&1 || die "g++ is not on PATH: install a C++17 compiler (e.g. apt-get install g++)"

want="tensorflow-cpu $tf_version; tfjs-node $pkg_version; node $(node -p 'process.versions.node'); $(g++ --version | head -1)"
if [ "$force" = 0 ] && [ -f "$addon" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
   && [ -f "$libdir/libtensorflow_cc.so.2" ] && [ -f "$libdir/libtensorflow_framework.so.2" ]; then
  say "already installed ($want) in $pkg; nothing to do (--force rebuilds)"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cache="${PREFIX_TUNING_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/prefix-tuning}/wheels"
if [ -z "$wheel" ]; then
  wheel=$(ls "$cache"/tensorflow_cpu-"$tf_version"-cp311-*manylinux*x86_64*.whl 2>/dev/null | head -1 || true)
  [ -z "$wheel" ] || say "using the cached wheel in $cache"
fi
if [ -z "$wheel" ]; then
  python3 -m pip --version >/dev/null 2>&1 || die "python3 with pip is needed to download the tensorflow-cpu wheel (or pass --wheel FILE)"
  say "downloading tensorflow-cpu==$tf_version (cp311 manylinux_2_17_x86_64 wheel, about 230 MB) from PyPI into $cache"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 --implementation cp \
    --platform manylinux_2_17_x86_64 -d "$tmp/dl" "tensorflow-cpu==$tf_version" || die "pip download of tensorflow-cpu==$tf_version failed"
  mkdir -p "$cache" || die "cannot create the wheel cache $cache (set PREFIX_TUNING_CACHE)"
  # complete files only: a cached wheel is never a partial download
  for f in "$tmp"/dl/tensorflow_cpu-*.whl; do cp "$f" "$cache/$(basename "$f").part" && mv -f "$cache/$(basename "$f").part" "$cache/$(basename "$f")"; done
  wheel=$(ls "$cache"/tensorflow_cpu-"$tf_version"-cp311-*manylinux*x86_64*.whl | head -1)
fi
case "$(basename "$wheel")" in
  tensorflow_cpu-"$tf_version"-*manylinux*x86_64*.whl) ;;
  *) die "$wheel is not a tensorflow-cpu $tf_version manylinux x86_64 wheel" ;;
esac
say "using $(basename "$wheel") ($(( $(stat -c %s "$wheel") / 1000000 )) MB)"

# the two libraries and the header closure of what the addon includes
python3 - "$wheel" "$tmp/tf" "$pkg/binding" <<'EOF'
import os, re, sys, zipfile
wheel, out, binding = sys.argv[1:]
inc = 'tensorflow/include/'
with zipfile.ZipFile(wheel) as z:
    names = set(z.namelist())
    for lib in ('libtensorflow_cc.so.2', 'libtensorflow_framework.so.2'):
        z.extract(f'tensorflow/{lib}', out)
    pat = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)
    todo = [p for f in os.listdir(binding) for p in pat.findall(open(os.path.join(binding, f)).read())]
    seen = set()
    while todo:
        h = todo.pop()
        if h in seen or inc + h not in names:
            continue  # a binding-local header, or one the wheel does not carry (system)
        seen.add(h)
        z.extract(inc + h, out)
        todo += pat.findall(z.read(inc + h).decode('utf-8', 'replace'))
    print(f'install-tfjs-native: extracted the 2 libraries and {len(seen)} headers', file=sys.stderr)
EOF
tf="$tmp/tf/tensorflow"
mkdir -p "$tmp/link"
ln -s "$tf/libtensorflow_cc.so.2" "$tmp/link/libtensorflow.so"
ln -s "$tf/libtensorflow_framework.so.2" "$tmp/link/libtensorflow_framework.so"

say "compiling tfjs-node $pkg_version's addon against TensorFlow $tf_version and $node_inc (about 20 s)"
g++ -std=c++17 -O2 -shared -fPIC -DNAPI_VERSION=8 -DNAPI_DISABLE_CPP_EXCEPTIONS \
  -I"$pkg" -I"$tf/include" -I"$node_inc" \
  "$pkg/binding/tfjs_backend.cc" "$pkg/binding/tfjs_binding.cc" \
  -L"$tmp/link" -ltensorflow -ltensorflow_framework -Wl,-rpath,'$ORIGIN/../../deps/lib' \
  -o "$tmp/tfjs_binding.node" || die "g++ failed to compile the addon (see above)"

mkdir -p "$libdir" "$(dirname "$addon")"
for f in libtensorflow_cc.so.2 libtensorflow_framework.so.2; do
  cp "$tf/$f" "$libdir/$f.part" && mv -f "$libdir/$f.part" "$libdir/$f"
done
cp "$tmp/tfjs_binding.node" "$addon.part" && mv -f "$addon.part" "$addon"

# check: the backend is 'tensorflow', and a product and a gradient are right
if ! TF_CPP_MIN_LOG_LEVEL=2 node -e "
  const tf = require('$pkg');
  if (tf.getBackend() !== 'tensorflow') throw new Error('backend is ' + tf.getBackend());
  const p = tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5, 6], [7, 8]])).arraySync().flat();
  if (p.join() !== '19,22,43,50') throw new Error('matMul gave ' + p);
  const g = tf.grad((x) => x.square().sum())(tf.tensor1d([1, 2, 3])).arraySync();
  if (g.join() !== '2,4,6') throw new Error('grad gave ' + g);
" 2>"$tmp/check.log"; then
  rm -f "$addon" "$stamp"
  cat "$tmp/check.log" >&2
  die "the built addon does not load (removed it; backend-tfjs keeps using wasm)"
fi
echo "$want" >"$stamp"
say "installed $addon and $(du -sm "$libdir" | cut -f1) MiB of TensorFlow $tf_version in $libdir; checked: tf.getBackend() = 'tensorflow', matMul and grad right."
say "backend-tfjs now picks the 'node' engine (tfjsBackend(); PREFIX_TUNING_TFJS_ENGINE=node requires it)"
