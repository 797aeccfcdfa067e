#!/usr/bin/env bash
# Run the test suite on the oldest versions setup.cfg allows: Python 3.10, NumPy 1.24, tqdm 4.60,
# threadpoolctl 3.1 (NumPy 1.x promotes float32 scalars differently, and 3.10 has no tomllib).
# Not part of CI (it builds a venv and downloads packages); run by hand before changing the
# supported range:   bash scripts/check_oldest_deps.sh [PYTHON3.10] [VENV_DIR]
# torch and transformers are left out (their tests skip); Numba is left out too, so the generic
# NumPy code runs everywhere (the kernels have their own tests on the current versions).
set -euo pipefail
cd "$(dirname "$0")/.."
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
