"""Write tests/cupy_api.json: the names and keyword arguments of the installed CuPy's API, which
tests/fake_cupy.py follows (a name CuPy lacks is an AttributeError there, a keyword argument
CuPy's function or method does not take a TypeError).

Run it where CuPy is installed (no GPU is needed: nothing is allocated), e.g. after upgrading
CuPy on a GPU machine:  python scripts/cupy_api.py  (then commit tests/cupy_api.json)
"""
from __future__ import annotations

import inspect
import json
import re
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "tests" / "cupy_api.json"
# Alt modüller: __array_function__ NumPy fonksiyonunun modül yolunu CuPy'da izler
# (np.linalg.norm → cupy.linalg.norm); sahte CuPy'ın verdiği alt modüller bunlardır
SUBMODULES = ("linalg", "random", "lib.stride_tricks")


def keywords(f):
    """Names f takes (positional or keyword; "*" where it takes any number of positional
    arguments), None when it takes any keyword (**kwargs)."""
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        params = None
    if params is not None:
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return None
        return ["*" if p.kind is p.VAR_POSITIONAL else p.name for p in params
                if p.name != "self"]
    # Cython'un derlediği fonksiyonlar imzalarını belgelerinin ilk satırında yazar
    first = (getattr(f, "__doc__", None) or "").strip().splitlines()
    m = re.match(r"[\w.]+\((.*?)\)", first[0]) if first else None
    if m is None:
        return None
    out = []
    for part in m.group(1).replace("\\*", "*").split(","):
        part = part.strip()
        if part.startswith("**"):
            return None
        if not part or part in ("*", "/"):
            continue
        if part.startswith("*"):
            out.append("*")
            continue
        name = part.split("=")[0].split(":")[0].strip().split()[-1]
        if name != "self":
            out.append(name)
    return out


def describe(module) -> dict:
    names = {}
    for name in sorted(dir(module)):
        if name.startswith("_"):
            continue
        v = getattr(module, name)
        if isinstance(v, getattr(module, "ufunc", ())) or type(v).__name__ == "ufunc":
            names[name] = "ufunc"
        elif callable(v) and not isinstance(v, type):
            names[name] = keywords(v)
        else:
            names[name] = "value"
    return names


def main() -> int:
    import cupy
    api = {"cupy": cupy.__version__, "numpy": np.__version__, "modules": {}}
    api["modules"][""] = describe(cupy)
    for path in SUBMODULES:
        mod = cupy
        for part in path.split("."):
            mod = getattr(mod, part)
        api["modules"][path] = describe(mod)
    # ndarray: yöntemlerin argümanları, özelliklerin (shape, T …) yalnızca adı; özel yöntemler
    # (__index__ yok, __imatmul__ yok) ayrı listede
    api["ndarray"] = {name: (keywords(v) if callable(v) else "value")
                      for name in sorted(dir(cupy.ndarray)) if not name.startswith("_")
                      for v in [getattr(cupy.ndarray, name)]}
    api["ndarray_special"] = sorted(n for n in dir(cupy.ndarray) if n.startswith("__"))
    # ndarray.flags: CuPy'ınkinde writeable, aligned … yoktur
    from cupy._core.flags import Flags
    api["flags"] = sorted(n for n in dir(Flags) if not n.startswith("_"))
    api["ufunc"] = {name: keywords(getattr(cupy.add, name))
                    for name in ("at", "reduce", "accumulate", "reduceat", "outer")}
    api["generator"] = {name: keywords(getattr(cupy.random.Generator, name))
                        for name in dir(cupy.random.Generator) if not name.startswith("_")}
    OUT.write_text(json.dumps(api, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUT} (CuPy {cupy.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
