"""Fuzz a `train --config FILE` settings file (.toml and .json).

    .venv/bin/python scripts/fuzz/fuzz_config_file.py -max_total_time=120

Seed: the train_config of a run this package saved, written as TOML and as JSON (first input
byte: which). Loaders: read_config_file and make_config (what `train --config` builds).
"""
import json

import _common as c
from _common import config

RUN = c.seed_run("char")
D = c.fresh_copy(RUN.parent, "config")
saved = json.loads((RUN / "checkpoint.json").read_text())["train_config"]
saved = {k: v for k, v in saved.items() if v is not None}
saved["out_dir"] = str(D / "out")


def _toml(v):
    return json.dumps(v) if not isinstance(v, bool) else ("true" if v else "false")


SEEDS = {"cfg.toml": "".join(f"{k} = {_toml(v)}\n" for k, v in saved.items()).encode(),
         "cfg.json": json.dumps(saved, indent=1).encode()}
FILES = list(SEEDS)


def one(data: bytes) -> None:
    name, body = c.pick(data, FILES)
    p = D / name
    p.write_bytes(body)
    c.check(lambda: config.read_config_file(p), (str(p),))
    c.check(lambda: config.make_config("default", config_file=str(p)), ())


if __name__ == "__main__":
    c.run("config", one, {f"seed{i}": bytes([i]) + SEEDS[n] for i, n in enumerate(FILES)})
