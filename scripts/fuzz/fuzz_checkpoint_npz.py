"""Fuzz the weight and optimizer files of a checkpoint (model-*.npz, optim-*.npz: zip archives of
.npy arrays), with the manifest's sha256 kept in step so the bytes reach the parser.

    .venv/bin/python scripts/fuzz/fuzz_checkpoint_npz.py -max_total_time=180

Seed: the two .npz files of a two-step run this package trained (the first input byte picks
which file the rest replaces). Loader: load_checkpoint (with the optimizer: `train --resume`).
"""
import hashlib
import json

import _common as c
from _common import checkpoint

RUN = c.fresh_copy(c.seed_run("char"), "npz")
MAN = json.loads((RUN / "checkpoint.json").read_text())
FILES = [MAN["model_file"], MAN["optim_file"]]
ORIGINAL = {n: (RUN / n).read_bytes() for n in FILES}


def one(data: bytes) -> None:
    name, body = c.write_picked(RUN, data, ORIGINAL)
    m = dict(MAN, sha256={**MAN["sha256"], name: hashlib.sha256(body).hexdigest()})
    (RUN / "checkpoint.json").write_text(json.dumps(m))
    got = c.check(lambda: checkpoint.load_checkpoint(RUN), (str(RUN), name))
    if got:
        got["model"].flat.sum()


if __name__ == "__main__":
    c.run("npz", one, {f"seed{i}": bytes([i]) + (RUN / n).read_bytes()
                       for i, n in enumerate(FILES)})
