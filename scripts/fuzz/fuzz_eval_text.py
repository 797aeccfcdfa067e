"""Fuzz the text file `eval --data FILE` (and `train --data FILE`) reads, evaluated by a tiny
trained model.

    .venv/bin/python scripts/fuzz/fuzz_eval_text.py -max_total_time=120

Seed: the corpus the seed run was trained on. Loaders: data.load_text (UTF-8/BOM/Windows code
page checks), resolve_eval_data and evaluate_text with the run's model and character tokenizer
(unknown characters replaced, as `eval --unknown replace`; strict as the default).
"""
import _common as c
from _common import checkpoint, data, evaluate

RUN = c.seed_run("char")
D = c.fresh_copy(RUN.parent, "evaltext")
TEXT = D / "text.txt"
MODEL = checkpoint.load_model(RUN)
TOK = checkpoint.load_run_tokenizer(RUN, MODEL)


def one(raw: bytes) -> None:
    TEXT.write_bytes(raw)
    got = c.check(lambda: data.load_text(str(TEXT)), (str(TEXT),))
    c.check(lambda: evaluate.resolve_eval_data(str(RUN), None, str(TEXT), None), (str(TEXT),))
    if got:
        for unknown in ("replace", "strict"):
            c.check(lambda: evaluate.evaluate_text(MODEL, TOK, got[0][:300], unknown=unknown))


if __name__ == "__main__":
    c.run("evaltext", one, {"seed": (RUN.parent / "corpus.txt").read_bytes()})
