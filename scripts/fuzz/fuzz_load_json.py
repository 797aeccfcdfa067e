"""Fuzz atomic.load_json, the JSON reader behind every JSON file of the package.

    .venv/bin/python scripts/fuzz/fuzz_load_json.py -max_total_time=60

Seed: a manifest this package saved. Invariant: it returns, or raises json.JSONDecodeError
(JSONNestedTooDeep too: every reader catches that), for text and for bytes.
"""
import json

import _common as c
from _common import atomic


def one(data: bytes) -> None:
    for doc in (data, data.decode("utf-8", "replace")):
        try:
            atomic.load_json(doc)
        except json.JSONDecodeError:
            pass
        except UnicodeDecodeError:
            if isinstance(doc, str):
                raise
        except Exception as e:
            c._report(e, f"{type(e).__name__} escapes: {e!r}"[:300])


if __name__ == "__main__":
    c.run("load_json", one, {"seed": (c.seed_run("char") / "checkpoint.json").read_bytes()})
