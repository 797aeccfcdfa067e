"""
# Denetim noktaları (checkpoint): bir öldürülmeye dayanan kayıt

## Klasörde ne var?
Bir eğitim klasörü (`--out`) şunları tutar:

| dosya | içerik |
|---|---|
| `config.json` | model ve eğitim ayarları (insan okusun diye) |
| `tokenizer.json`, `tokenizer_meta.json` | belirteçleyici |
| `model-<adım>-<etiket>.npz` | ağırlıklar, adlarıyla (`np.savez`, pickle yok) |
| `optim-<adım>-<etiket>.npz` | AdamW momentleri `m`, `v` |
| `checkpoint.json` | **bildirim** (manifest): adım, hangi ağırlık/moment dosyası, sha256 özetleri, veri örnekleyicisinin üreteç durumu, dropout tohumu |
| `metrics.jsonl`, `loss.png` | eğitim günlüğü ve kayıp eğrisi |

## Atomik yazma: öldürülme hiçbir anda kaydı bozmaz
Bir dosyanın üzerine doğrudan yazarken süreç öldürülürse (SIGKILL, elektrik kesintisi)
yarım bir dosya kalır: hem eski kayıt hem yeni kayıt kaybolur. Bunu önlemek için:

1. Her dosya önce aynı klasörde **geçici bir ada** yazılır, `fsync` ile diske indirilir,
   sonra `os.replace` ile gerçek adına taşınır. `os.replace` POSIX'te atomiktir: dosya ya
   eskisidir ya yenisi, arası yoktur.
2. Ağırlık ve moment dosyalarının adları **yenidir** (adım + rastgele etiket); eski kaydın
   dosyalarının üzerine yazılmaz.
3. En son `checkpoint.json` atomik olarak değiştirilir. Geçerli kaydı tanımlayan tek şey
   budur: değişmeden önce öldürülürse eski bildirim eski (sağlam) dosyaları gösterir,
   sonra öldürülürse yeni bildirim yeni (tamamlanmış) dosyaları gösterir.
4. Ancak bundan sonra artık gösterilmeyen eski dosyalar silinir.

Yüklerken her dosyanın sha256 özeti bildirimdekiyle karşılaştırılır; kesilmiş, bozulmuş ya
da başka bir programın dosyası açık bir hatayla (dosyanın adıyla) reddedilir.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import zipfile
from pathlib import Path

import numpy as np

from .atomic import atomic_write, atomic_write_bytes, fsync_dir

FORMAT = "nanograd_llm.checkpoint"
VERSION = 1
MANIFEST = "checkpoint.json"
CONFIG = "config.json"


class CheckpointError(ValueError):
    """A checkpoint that is missing, truncated, corrupt or not ours."""


# -- atomic file helpers (atomic.py) ---------------------------------------------------------

def _write_npz(path: Path, arrays: dict) -> str:
    """np.savez into a temp file, fsync, rename; returns the file's sha256."""
    digest = ""

    def write(tmp):
        nonlocal digest
        with open(tmp, "wb") as f:          # a file object: np.savez would add ".npz" to a name
            np.savez(f, **arrays)
        digest = _sha256(tmp)
    atomic_write(path, write)
    return digest


def atomic_write_json(path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1, ensure_ascii=False) + "\n").encode())


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- saving -----------------------------------------------------------------------------------

def save_checkpoint(out_dir, model, optimizer, tokenizer, step: int, *, train_config=None,
                    sampler_state=None, dropout_seed=None, extra=None) -> Path:
    """Write a complete checkpoint into out_dir atomically; returns the manifest path."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    tag = f"{int(step):07d}-{secrets.token_hex(3)}"
    model_cfg = model.config_dict()
    # 1) belirteçleyici ve okunabilir ayar dosyası (her biri atomik)
    if tokenizer is not None:
        tokenizer.save(d)
    atomic_write_json(d / CONFIG, {"model": model_cfg, "dtype": model.dtype.name,
                                   "train": train_config or {}})
    # 2) yeni adlı ağırlık ve moment dosyaları
    files = {}
    model_file = f"model-{tag}.npz"
    files[model_file] = _write_npz(d / model_file, model.state_dict())
    optim_file = None
    if optimizer is not None:
        st = optimizer.state_dict()
        arrays = {f"m/{k}": a for k, a in st["m"].items()}
        arrays.update({f"v/{k}": a for k, a in st["v"].items()})
        optim_file = f"optim-{tag}.npz"
        files[optim_file] = _write_npz(d / optim_file, arrays)
        optim_meta = {k: st[k] for k in ("t", "lr", "betas", "eps", "weight_decay")}
    else:
        optim_meta = None
    fsync_dir(d)
    # 3) bildirim en son: geçerli kaydı bu dosya tanımlar
    manifest = {
        "format": FORMAT, "version": VERSION, "step": int(step),
        "model": model_cfg, "dtype": model.dtype.name,
        "model_file": model_file, "optim_file": optim_file, "optimizer": optim_meta,
        "sha256": files,
        "tokenizer": None if tokenizer is None else type(tokenizer).__name__,
        "sampler_state": sampler_state, "dropout_seed": dropout_seed,
        "train_config": train_config or {}, "extra": extra or {},
    }
    atomic_write_json(d / MANIFEST, manifest)
    fsync_dir(d)
    # 4) artık gösterilmeyen eski dosyaları sil
    for p in list(d.glob("model-*.npz")) + list(d.glob("optim-*.npz")):
        if p.name not in files:
            try:
                p.unlink()
            except OSError:
                pass
    # önceki, öldürülmüş bir yazmadan kalan geçici dosyalar (atomic.py'nin ".AD.xxxx.tmp"
    # adları ve eski sürümlerin ".AD.tmp-…" adları)
    for p in list(d.glob(".*.tmp-*")) + list(d.glob(".*.tmp")):
        try:
            p.unlink()
        except OSError:
            pass
    return d / MANIFEST


# -- loading ----------------------------------------------------------------------------------

def find_run_dir(path) -> Path:
    p = Path(path).expanduser()
    if p.is_file() and p.name == MANIFEST:
        p = p.parent
    if not p.exists():
        raise FileNotFoundError(f"checkpoint directory not found: {p}")
    if not p.is_dir():
        raise CheckpointError(f"{p} is not a checkpoint directory (expected a folder with "
                              f"{MANIFEST})")
    if not (p / MANIFEST).is_file():
        if (p / "config.json").is_file() and (p / "model.safetensors").is_file():
            raise CheckpointError(f"{p} is a Hugging Face GPT-2 folder, not a training run: "
                                  f"sample or chat with --hf {p}, fine-tune with "
                                  f"`nanograd-llm train --init-from {p}`")
        raise CheckpointError(f"no checkpoint in {p}: {MANIFEST} is missing (train with "
                              f"`nanograd-llm train --out {p}` first)")
    return p


def read_manifest(path) -> dict:
    d = find_run_dir(path)
    mpath = d / MANIFEST
    try:
        m = json.loads(mpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{mpath} is corrupt or not a checkpoint manifest ({e})") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise CheckpointError(f"{mpath} is not a nanograd_llm checkpoint manifest")
    if m.get("version") != VERSION:
        raise CheckpointError(f"{mpath} has checkpoint version {m.get('version')!r}; this "
                              f"nanograd_llm reads version {VERSION}")
    for key in ("step", "model", "model_file", "sha256", "dtype"):
        if key not in m:
            raise CheckpointError(f"{mpath} is incomplete: no {key!r} entry")
    _check_manifest_types(m, mpath)
    return m


def _check_manifest_types(m: dict, mpath: Path) -> None:
    """A hand-edited or foreign manifest gets a clear error, not a TypeError deep inside."""
    def bad(key, what):
        raise CheckpointError(f"{mpath}: {key!r} must be {what}, not {m[key]!r}")
    if type(m["step"]) is not int or m["step"] < 0:
        bad("step", "a non-negative integer")
    if not isinstance(m["model"], dict):
        bad("model", "a table of model settings")
    if not isinstance(m["dtype"], str):
        bad("dtype", "a dtype name")
    for key in ("model_file", "optim_file"):
        v = m.get(key)
        if v is None and key == "optim_file":
            continue
        # yalnızca bu klasördeki bir dosya adı; klasörün dışını gösteren bir yol kabul edilmez
        if not isinstance(v, str) or not v or v != Path(v).name or v in (".", ".."):
            bad(key, "a file name in the checkpoint folder")
    sha = m["sha256"]
    if not isinstance(sha, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                            for k, v in sha.items()):
        bad("sha256", "a table of file name -> sha256 hex digest")
    for key in ("train_config", "optimizer", "sampler_state", "extra"):
        if m.get(key) is not None and not isinstance(m[key], dict):
            bad(key, "a table")


def _load_npz(path: Path, expected_sha: str | None) -> dict:
    if not path.is_file():
        raise CheckpointError(f"checkpoint file missing: {path}")
    if expected_sha is not None and _sha256(path) != expected_sha:
        raise CheckpointError(f"checkpoint file {path} is corrupt or truncated "
                              f"(sha256 does not match {MANIFEST})")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise CheckpointError(f"cannot read checkpoint file {path}: {e}") from None


def build_model(model_cfg: dict, dtype="float32", device: str = "cpu", seed: int = 0):
    """A fresh model from a config dict ({"model": "gpt"|"bigram", ...})."""
    from .models.bigram import BigramLM
    from .models.gpt import GPT, GPTConfig
    cfg = dict(model_cfg)
    kind = cfg.pop("model", None)
    if kind == "gpt":
        return GPT(GPTConfig.from_dict(cfg), seed=seed, dtype=dtype, device=device)
    if kind == "bigram":
        return BigramLM(int(cfg["vocab_size"]), seed=seed, dtype=dtype, device=device)
    raise ValueError(f"unknown model type {kind!r} (expected 'gpt' or 'bigram')")


def load_checkpoint(path, device: str = "cpu", with_optimizer: bool = True) -> dict:
    """Everything a resume needs: model (on device), optimizer state, manifest, tokenizer."""
    d = find_run_dir(path)
    m = read_manifest(d)
    try:
        model = build_model(m["model"], dtype=m["dtype"], device=device)
    except (TypeError, ValueError, KeyError) as e:
        raise CheckpointError(f"{d / MANIFEST}: bad model configuration ({e})") from None
    sha = m.get("sha256", {})
    weights = _load_npz(d / m["model_file"], sha.get(m["model_file"]))
    model.load_state_dict(weights, source=str(d / m["model_file"]))
    out = {"model": model, "manifest": m, "step": int(m["step"]), "dir": d}
    if with_optimizer and m.get("optim_file"):
        arrays = _load_npz(d / m["optim_file"], sha.get(m["optim_file"]))
        state = dict(m.get("optimizer") or {})
        state["m"] = {k[2:]: a for k, a in arrays.items() if k.startswith("m/")}
        state["v"] = {k[2:]: a for k, a in arrays.items() if k.startswith("v/")}
        out["optimizer_state"] = state
    return out


def load_model(path, device: str = "cpu"):
    """The trained model of a run directory (GPT or BigramLM)."""
    model = load_checkpoint(path, device=device, with_optimizer=False)["model"]
    model.eval()
    return model


def load_run_tokenizer(path):
    from .tokenizers import load_tokenizer
    return load_tokenizer(find_run_dir(path))
