"""Fuzz the other files of a run folder `train --resume` reads: metrics.jsonl (the loss log it
truncates to the checkpoint's step, and `docs --run` draws), the lock file's record,
best/checkpoint.json.

    .venv/bin/python scripts/fuzz/fuzz_run_folder.py -max_total_time=120

Seed: the files of a two-step run this package trained (first input byte: which file).
Loaders: run_folder's _read_metrics/_truncate_metrics, viz.read_metrics (its records must be
finite numbers a plot can take), unsaved_run_advice, held_by_a_trainer, the lock record's
reader, and load_checkpoint of best/.
"""
import math

import _common as c
from _common import checkpoint, run_folder

with c.atheris.instrument_imports(include=["nanograd_llm"]):
    from nanograd_llm import viz

RUN = c.fresh_copy(c.seed_run("char"), "runfolder")
FILES = ["metrics.jsonl", ".lock", "best/checkpoint.json"]
ORIGINAL = {n: (RUN / n).read_bytes() for n in FILES}
ORIGINAL[".lock"] = b'{"tokens.npy": [1, 2, 3, 4]}'


def _drawable(records) -> None:
    """read_metrics' (step, loss) pairs must be finite numbers (what plot_loss_curve draws)."""
    for pairs in records:
        for step, loss in pairs:
            for v in (step, loss):
                if isinstance(v, bool) or not isinstance(v, (int, float)) or \
                        not math.isfinite(float(v)):
                    raise TypeError(f"read_metrics returned {v!r}, which cannot be drawn")


def one(data: bytes) -> None:
    name, body = c.write_picked(RUN, data, ORIGINAL)
    names = (str(RUN),)
    c.check(lambda: _drawable(viz.read_metrics(RUN / "metrics.jsonl")), names)
    c.check(lambda: run_folder._truncate_metrics(RUN / "metrics.jsonl", 1), names)
    c.check(lambda: run_folder.unsaved_run_advice(RUN), names)
    c.check(lambda: run_folder.held_by_a_trainer(RUN), names)
    c.check(lambda: run_folder._own_file(RUN, "tokens.npy"), names)
    c.check(lambda: checkpoint.load_checkpoint(RUN / "best"), names)


if __name__ == "__main__":
    c.run("runfolder", one, {f"seed{i}": bytes([i]) + ORIGINAL[n]
                             for i, n in enumerate(FILES)})
