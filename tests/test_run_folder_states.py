"""A hypothesis state machine over the life cycle of training run folders, driven through the
command line (`nanograd_llm.cli.main`, as a user sees it) with a tiny GPT on a tiny text: new runs
(token ids in memory or memory-mapped from OUT/tokens.npy), a plain start refused in a folder
that holds a run, --resume (to more steps, to none, with settings that change no weight, with an
lr that does, with ones it must refuse), --overwrite, --init-from (a run folder: refused; a GPT-2
folder exported from a run: a fine-tune), Ctrl-C / SIGTERM once or twice at a step or at an
evaluation, a second one during a checkpoint write, a KeyboardInterrupt inside a weight-file write
(with or without the start's clean-up, as a kill), damaged or deleted run files, a copied folder,
a moved corpus, another trainer holding the folder's lock, and sample / eval of the folder.

After every command: the exit status and one `error:` line (no traceback); a refused command
leaves the folder as it was; sample and eval never change it. After every step: no temporary
file anywhere; a folder's checkpoint is the step the model expects and, while only max_iters and
settings that change no weight were given, bit for bit the weights of one uninterrupted run of
that many steps (README: "a run killed after step k and resumed ends with weights bit-identical
to an uninterrupted run"); metrics.jsonl lists exactly the evaluations up to that step, each
with its step's learning rate and a growing elapsed time; best/ holds the lowest val loss of the
log, with that step's weights.

CI runs a fixed (derandomized) set of examples in about half a minute. A longer random search:
RUN_FOLDER_RANDOM=1 RUN_FOLDER_EXAMPLES=100 RUN_FOLDER_STEPS=30 pytest --timeout 3000 <this file>.
"""
import contextlib
import copy
import hashlib
import importlib.util
import io
import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, precondition,
                                 rule, run_state_machine_as_test)

from _platform import SIGNALS, posix_only
from _train_helpers import TEXT, sigint_as_in_a_terminal
from nanograd_llm import checkpoint as ckpt
from nanograd_llm.atomic import is_temporary_name
from nanograd_llm.cli import main
from nanograd_llm.config import PRESETS
from nanograd_llm.optim import AdamW, get_lr

pytestmark = posix_only(SIGNALS)

MAX = 8                     # the longest run; the schedule ends there whatever max_iters is
EVAL = 2                    # eval_interval of a new run
MIN_LR = PRESETS["default"]["min_lr"]
SETTINGS = ["--quiet", "n_layer=1", "n_head=2", "n_embd=16", "block_size=16", "batch_size=4",
            f"eval_interval={EVAL}", "eval_iters=1", "sample_tokens=0", "warmup_iters=2",
            f"lr_decay_iters={MAX}", "lr=3e-3", "dropout=0.1"]
# Settings a resume may change without changing a single weight, and ones it must refuse
HARMLESS = ["eval_interval=3", "eval_iters=2", "keep_best=false", "log_interval=1"]
REFUSED = ["n_embd=32", "seed=7", "batch_size=8", "block_size=8", "dropout=0.0"]
# What damaging a file does to the run: loadable (sample/eval work), resumable. metrics.jsonl
# and config.json are records for people: a run goes on without them
DAMAGE = {
    "checkpoint.json": (False, False),
    "model": (False, False),
    "optim": (True, False),
    "tokenizer.json": (False, False),
    "tokenizer_meta.json": (False, False),
    "metrics.jsonl": (True, True),
    "config.json": (True, True),
    "best/checkpoint.json": (True, True),
    "best/model": (True, True),
}
HAS_SAFETENSORS = importlib.util.find_spec("safetensors") is not None


_sigint_as_in_a_terminal = pytest.fixture(autouse=True)(sigint_as_in_a_terminal)


def _reference_weights(tmp: Path, data: Path) -> dict:
    """step -> weights after that step of one uninterrupted run of MAX steps."""
    seen = {}
    real = AdamW.step

    def step(self, grads=None, lr=None):
        real(self, grads, lr)
        seen[self.t] = np.asarray(self.model.flat).copy()
    AdamW.step = step
    try:
        rc, _, err = _cli(["train", "--data", str(data), "--out", str(tmp / "reference"),
                           f"max_iters={MAX}", *SETTINGS])
    finally:
        AdamW.step = real
    assert rc == 0, err
    return seen


def _cli(args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()


def _snapshot(folder: Path) -> dict:
    """Every file's digest. The lock file only counts as there: a resume refused after the
    corpus was read (a model setting such as dropout, another text) has written tokens.npy
    again (the same bytes) and recorded it there."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): "dir" if p.is_dir() else "lock" if p.name == ".lock"
            else hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*"))}


def _temporaries(root: Path) -> list:
    return [str(p) for p in root.rglob("*")
            if is_temporary_name(p.name) or ".tmp" in p.name]


def _evaluations(start: int, end: int, max_iters: int, every: int) -> list:
    """The steps after `start` up to `end` at which a run to max_iters evaluates."""
    return [s for s in range(start + 1, end + 1) if s % every == 0 or s == max_iters]


class _Injected:
    """Patches for one command: a signal at a step (once: stop after it, twice: at once) or at
    the evaluation of a step (eval_once, eval_twice), a second signal while that step's
    checkpoint is written, or a KeyboardInterrupt raised inside the n-th weight-file write (a
    kill in the middle of a checkpoint)."""

    def __init__(self, kind=None, sig=signal.SIGINT, at=0):
        self.kind, self.sig, self.at = kind, sig, at
        self.writes = 0

    @contextlib.contextmanager
    def applied(self):
        if self.kind is None:
            yield
            return
        from nanograd_llm import train as train_module
        real_step, real_npz = AdamW.step, ckpt._write_npz
        real_estimate = train_module.estimate_loss
        me = self

        def estimate_loss(model, sampler, eval_iters, step):
            if step == me.at and me.kind in ("eval_once", "eval_twice"):
                os.kill(os.getpid(), me.sig)
                if me.kind == "eval_twice":
                    os.kill(os.getpid(), me.sig)
            return real_estimate(model, sampler, eval_iters, step)

        def step(opt, grads=None, lr=None):
            real_step(opt, grads, lr)
            if opt.t == me.at and me.kind in ("once", "twice", "in_save"):
                os.kill(os.getpid(), me.sig)
                if me.kind == "twice":
                    os.kill(os.getpid(), me.sig)

        def write_npz(path, arrays):
            me.writes += 1
            if me.kind == "in_save" and path.name.startswith(f"model-{me.at:07d}") \
                    and path.parent.name != "best":
                os.kill(os.getpid(), me.sig)            # the second signal: after the write
            if me.kind == "kill" and me.writes == me.at:
                path.write_bytes(b"half")
                raise KeyboardInterrupt
            return real_npz(path, arrays)
        AdamW.step, ckpt._write_npz = step, write_npz
        train_module.estimate_loss = estimate_loss
        try:
            yield
        finally:
            AdamW.step, ckpt._write_npz = real_step, real_npz
            train_module.estimate_loss = real_estimate


class RunFolders(RuleBasedStateMachine):
    """Two run folders ('a', 'b') in a fresh temporary folder. The model of each: None (no
    folder), 'empty' (a folder with at most a lock file), 'leftovers' (run files without a
    checkpoint), or a dict for a run: its step, the evaluations metrics.jsonl must list, whether
    its weights are the reference run's (`exact`), the file damaged (if any)."""

    root: Path = None
    data: Path = None
    reference: dict = None

    def __init__(self):
        super().__init__()
        self.base = Path(self.root) / f"m{len(os.listdir(self.root))}"
        self.base.mkdir()
        self.folders = {"a": None, "b": None}
        self.corpus = self.base / "corpus-0.txt"       # moved by move_corpus
        shutil.copyfile(self.data, self.corpus)

    def teardown(self):
        shutil.rmtree(self.base, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------------
    def path(self, name):
        return self.base / name

    def run(self, name):
        r = self.folders[name]
        return r if isinstance(r, dict) else None

    def healthy(self, more=False):
        """The folders holding an undamaged run (with `more`: one that can train further)."""
        return [n for n, r in self.folders.items() if isinstance(r, dict) and not r["damaged"]
                and (not more or r["step"] < MAX)]

    def unsaved(self):
        """The folders a new run may start in without --overwrite."""
        return [n for n, r in self.folders.items() if r in (None, "empty")]

    def command(self, args, expect_ok=None, injected=None):
        with (injected or _Injected()).applied():
            rc, out, err = _cli(args)
        assert "Traceback" not in err and "Traceback" not in out, err
        if rc == 1:
            assert err.count("error: ") == 1, err
        if expect_ok is True:
            assert rc == 0, (args, err)
        if expect_ok is False:
            assert rc != 0, (args, out, err)
        return rc, out, err

    def refused(self, name, args, match):
        before = _snapshot(self.path(name))
        rc, _, err = self.command(args, expect_ok=False)
        assert rc == 1 and match in err, (args, err)
        assert _snapshot(self.path(name)) == before, f"{args} changed the folder it refused"
        return err

    def train_args(self, name, steps, *extra):
        return ["train", "--data", self.corpus, "--out", self.path(name), f"max_iters={steps}",
                *SETTINGS, *extra]

    def saved_corpus(self, name):
        """The corpus the folder's checkpoint names (None: no readable checkpoint)."""
        try:
            return Path(ckpt.read_manifest(self.path(name))["train_config"]["data"])
        except (OSError, ValueError):
            return None

    def resume_args(self, name, target, *extra):
        """A resume; --data NEWPATH where the corpus has moved since the run last trained."""
        moved = ["--data", self.corpus] if self.saved_corpus(name) not in (None, self.corpus) \
            else []
        return ["train", "--out", self.path(name), "--resume", "--quiet", f"max_iters={target}",
                *moved, *extra]

    def new_run(self, steps, exact=True):
        return {"step": steps, "exact": exact, "eval_interval": EVAL,
                "evals": [0, *_evaluations(0, steps, steps, EVAL)], "damaged": None,
                "metrics_ok": True, "best_ok": True, "schedule_ok": True}

    def start_new(self, name, steps, overwrite, extra=(), exact=True):
        state = self.folders[name]
        args = self.train_args(name, steps, *extra, *(["--overwrite"] if overwrite else []))
        if isinstance(state, dict) and not overwrite:
            err = self.refused(name, args, "already holds a training run")
            if state["damaged"] and not DAMAGE[state["damaged"]][1]:
                assert "use --resume" not in err, err       # a resume would be refused
            return
        if state == "leftovers" and not overwrite:
            self.refused(name, args, "use --overwrite")
            return
        self.command(args, expect_ok=True)
        self.folders[name] = self.new_run(steps, exact)
        # nothing of an old run is left: one weight file, of this run's last step
        files = sorted(p.name for p in self.path(name).glob("model-*"))
        assert len(files) == 1 and files[0].startswith(f"model-{steps:07d}-"), files

    def interrupted_start(self, data):
        """(name, start, target, args, every, resume) of a command to interrupt: a new run in a
        folder without one, a resume of a healthy run, or an --overwrite of it."""
        name = data.draw(st.sampled_from(self.unsaved() + self.healthy(more=True)), "folder")
        steps = data.draw(st.integers(1, 5), "steps")
        r = self.run(name)
        if r is not None and not data.draw(st.booleans(), "--overwrite"):
            target = min(MAX, r["step"] + steps)
            return name, r["step"], target, self.resume_args(name, target), \
                r["eval_interval"], True
        return name, 0, steps, self.train_args(name, steps, *(["--overwrite"] if r else [])), \
            EVAL, False

    def saved_at(self, name, resume, start, target, every, saved, stopped=False):
        """Record a checkpoint at step `saved` written by a command that started at `start`
        (`stopped`: by a signal, at any step)."""
        evals = _evaluations(start, target, target, every)
        assert stopped or saved in [start, *evals], (saved, start, evals)
        if not resume:
            self.folders[name] = r = self.new_run(0)
        r = self.folders[name]
        r["evals"] += [s for s in evals if s <= saved]
        r["step"] = saved

    # -- rules -----------------------------------------------------------------------------
    @initialize(steps=st.integers(1, 5))
    def first_run(self, steps):
        self.start_new("a", steps, overwrite=False)

    @rule(name=st.sampled_from("ab"), steps=st.integers(1, 5), overwrite=st.booleans(),
          mapped=st.booleans())
    def train_new(self, name, steps, overwrite, mapped):
        """A new run: refused in a folder that holds one (untouched) unless --overwrite. With
        `mapped`, its token ids are memory-mapped from OUT/tokens.npy (the same weights)."""
        self.start_new(name, steps, overwrite, ["mmap_threshold=0"] if mapped else [])

    @precondition(lambda self: self.healthy())
    @rule(data=st.data(), more=st.integers(0, 3), setting=st.sampled_from([None, *HARMLESS]))
    def resume(self, data, more, setting):
        """--resume to max_iters (one not above the step: nothing to train), perhaps with a
        setting that changes no weight."""
        name = data.draw(st.sampled_from(self.healthy()), "folder")
        r = self.run(name)
        target = max(1, min(MAX, r["step"] + more))
        self.command(self.resume_args(name, target, *([setting] if setting else [])),
                     expect_ok=True)
        if target > r["step"]:
            if setting == "eval_interval=3":
                r["eval_interval"] = 3
            if setting == "keep_best=false":
                r["best_ok"] = False            # the saved settings keep it off from now on
            r["evals"] += _evaluations(r["step"], target, target, r["eval_interval"])
            r["step"] = target

    @precondition(lambda self: any(not isinstance(r, dict) or r["damaged"]
                                   for r in self.folders.values()))
    @rule(data=st.data())
    def resume_without_a_usable_checkpoint(self, data):
        """Refused with a message naming the folder, which is left as it was."""
        name = data.draw(st.sampled_from([n for n, r in self.folders.items()
                                          if not isinstance(r, dict) or r["damaged"]]))
        state = self.folders[name]
        args = self.resume_args(name, MAX)
        if state is None:
            self.refused(name, args, "nothing to resume")
        elif state == "leftovers":
            self.refused(name, args, "--overwrite")
        elif state == "empty":
            self.refused(name, args, "no checkpoint")
        elif not DAMAGE[state["damaged"]][1]:
            self.refused(name, args, str(self.path(name)))

    @precondition(lambda self: self.healthy())
    @rule(data=st.data(), setting=st.sampled_from(REFUSED))
    def resume_with_a_setting_it_cannot_change(self, data, setting):
        name = data.draw(st.sampled_from(self.healthy()), "folder")
        self.refused(name, self.resume_args(name, MAX, setting), "cannot resume")

    @precondition(lambda self: self.healthy(more=True))
    @rule(data=st.data())
    def resume_with_another_lr(self, data):
        """Accepted (README: key=value words change some settings); the weights then leave the
        reference run's path."""
        name = data.draw(st.sampled_from(self.healthy(more=True)), "folder")
        r = self.run(name)
        self.command(self.resume_args(name, r["step"] + 1, "lr=1e-2"), expect_ok=True)
        r["evals"] += _evaluations(r["step"], r["step"] + 1, r["step"] + 1, r["eval_interval"])
        r["step"] += 1
        r["exact"] = r["schedule_ok"] = False

    @precondition(lambda self: self.unsaved() or self.healthy(more=True))
    @rule(data=st.data(), sig=st.sampled_from([signal.SIGINT, signal.SIGTERM]),
          kind=st.sampled_from(["once", "twice", "in_save", "eval_once", "eval_twice"]),
          at=st.integers(1, 5))
    def interrupted(self, data, sig, kind, at):
        """A Ctrl-C or SIGTERM at a step or an evaluation of a new run or a resume: once, it
        stops after the step (the evaluation) and saves it; twice, at once (the last checkpoint
        stays); the second one while the step's checkpoint is written waits for it."""
        name, start, target, args, every, resume = self.interrupted_start(data)
        existed = self.path(name).exists()
        evals = _evaluations(start, target, target, every)
        if kind.startswith("eval"):
            steps = ([] if resume else [0]) + evals
            at = steps[at % len(steps)]
        else:
            at = min(start + at, target)
        if kind == "in_save" and at not in evals:
            kind = "once"
        rc, _, err = self.command(args, injected=_Injected(kind, sig, at))
        status = 143 if sig == signal.SIGTERM else 130
        if kind in ("once", "eval_once") and at == target:
            assert rc == 0, err                 # the last step: a finished run
            saved = target
        elif kind in ("once", "eval_once"):
            assert rc == status, err
            assert f"checkpoint of step {at} saved" in err and "--resume" in err, err
            saved = at
        elif kind == "in_save":
            assert rc == status, err
            assert "as soon as the checkpoint being written is complete" in err, err
            saved = at
        else:
            assert rc == status, err
            assert err.endswith("\ninterrupted\n" if status == 130 else "\nterminated\n"), err
            if kind == "eval_twice" and at == 0:
                self.nothing_saved(name, existed, args)
                return
            saved = max(s for s in [start, *evals] if s < at)
        self.saved_at(name, resume, start, target, every, saved, stopped=kind == "once")

    def nothing_saved(self, name, existed, args, power_cut=False):
        """A new run stopped before its first checkpoint."""
        folder = self.path(name)
        assert not (folder / ckpt.MANIFEST).exists()
        left = [p.name for p in folder.iterdir() if p.name != ".lock"] if folder.exists() \
            else []
        if power_cut or "--overwrite" in args:
            # a kill runs no clean-up; an --overwrite had deleted the old run, and leaves the
            # names that were there before (the same command starts again)
            self.folders[name] = "leftovers" if left else "empty"
        elif existed:
            # a new run stopped before its first checkpoint leaves nothing of its own
            assert not left, left
            self.folders[name] = "empty"
        else:
            assert not folder.exists()
            self.folders[name] = None

    @precondition(lambda self: self.unsaved() or self.healthy(more=True))
    @rule(data=st.data(), nth=st.integers(1, 6), power_cut=st.booleans())
    def killed_in_a_checkpoint_write(self, data, nth, power_cut):
        """The nth weight-file write of the command (a best copy's, or a checkpoint's weights
        or moments) is cut short by a KeyboardInterrupt (the command: 130); with `power_cut`,
        as by a kill that runs no clean-up (a new run then leaves its files behind)."""
        name, start, target, args, every, resume = self.interrupted_start(data)
        existed = self.path(name).exists()
        injected = _Injected("kill", at=nth)
        from nanograd_llm import run_folder
        real_clean_up = run_folder._clean_up
        if power_cut:
            run_folder._clean_up = lambda *a: None
        try:
            rc, _, err = self.command(args, injected=injected)
        finally:
            run_folder._clean_up = real_clean_up
        if injected.writes < nth:
            assert rc == 0, err                  # fewer writes than that: the run finished
            self.saved_at(name, resume, start, target, every, target)
            return
        assert rc == 130 and err.endswith("\ninterrupted\n"), err
        folder = self.path(name)
        if not (folder / ckpt.MANIFEST).exists():
            assert not resume
            self.nothing_saved(name, existed, args, power_cut)
            return
        saved = ckpt.read_manifest(folder)["step"]
        self.saved_at(name, resume, start, target, every, saved)
        rows = [json.loads(line)["step"] for line in
                (folder / "metrics.jsonl").read_text().splitlines()]
        if max(rows) > saved:
            # killed between the evaluation's best copy and its checkpoint: best/ may hold
            # a later step (README), which a resume to fewer steps never reaches again
            self.folders[name]["best_ok"] = False

    @precondition(lambda self: HAS_SAFETENSORS and self.healthy())
    @rule(data=st.data(), dst=st.sampled_from("ab"), steps=st.integers(1, 3),
          overwrite=st.booleans())
    def fine_tune(self, data, dst, steps, overwrite):
        """--init-from a run folder is refused (it names --ckpt / --resume); from a GPT-2 folder
        exported from the run (save_hf + the run's tokenizer) it starts a new run."""
        src = data.draw(st.sampled_from(self.healthy()), "source")
        self.refused(dst, self.train_args(dst, steps, "--init-from", self.path(src)),
                     "not a Hugging Face GPT-2 folder")
        from nanograd_llm.checkpoint import load_model, load_run_tokenizer
        hf = self.base / "hf"
        shutil.rmtree(hf, ignore_errors=True)
        load_model(self.path(src)).save_hf(hf)
        load_run_tokenizer(self.path(src)).save(str(hf))
        self.start_new(dst, steps, overwrite, ["--init-from", hf], exact=False)

    @precondition(lambda self: self.healthy())
    @rule(data=st.data(), what=st.sampled_from(sorted(DAMAGE)),
          how=st.sampled_from(["delete", "garble"]))
    def damage(self, data, what, how):
        name = data.draw(st.sampled_from(self.healthy()), "folder")
        r = self.run(name)
        folder = self.path(name)
        man = ckpt.read_manifest(folder)
        if what.startswith("best/") and (not r["best_ok"] or
                                         not (folder / "best" / ckpt.MANIFEST).exists()):
            return
        best = ckpt.read_manifest(folder / "best") if what.startswith("best/") else None
        path = folder / {"model": man["model_file"], "optim": man["optim_file"],
                         "best/model": f"best/{best and best['model_file']}"}.get(what, what)
        if how == "delete":
            path.unlink()
        else:
            path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 2)] + b"\xff{")
        if what == "metrics.jsonl":
            r["metrics_ok"] = False
        elif what.startswith("best/"):
            r["best_ok"] = False            # a resume's next evaluation writes a new copy
        elif what != "config.json":
            r["damaged"] = what
        if what == "checkpoint.json" and how == "delete":
            self.folders[name] = "leftovers"

    @precondition(lambda self: None in self.folders.values() and self.healthy())
    @rule(data=st.data())
    def copy_folder(self, data):
        """A run folder copied (cp -r) is a run of its own: it resumes exactly."""
        src = data.draw(st.sampled_from(self.healthy()), "source")
        dst = next(n for n, r in self.folders.items() if r is None)
        shutil.copytree(self.path(src), self.path(dst), symlinks=True)
        self.folders[dst] = copy.deepcopy(self.folders[src])

    @rule()
    def move_corpus(self):
        """The corpus file is moved: a resume names the new path with --data (the same text,
        checked by its sha256) and goes on exactly; eval --ckpt names the missing file."""
        moved = self.base / f"corpus-{int(self.corpus.stem.split('-')[1]) + 1}.txt"
        self.corpus.rename(moved)
        self.corpus = moved

    @precondition(lambda self: self.healthy())
    @rule(data=st.data())
    def resume_without_the_moved_corpus(self, data):
        name = data.draw(st.sampled_from(self.healthy()), "folder")
        if self.saved_corpus(name) == self.corpus:
            return
        self.refused(name, ["train", "--out", self.path(name), "--resume", "--quiet"],
                     "if the corpus has moved, add --data NEWPATH")

    @rule(name=st.sampled_from("ab"), command=st.sampled_from(["train", "resume", "overwrite",
                                                              "sample"]))
    def while_another_trains(self, name, command):
        """Another trainer holds the folder's lock: a trainer is refused at once, the folder
        untouched; a reader reads."""
        if self.folders[name] is None:
            return
        from nanograd_llm.run_folder import _lock_run
        lock = _lock_run(self.path(name))
        try:
            if command == "sample":
                ok = self.run(name) is not None and (not self.run(name)["damaged"] or
                                                      DAMAGE[self.run(name)["damaged"]][0])
                before = _snapshot(self.path(name))
                self.command(["sample", "--ckpt", self.path(name), "--max-new-tokens", "2"],
                             expect_ok=ok)
                assert _snapshot(self.path(name)) == before
                return
            args = {"train": self.train_args(name, 1),
                    "overwrite": self.train_args(name, 1, "--overwrite"),
                    "resume": self.resume_args(name, MAX)}[command]
            self.refused(name, args, "another process is training in")
        finally:
            lock.close()

    @rule(name=st.sampled_from("ab"))
    def remove_folder(self, name):
        shutil.rmtree(self.path(name), ignore_errors=True)
        self.folders[name] = None

    @rule(name=st.sampled_from("ab"), command=st.sampled_from(["sample", "eval"]))
    def read(self, name, command):
        """sample / eval read the folder, never change it; a folder without a usable
        checkpoint is an error naming it, whose advice does not lead to a refused command."""
        folder = self.path(name)
        before = _snapshot(folder)
        args = [command, "--ckpt", folder, *(["--max-new-tokens", "4", "--seed", "1"]
                                            if command == "sample" else ["--max-tokens", "16"])]
        r = self.run(name)
        ok = r is not None and (not r["damaged"] or DAMAGE[r["damaged"]][0])
        if ok and command == "eval" and self.saved_corpus(name) != self.corpus:
            rc, _, err = self.command(args, expect_ok=False)
            assert "the corpus the run was trained on" in err and "--data" in err, err
            args += ["--data", self.corpus, "--split", "val"]
        rc, out, err = self.command(args, expect_ok=ok)
        if not ok:
            assert rc == 1 and str(folder) in err, err
        if self.folders[name] == "leftovers" and "nanograd-llm train --out" in err:
            # a plain start is refused there: the advice must say --overwrite
            assert "--overwrite" in err, err
        if ok and command == "eval":
            assert "loss" in out
        assert _snapshot(folder) == before

    # -- invariants ------------------------------------------------------------------------
    @invariant()
    def folders_hold_what_the_model_says(self):
        assert not _temporaries(self.base), _temporaries(self.base)
        for name, state in self.folders.items():
            folder = self.path(name)
            if state is None:
                assert not folder.exists(), name
                continue
            assert folder.is_dir()
            if not isinstance(state, dict) or state["damaged"]:
                continue
            loaded = ckpt.load_checkpoint(folder)
            assert loaded["step"] == state["step"], (name, loaded["step"], state)
            saved = self.saved_corpus(name)
            assert saved.parent == self.base and saved.name.startswith("corpus-"), saved
            if state["exact"] and state["step"] > 0:
                np.testing.assert_array_equal(np.asarray(loaded["model"].flat),
                                              self.reference[state["step"]])
            if state["metrics_ok"]:
                rows = [json.loads(line) for line in
                        (folder / "metrics.jsonl").read_text().splitlines()]
                steps = [row["step"] for row in rows]
                assert steps == sorted(set(steps)), steps
                assert [s for s in steps if s <= state["step"]] == state["evals"], (steps, state)
                elapsed = [row["elapsed_s"] for row in rows]
                assert elapsed == sorted(elapsed), rows       # the earlier parts included
                if state["schedule_ok"]:
                    # each row's lr is that of its step (the schedule ends at lr_decay_iters)
                    assert [row["lr"] for row in rows] == [
                        get_lr(s, 3e-3, MIN_LR, 2, MAX) for s in steps], rows
            if state["best_ok"] and state["metrics_ok"]:
                self.check_best(folder, state, rows)

    def check_best(self, folder, state, rows):
        """best/ holds the weights of the evaluation with the lowest val loss of the log (the
        first one: only a lower loss replaces it)."""
        best = ckpt.load_checkpoint(folder / "best", with_optimizer=False)
        low = min(row["val_loss"] for row in rows)
        first = next(row["step"] for row in rows if row["val_loss"] == low)
        assert (round(best["manifest"]["extra"]["val_loss"], 6), best["step"]) == (low, first), \
            (best["step"], best["manifest"]["extra"], rows)
        if state["exact"] and best["step"] > 0:
            np.testing.assert_array_equal(np.asarray(best["model"].flat),
                                          self.reference[best["step"]])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reference")
    data = tmp / "corpus.txt"
    data.write_text(TEXT, encoding="utf-8")
    return tmp, data, _reference_weights(tmp, data)


def test_run_folder_life_cycle(reference, tmp_path):
    tmp, data, weights = reference
    RunFolders.root, RunFolders.data, RunFolders.reference = tmp_path, data, weights
    run_state_machine_as_test(RunFolders, settings=settings(
        max_examples=int(os.environ.get("RUN_FOLDER_EXAMPLES", 20)),
        stateful_step_count=int(os.environ.get("RUN_FOLDER_STEPS", 10)),
        deadline=None, derandomize=not os.environ.get("RUN_FOLDER_RANDOM"), database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
