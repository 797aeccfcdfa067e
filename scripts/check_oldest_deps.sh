#!/usr/bin/env bash
# Run the test suite on the oldest versions setup.cfg allows: Python 3.10, NumPy 1.24, tqdm 4.60,
# threadpoolctl 3.1 (NumPy 1.x promotes float32 scalars differently, and 3.10 has no tomllib).
# Not part of CI (it builds a venv and downloads packages); run by hand before changing the
# supported range:   bash scripts/check_oldest_deps.sh [PYTHON3.10] [VENV_DIR]
# torch and transformers are left out (their tests skip); Numba is left out too, so the generic
# NumPy code runs everywhere (the kernels have their own tests on the current versions).
#
# --all-extras [PYTHON3.11] [VENV_DIR]: every package of the test extra at its lowest version
# instead (LOWEST, setup.cfg's lower bounds; torch, transformers and Numba too, their own
# dependencies unpinned), on Python 3.11, where these passed together. torch 2.13.0 is the CPU
# wheel, which this machine's pip config finds on disk; elsewhere set
# PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu (PyPI's Linux wheel brings CUDA).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--all-extras" ]; then
    LOWEST=(numpy==1.24.4 tqdm==4.60.0 threadpoolctl==3.1.0 numba==0.59.0 safetensors==0.4.3
            regex==2025.10.22 matplotlib==3.7.0 Markdown==3.5 Pygments==2.15.0 hypothesis==6.85.0
            pytest==7.0.0 pytest-timeout==2.1.0 transformers==5.4.0 tokenizers==0.22.1 torch==2.13.0)
    PY=${2:-python3.11}
    VENV=${3:-/tmp/nanograd_oldest_all_extras}
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e ".[test]" "${LOWEST[@]}"
    "$VENV/bin/python" -c "import sys, importlib.metadata as m
print(sys.version.split()[0], *(n + ' ' + m.version(n) for n in sys.argv[1:]))" "${LOWEST[@]%%==*}"
    exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider
fi
PY=${1:-python3.10}
VENV=${2:-/tmp/nanograd_oldest_deps}
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "numpy==1.24.*" "tqdm==4.60.0" "threadpoolctl==3.1.0"
"$VENV/bin/python" -m pip install -q -c <(echo "numpy==1.24.*") -e . pytest pytest-timeout \
    hypothesis regex safetensors matplotlib markdown pygments tokenizers
"$VENV/bin/python" -c "import sys, numpy, tqdm, threadpoolctl; print(sys.version.split()[0], 'numpy', numpy.__version__, 'tqdm', tqdm.__version__, 'threadpoolctl', threadpoolctl.__version__)"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider
