"""Chapter 1 of the course: the NumPy/CuPy primer, run section by section.

    python examples/01_numpy_primer.py                 # NumPy on the CPU
    python examples/01_numpy_primer.py --device cuda   # the same code with CuPy on a GPU

The explanations (in Turkish) are in nanograd_llm/course/primer.py.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from nanograd_llm.backend import DeviceError  # noqa: E402
from nanograd_llm.course.primer import run_all  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = ap.parse_args()
    try:
        run_all(args.device)
    except DeviceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
