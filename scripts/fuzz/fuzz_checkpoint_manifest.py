"""Fuzz checkpoint.json, the manifest of a training run (what `sample --ckpt`, `eval --ckpt`,
`chat` and `train --resume` read first).

    .venv/bin/python scripts/fuzz/fuzz_checkpoint_manifest.py -max_total_time=180

Seed: the manifest of a two-step run this package trained. Loaders: load_checkpoint,
load_run_tokenizer, resolve_eval_data and resume_config on the run folder.
"""
import _common as c
from _common import checkpoint, config, evaluate

RUN = c.fresh_copy(c.seed_run("char"), "manifest")
MANIFEST = RUN / "checkpoint.json"
NAMES = (str(RUN), "checkpoint.json")


def one(data: bytes) -> None:
    MANIFEST.write_bytes(data)
    got = c.check(lambda: checkpoint.load_checkpoint(RUN), NAMES)
    model = got["model"] if got else None
    c.check(lambda: checkpoint.load_run_tokenizer(RUN, model), NAMES)
    c.check(lambda: evaluate.resolve_eval_data(str(RUN), None, None, None), NAMES)
    c.check(lambda: config.resume_config(out_dir=str(RUN)), NAMES)


if __name__ == "__main__":
    c.run("manifest", one, {"seed": MANIFEST.read_bytes()})
