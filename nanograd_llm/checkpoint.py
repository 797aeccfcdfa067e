"""
# Denetim noktaları (checkpoint): bir öldürülmeye dayanan kayıt

## Klasörde ne var?
Bir eğitim klasörü (`--out`) şunları tutar:

| dosya | içerik |
|---|---|
| `config.json` | model ve eğitim ayarları (insan okusun diye) |
| `tokenizer.json`, `tokenizer_meta.json` | belirteçleyici (BPE'de `vocab.json`, `merges.txt`, `tokenizer_meta.json`) |
| `model-<adım>-<etiket>.npz` | ağırlıklar, adlarıyla (`np.savez`, pickle yok) |
| `optim-<adım>-<etiket>.npz` | AdamW momentleri `m`, `v` |
| `checkpoint.json` | **bildirim** (manifest): adım, hangi ağırlık/moment dosyası, sha256 özetleri (belirteçleyici dosyalarınınkiler dahil), veri örnekleyicisinin üreteç durumu, dropout tohumu |
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

Belirteçleyici dosyalarının adları ise sabittir ve bildirimden önce yazılır. Bu yüzden bir
klasöre, oradaki kayıttan **başka bir belirteçleyiciyle** kayıt yapılmaz: yeni dosyalar
eskilerin yerine geçtikten sonra kayıt yarıda kalsaydı, eski bildirim, özetleri tutmayan
dosyaları gösterirdi ve eski kayıt yüklenemezdi. `save_checkpoint` böyle bir kaydı hiçbir şey
yazmadan reddeder; eğitici her kayıtta aynı belirteçleyiciyi yazdığı için bu durumla hiç karşılaşmaz.

Yüklerken her dosyanın sha256 özeti bildirimdekiyle karşılaştırılır; kesilmiş, bozulmuş ya
da başka bir programın dosyası açık bir hatayla (dosyanın adıyla) reddedilir. Belirteçleyici
dosyaları da öyle (`load_run_tokenizer`): başka bir eğitimden kopyalanmış bir `tokenizer.json`
sessizce anlamsız metin üretmez, hata verir.

## Yazarken okumak
Eğitim sürerken başka bir süreç (örneğin `sample`) kaydı okuyabilir. Okuyan, bildirimi
okuduktan hemen sonra yazıcı yeni bir kayıt yapıp eski dosyaları silerse, okuduğu bildirimin
gösterdiği dosyalar artık yoktur. Bu bir bozulma değil, kaybedilmiş bir yarıştır: okuyan
bildirimin diskte değiştiğini görür ve yeni bildirimle baştan okur (birkaç kez, kısa aralarla).
Bildirim değişmemişse eksik dosya gerçekten eksiktir ve hata hemen bildirilir. Denetlenen
dosyalar okuma bitene kadar açık tutulur (diziler, model kurulduktan sonra tek tek okunur):
yeni bir kayıt onları silse de açık bir dosyanın içeriği değişmez, iki kayıt karışmaz.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import tempfile
import time
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .atomic import (atomic_write, atomic_write_bytes, atomic_write_files, bytes_writer, fsync_dir,
                     is_temporary_name, load_json, make_folder, remove_stale_temporaries_in,
                     shell_note, shell_quote, with_command_line_message)
from .backend import as_float_dtype, check_device, is_integer, shown, shown_items
from .models.base import DeferredArray, advice_when_too_large, check_state_dict

FORMAT = "nanograd_llm.checkpoint"
VERSION = 1
MANIFEST = "checkpoint.json"
CONFIG = "config.json"
# Belirteçleyici dosyalarının adları (karakter: tokenizer.json; BPE: vocab.json, merges.txt);
# dosyalarını kendisi söyleyemeyen bir belirteçleyicide bunlardan klasörde olanlar özetlenir
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_meta.json")
# Eski sürümlerde encode_corpus'un geçici dosyaları (tokens.npy.tmp, tokens.npy.tmp<pid>);
# bugün atomic.py'nin adlarını taşırlar (".tokens.npy.xxxx.tmp"; ham dosya da)
TOKENS_TMP_GLOB = "tokens.npy.tmp*"
# Bir yazıcı kayıt yaparken okuyan taraf kaç kez yeniden dener, denemeler arası kaç saniye
READ_RETRIES = 5
RETRY_PAUSE_S = 0.05
# Bozuk bir .npz'yi okurken zipfile ve NumPy'ın verdiği hatalar. ValueError ve OSError'ın
# dışında kalanlar da vardır: desteklenmeyen bir sıkıştırma yöntemi ya da zip sürümü
# (NotImplementedError), bozuk deflate verisi (zlib.error), kapanmayan parantezli bir .npy
# başlığı (NumPy başlığı tokenize ile süzer: tokenize.TokenError). Bunlar da dosyanın adıyla
# bildirilir; yoksa hata izi ya da hangi dosyanın bozuk olduğunu söylemeyen bir ileti çıkardı
# RuntimeError: zipfile bayrakları şifreli diyen bir üyeyi böyle reddeder ("File 'x.npy' is
# encrypted, password required for extraction"; ileti dosyayı adlandırmaz)
_NPZ_ERRORS = (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, NotImplementedError,
               zlib.error, tokenize.TokenError, RuntimeError)


class CheckpointError(ValueError):
    """A checkpoint that is missing, truncated, corrupt or not ours."""


class HuggingFaceFolderError(CheckpointError):
    """A Hugging Face GPT-2 folder given where a training run is expected. str(e) names the
    Python functions that open it; `command_line_message` (what cli.report_errors prints) the
    command-line options."""

    # Aynı denetim (find_run_dir) hem Python API'sine (GPT.load, load_model) hem komutlara
    # (sample --ckpt, train --resume, docs --run) hizmet eder: Python'da çağırana --hf gibi bir
    # seçenek önermek yol göstermez, komut satırında da GPT.from_hf önermek. İleti ikisi için
    # ayrı yazılır; komutların hata yazıcısı (cli.report_errors) ikincisini seçer.
    def __init__(self, path):
        self.path = path
        q = shell_quote(path)       # komut, boşluklu bir yolla da yapıştırılabilsin
        self.command_line_message = (
            f"{path} is a Hugging Face GPT-2 folder, not a training run: sample, chat or eval "
            f"with --hf {q}, fine-tune with `nanograd-llm train --init-from {q}`"
            f"{shell_note(path)}")
        super().__init__(
            f"{path} is a Hugging Face GPT-2 folder, not a training run: load it with "
            f"GPT.from_hf({str(path)!r}) (nanograd_llm.hf.init_from_hf for the model and its "
            f"tokenizer), fine-tune it with TrainConfig(init_from={str(path)!r})")


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
    """Write obj as indented UTF-8 JSON to path atomically (a temp file, fsynced, renamed)."""
    # UTF-8 olmayan bir dosya adında çözülemeyen her bayt (ör. Latin-5 ile yazılmış "şiir.txt"deki
    # 0xFE) Python'da tek başına bir vekil karakter olur ("\udcfe"): UTF-8'e çevrilemez. JSON'a
    # "\udcfe" kaçışı olarak yazılır; geri okununca aynı ad olur (yoksa böyle bir dosyayla eğitim
    # hiç kaydedilemezdi)
    text = json.dumps(obj, indent=1, ensure_ascii=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8", "backslashreplace"))


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _sha256_or_none(path) -> str | None:
    try:
        return _sha256(path)
    except OSError:
        return None


def _tokenizer_blobs(tokenizer) -> dict:
    """{file name: bytes} of the tokenizer's files, without touching the run folder."""
    file_texts = getattr(tokenizer, "file_texts", None)
    if callable(file_texts):
        return {name: text.encode("utf-8") for name, text in file_texts().items()}
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save(tmp)
        return {n: (Path(tmp) / n).read_bytes() for n in TOKENIZER_FILES
                if (Path(tmp) / n).is_file()}


def _refuse_another_tokenizer(d: Path, blobs: dict | None, digests: dict | None) -> None:
    """The folder's current checkpoint was saved with another tokenizer: refuse.

    Tokenizer files keep fixed names and are written before the manifest, so replacing them
    and then failing (disk full, Ctrl-C) would leave the old checkpoint with files that do not
    match its digests: it could no longer be loaded."""
    try:
        recorded = load_json((d / MANIFEST).read_bytes()).get("tokenizer_sha256")
    except (OSError, ValueError, AttributeError):
        return                                  # no readable checkpoint here: nothing to lose
    if not (isinstance(recorded, dict) and recorded and digests is not None) or \
            digests == recorded or _same_tokenizer(d, recorded, blobs):
        return
    raise CheckpointError(
        f"{d} holds a checkpoint saved with another tokenizer; save this one into a new "
        "folder (or delete the old checkpoint first)")


def check_tokenizer(out_dir, tokenizer) -> None:
    """Raise the CheckpointError save_checkpoint(out_dir, ..., tokenizer, ...) would raise
    because the folder's checkpoint was saved with another tokenizer; nothing is written."""
    blobs = _tokenizer_blobs(tokenizer)
    _refuse_another_tokenizer(Path(out_dir), blobs,
                              {name: hashlib.sha256(b).hexdigest() for name, b in blobs.items()})


def _same_tokenizer(d: Path, recorded: dict, blobs: dict) -> bool:
    """Whether the folder's tokenizer is this one after all, or there is nothing to protect.

    The files may differ in bytes only: the same tokenizer written by an older version of this
    code. Read with today's code and written again, they then give exactly `blobs`."""
    # Eski kaydın dosyaları zaten özetleriyle tutmuyorsa (silinmiş, değişmiş) korunacak bir
    # belirteçleyici yoktur
    if any(not isinstance(h, str) or _sha256_or_none(d / str(n)) != h
           for n, h in recorded.items()):
        return True
    from .tokenizers import load_tokenizer
    try:
        old = load_tokenizer(d)
    except (OSError, ValueError, KeyError, TypeError, ImportError):
        return True                 # bugünkü kodun okuyamadığı bir belirteçleyici: korunacak yok
    return _tokenizer_blobs(old) == blobs


def _save_tokenizer(d: Path, blobs: dict, digests: dict) -> None:
    """Write the tokenizer's files into d (each atomically)."""
    # Belirteçleyici eğitim boyunca değişmez: dosyalar zaten aynıysa her kayıtta yeniden
    # yazılmaz (BPE'nin vocab.json'ı büyüktür; okuyan bir süreç de hep aynı dosyaları görür)
    if any(_sha256_or_none(d / name) != h for name, h in digests.items()):
        atomic_write_files(d, {name: bytes_writer(b) for name, b in blobs.items()})


# -- saving -----------------------------------------------------------------------------------

def save_checkpoint(out_dir, model, optimizer, tokenizer, step: int, *, train_config=None,
                    sampler_state=None, dropout_seed=None, extra=None) -> Path:
    """Write a complete checkpoint into out_dir atomically; returns the manifest path.

    step: an integer >= 0; optimizer: the model's AdamW (or None: no moments are saved);
    tokenizer: the run's tokenizer (or None), refused when the folder's checkpoint was saved
    with another one. train_config (a TrainConfig's to_dict), sampler_state (a
    BatchSampler's get_state), dropout_seed and extra (a dict) are recorded in
    checkpoint.json for a resume (train_config also in config.json)."""
    # Okuyucunun (_check_manifest_types) reddedeceği bir kayıt hiç yazılmaz: step = −1 ile
    # kaydedilen ağırlıklar load_model ile bir daha açılamıyordu, 1.5 ise sessizce 1 oluyordu
    if not is_integer(step) or step < 0:
        raise ValueError(f"step must be an integer >= 0, got {step!r}")
    _check_optimizer_fits(model, optimizer)
    d = make_folder(out_dir)
    tag = f"{int(step):07d}-{secrets.token_hex(3)}"
    model_cfg = model.config_dict()
    # 1) belirteçleyici ve okunabilir ayar dosyası (her biri atomik). Klasördeki kayıt başka
    # bir belirteçleyiciyle yapılmışsa hiçbir şey yazılmadan reddedilir (_refuse_another_tokenizer)
    blobs = None if tokenizer is None else _tokenizer_blobs(tokenizer)
    tokenizer_sha = None if blobs is None else {
        name: hashlib.sha256(b).hexdigest() for name, b in blobs.items()}
    _refuse_another_tokenizer(d, blobs, tokenizer_sha)
    if blobs is not None:
        _save_tokenizer(d, blobs, tokenizer_sha)
    atomic_write_json(d / CONFIG, {"model": model_cfg, "dtype": model.dtype.name,
                                   "train": train_config or {}})
    # 2) yeni adlı ağırlık ve moment dosyaları
    files = {}
    try:
        model_file = f"model-{tag}.npz"
        # Ağırlıklar ve momentler kopyalanmadan yazılır (copy=False: CPU'da modelin ve
        # eniyileyicinin kendi dizileri): kopyaları parametrelerin üç katı bellek isterdi
        files[model_file] = _write_npz(d / model_file, model.state_dict(copy=False))
        optim_file = None
        if optimizer is not None:
            st = optimizer.state_dict(copy=False)
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
            "tokenizer_sha256": tokenizer_sha,
            "sampler_state": sampler_state, "dropout_seed": dropout_seed,
            "train_config": train_config or {}, "extra": extra or {},
        }
        atomic_write_json(d / MANIFEST, manifest)
    except BaseException:
        # Bildirim yazılamadı (disk dolu, Ctrl-C…): yeni dosyaları hiçbir bildirim göstermez,
        # kalmasınlar; eski kayıt ve onun dosyaları olduğu gibi durur
        _remove_unlisted(d, [f"model-{tag}.npz", f"optim-{tag}.npz"])
        raise
    fsync_dir(d)
    # 4) artık gösterilmeyen eski dosyaları sil
    remove_unnamed_files(d, files)
    return d / MANIFEST


def _check_optimizer_fits(model, optimizer) -> None:
    """ValueError when `optimizer` is a model's AdamW whose moments do not fit `model` (another
    model's optimizer): such a checkpoint saves, and is refused only when it is resumed."""
    own = getattr(optimizer, "model", None)
    m = getattr(optimizer, "m", None)
    if own is not None and getattr(m, "shape", None) != model.flat.shape:
        raise ValueError(f"the optimizer belongs to another model: its moments hold "
                         f"{m.size:,} numbers, this model has {model.flat.size:,} parameters "
                         f"(save the optimizer made with AdamW(model))")


def remove_unnamed_files(d, keep) -> None:
    """Delete the weight and moment files of d other than `keep` (the names its manifest
    gives), and the temporary files a killed write left there."""
    d = Path(d)
    for p in list(d.glob("model-*.npz")) + list(d.glob("optim-*.npz")):
        if p.name not in keep:
            try:
                p.unlink()
            except OSError:
                pass
    # önceki, öldürülmüş bir yazmadan kalan geçici dosyalar: atomic.py'nin ".AD.xxxx.tmp"
    # adları kilit denetimiyle silinir (klasöre hâlâ yazan başka bir sürecin, ör. bir save_hf'in
    # geçici dosyası kalır); eski sürümlerin ".AD.tmp-…" adlarını ve encode_corpus'un eski
    # "tokens.npy.tmp…" adlarını bugün kimse yazmaz
    for p in list(d.glob(".*.tmp-*")) + list(d.glob(".*.tmp")) + list(d.glob(TOKENS_TMP_GLOB)):
        if p.is_symlink() or not (is_temporary_name(p.name) or p.is_dir()):
            try:
                p.unlink()
            except OSError:
                pass
    remove_stale_temporaries_in(d)


def _remove_unlisted(d: Path, names: list) -> None:
    """Delete the files of a failed save, unless the manifest now in d names one of them."""
    try:
        m = load_json((d / MANIFEST).read_bytes())
        named = {m.get("model_file"), m.get("optim_file")}
    except (OSError, ValueError, AttributeError):
        named = set()
    if named & set(names):
        return
    for name in names:
        try:
            (d / name).unlink()
        except OSError:
            pass


# -- loading ----------------------------------------------------------------------------------

def find_run_dir(path) -> Path:
    """The run folder of `path` (a run folder, or its checkpoint.json); an error that says
    what the folder is instead (missing, a GPT-2 folder: HuggingFaceFolderError, a run that
    has not saved a checkpoint yet, other files) when it holds no checkpoint."""
    p = Path(path).expanduser()
    if p.is_file() and p.name == MANIFEST:
        p = p.parent
    if not p.exists():
        raise FileNotFoundError(f"checkpoint directory not found: {p}")
    if not p.is_dir():
        raise CheckpointError(f"{p} is not a checkpoint directory (expected a folder with "
                              f"{MANIFEST})")
    refuse_a_manifest_that_is_not_a_file(p)
    if not (p / MANIFEST).is_file():
        if (p / "config.json").is_file() and ((p / "model.safetensors").is_file() or
                                              (p / "model.safetensors.index.json").is_file()):
            raise HuggingFaceFolderError(p)
        # İlk denetim noktasından önce öldürülen bir eğitimin klasörüne "önce `train --out` ile
        # eğitin" denmez: o komut klasörü reddeder (--overwrite ister). run_folder bu modülü
        # içe aktarır: burada, geç içe aktarılır
        from .run_folder import LOCK_FILE, held_by_a_trainer, unsaved_run_advice
        if held_by_a_trainer(p):
            # Başlamakta olan bir eğitim (veri hazırlanıyor, ilk değerlendirme sürüyor) de
            # klasörde tokens.npy gibi dosyalar tutar: "ilk kaydından önce durdu, --overwrite
            # ile yeniden başlatın" demek yanlış olurdu (--overwrite kilit yüzünden reddedilir)
            raise CheckpointError(f"no checkpoint in {p} yet: a training run there is still "
                                  f"running and has not saved its first checkpoint; try again "
                                  f"once it has (it saves one at step 0, after preparing its "
                                  f"data)")
        advice = unsaved_run_advice(p)
        if advice is not None:
            raise _no_checkpoint(p, *advice)
        # Başka dosyaları tutan bir klasöre de "önce `train --out` ile eğitin" denmez: eğitim
        # kendi yapmadığı dosyaların yanına yazmaz, o komut da klasörü reddeder
        names = sorted(e.name for e in p.iterdir() if e.name != LOCK_FILE)
        if names:
            held = f"it holds no training run ({shown_items(names, 6)}); give a folder that "
            raise _no_checkpoint(p, held + "train() wrote", held + "`nanograd-llm train` wrote")
        raise _no_checkpoint(p, f"{MANIFEST} is missing (train a run there first: train(cfg) "
                                f"with out_dir={str(p)!r})",
                             f"{MANIFEST} is missing (train with `nanograd-llm train --out "
                             f"{shell_quote(p)}` first{shell_note(p)})")
    return p


def _no_checkpoint(p: Path, python_advice: str, command_line_advice: str) -> CheckpointError:
    """find_run_dir's "no checkpoint in P: …": str(e) in Python's words (train(cfg), for
    GPT.load, load_model, train(cfg, resume=True)), carrying the command line's (the commands
    that read a run: sample, eval, chat, attention, train --resume, docs --run)."""
    # Python'dan GPT.load çağırana "`nanograd-llm train --out …` ile eğitin" demek, onun
    # kullanmadığı bir komutu söyler (run_folder.both_ways'deki gibi: iki okur, iki ileti)
    return with_command_line_message(CheckpointError(f"no checkpoint in {p}: {python_advice}"),
                                     f"no checkpoint in {p}: {command_line_advice}")


def refuse_a_manifest_that_is_not_a_file(d: Path) -> None:
    """A folder (or a pipe…) named checkpoint.json in run folder d is not a manifest: say so."""
    # Eskiden "checkpoint.json is missing" deniyordu (--resume, sample --ckpt) ya da yeni bir
    # eğitime "--overwrite ile başlayın" öğütlenip --overwrite "[Errno 21] Is a directory" ile
    # düşüyordu. Eğitim o adda yalnızca bir dosya yazar: bir klasör onun değildir, içindekiler
    # silinmez; kullanıcı onu kaldırmalıdır
    m = Path(d) / MANIFEST
    if m.exists() and not m.is_file():
        raise CheckpointError(f"{m} is {'a folder' if m.is_dir() else 'not a regular file'}, "
                              f"not a checkpoint manifest (a run saves that as a file): move "
                              f"it out of {d}, or use another folder")


def read_manifest(path) -> dict:
    """The parsed checkpoint.json of the run folder `path` (see find_run_dir), checked."""
    return _read_manifest(find_run_dir(path))[1]


def _manifest_bytes(d: Path) -> bytes | None:
    """The manifest's bytes as they are now (None when it is gone or unreadable)."""
    try:
        return (d / MANIFEST).read_bytes()
    except OSError:
        return None


def _read_manifest(d: Path) -> tuple[bytes, dict]:
    """(raw bytes, checked manifest) of run directory d: the bytes let a reader see later
    whether a writer has replaced the manifest since."""
    mpath = d / MANIFEST
    try:
        raw = mpath.read_bytes()
    except FileNotFoundError:
        # Bildirim yoksa klasörün durumunu anlatan hata verilir (klasör silinmiş ya da boş)
        find_run_dir(d)
        raise
    try:
        m = load_json(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{mpath} is corrupt or not a checkpoint manifest ({e})") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise CheckpointError(f"{mpath} is not a nanograd_llm checkpoint manifest")
    if m.get("version") != VERSION:
        raise CheckpointError(f"{mpath} has checkpoint version {shown(m.get('version'))}; this "
                              f"nanograd_llm reads version {VERSION}")
    for key in ("step", "model", "model_file", "sha256", "dtype"):
        if key not in m:
            raise CheckpointError(f"{mpath} is incomplete: no {key!r} entry")
    _check_manifest_types(m, mpath)
    return raw, m


def _check_manifest_types(m: dict, mpath: Path) -> None:
    """A hand-edited or foreign manifest gets a clear error, not a TypeError deep inside."""

    def bad(key, what):
        raise CheckpointError(f"{mpath}: {key!r} must be {what}, not {shown(m[key])}")
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
        # yalnızca bu klasördeki bir dosya adı; klasörün dışını gösteren bir yol ya da hiçbir
        # dosya sisteminin taşıyamayacağı uzunlukta (255 bayttan uzun) bir ad kabul edilmez
        if not isinstance(v, str) or not v or v != Path(v).name or v in (".", "..") \
                or len(v.encode("utf-8", "surrogatepass")) > 255:
            bad(key, "a file name in the checkpoint folder")
    sha = m["sha256"]
    if not isinstance(sha, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                            for k, v in sha.items()):
        bad("sha256", "a table of file name -> sha256 hex digest")
    for key in ("train_config", "optimizer", "sampler_state", "extra"):
        if m.get(key) is not None and not isinstance(m[key], dict):
            bad(key, "a table")
    tok = m.get("tokenizer_sha256")
    if tok is not None and not (isinstance(tok, dict) and all(
            isinstance(k, str) and k == Path(k).name and k not in ("", ".", "..")
            and isinstance(v, str) for k, v in tok.items())):
        bad("tokenizer_sha256", "a table of tokenizer file name -> sha256 hex digest")


class _StaleRead(CheckpointError):
    """A file named by the manifest is missing, unreadable or does not match its digest: a
    real fault, or a reader that lost a race with a writer (see _with_retries)."""


def _with_retries(d: Path, read):
    """read(raw_manifest, manifest) under a fresh manifest until it succeeds.

    A trainer that saves a checkpoint deletes the files the previous manifest named right
    after replacing it; a reader that read the old manifest just before then finds its files
    gone. Only when the manifest on disk is still the one that was read is the fault real."""
    for attempt in range(READ_RETRIES + 1):
        raw, m = _read_manifest(d)
        try:
            return read(raw, m)
        except _StaleRead as e:
            # Bildirim okunduğundan beri değiştiyse bir yazıcıyla yarışılmıştır: yeni
            # bildirimle baştan okunur (karışık iki kaydın dosyaları asla birleştirilmez)
            if attempt == READ_RETRIES or _manifest_bytes(d) == raw:
                raise CheckpointError(str(e)) from None
            time.sleep(RETRY_PAUSE_S * (attempt + 1))
    raise AssertionError("unreachable")


def _open_npz(path: Path, expected_sha: str | None, stack) -> dict:
    """name -> DeferredArray of an .npz file whose sha256 matches (an array its header does not
    describe is read at once); the file stays open (on stack) and each array is read when it
    is asked for. Every refusal of reading it whole
    (missing, other digest, not an archive, an array of text) is made here, before any array
    is read."""
    if not path.is_file():
        raise _StaleRead(f"checkpoint file missing: {path}")
    try:
        digest = _sha256(path) if expected_sha is not None else None
    except OSError as e:
        raise _StaleRead(f"cannot read checkpoint file {path}: {e}") from None
    if expected_sha is not None and digest != expected_sha:
        raise _StaleRead(f"checkpoint file {path} is corrupt or truncated "
                         f"(sha256 does not match {MANIFEST})")
    try:
        # Ne zip arşivi ne .npy olan baytları (kesilmiş ya da üzerine yazılmış bir dosya, boş
        # bir dosya) np.load bir pickle sanar ve "If you trust the file you can load it unsafely
        # using the `allow_pickle=` keyword" der: bozuk bir dosyayı güvensizce açmayı öğütlerdi.
        # np.load zip arşivini ilk dört baytından tanır: başı bozulmuş bir arşiv, sonundaki
        # dizin sağlam kalsa da pickle sayılırdı; bu yüzden hem baş hem son denetlenir. Dosya
        # bir kez açılır, np.load da aynı dosyayı okur
        f = stack.enter_context(open(path, "rb"))
        head = f.read(6)
        npy = head == b"\x93NUMPY"
        if not npy and not (head[:4] in (b"PK\x03\x04", b"PK\x05\x06")
                            and zipfile.is_zipfile(f)):
            raise ValueError("it is not an .npz archive (not a whole zip archive: the file was "
                             "cut short, overwritten or is of another kind)")
        f.seek(0)
        loaded = np.load(f, allow_pickle=False)
        if not hasattr(loaded, "files"):
            # Tek dizilik bir .npy dosyası (np.save) bir arşiv değildir: np.load onu doğrudan
            # dizi olarak döndürür; "with" bloğu TypeError hata izi verirdi
            raise ValueError("it holds a single .npy array, not an .npz archive of named "
                             "arrays")
        z = stack.enter_context(loaded)
        # Diziler burada okunmaz, yalnızca başlıkları (şekil, tür): her biri ancak modele ya da
        # momentlere kopyalanırken okunur. Başlığından anlaşılamayan bir .npy üyesi (sayı
        # olmayan bir tür, bozuk bir başlık) eskisi gibi hemen okunur: hatası da eskisi gibi
        # burada verilir
        arrays = {}
        members = set(z.zip.namelist())
        for k in z.files:
            # .npy olmayan bir üye (ör. arşive eklenmiş bir metin dosyası) okununca dizi değil
            # ham bayt verir: aşağıdaki tür denetimi AttributeError hata iziyle düşerdi. Dosyanın
            # ve üyenin adıyla, hiçbir üye okunmadan reddedilir
            if k + ".npy" not in members:
                raise ValueError(f"its member {shown(k)} is not a .npy array (an .npz archive "
                                 f"of named arrays holds only .npy members)")
            head = _npy_header(z, k)
            arrays[k] = DeferredArray(*head, _member_reader(z, k, path)) if head else z[k]
            if not isinstance(arrays[k], (np.ndarray, DeferredArray)):
                # .npy adlı ama .npy başlığı (sihirli baytları) olmayan bir üyeyi NumPy dizi
                # değil ham bayt olarak verir: aşağıdaki tür denetimi AttributeError verirdi
                raise ValueError(f"its member {shown(k + '.npy')} is not a .npy array (it "
                                 f"does not start with the .npy header)")
    except _NPZ_ERRORS as e:
        raise _StaleRead(f"cannot read checkpoint file {path}: {_npz_error(e)}") from None
    # Ağırlıklar ve momentler sayıdır: metin (ya da karmaşık sayı) tutan bir dizi, derindeki
    # bir dönüştürme hatası yerine dosyanın ve dizinin adıyla reddedilir
    for k, a in arrays.items():
        if a.dtype.kind not in "fiu":
            what = "text" if a.dtype.kind in "US" else f"{a.dtype} values"
            raise CheckpointError(f"checkpoint file {path}: array {shown(k)} holds {what}, not "
                                  f"numbers (dtype {a.dtype})")
    return arrays


def _npz_error(e: Exception) -> str:
    """What an error of _NPZ_ERRORS says about the file (TokenError's text is a tuple)."""
    if isinstance(e, tokenize.TokenError):
        return f"a .npy header is malformed ({e.args[0]})"
    return str(e)


def _npy_header(z, k: str):
    """(shape, dtype) of array k of an open .npz from its .npy header (its member, checked by
    _open_npz); None when only reading the array tells (another header version, a dtype that
    is not numbers)."""
    from numpy.lib import format as npy
    try:
        with z.zip.open(k + ".npy") as fp:
            version = npy.read_magic(fp)
            if version == (1, 0):
                shape, _, dtype = npy.read_array_header_1_0(fp)
            elif version == (2, 0):
                shape, _, dtype = npy.read_array_header_2_0(fp)
            else:
                return None
    except Exception:
        return None
    if dtype.hasobject or dtype.kind not in "fiu":
        return None
    return shape, dtype


def _read(a):
    """The array itself: a DeferredArray is read now."""
    return a.read() if isinstance(a, DeferredArray) else a


def _member_reader(z, k: str, path: Path):
    def read():
        try:
            return z[k]
        except _NPZ_ERRORS as e:
            raise CheckpointError(f"cannot read checkpoint file {path}: {_npz_error(e)}") \
                from None
    return read


def _model_class(model_cfg: dict):
    """(model class, its config argument) of a config dict ({"model": "gpt"|"bigram", ...});
    a config the class cannot take raises here (TypeError, ValueError, KeyError)."""
    from .models.bigram import BigramLM
    from .models.gpt import GPT, GPTConfig
    cfg = dict(model_cfg)
    kind = cfg.pop("model", None)
    if kind == "gpt":
        return GPT, GPTConfig.from_dict(cfg)
    if kind == "bigram":
        return BigramLM, cfg["vocab_size"]
    raise ValueError(f"unknown model type {shown(kind)} (expected 'gpt' or 'bigram')")


def build_model(model_cfg: dict, dtype="float32", device: str = "cpu", seed: int = 0, *,
                init_weights: bool = True):
    """A fresh model from a config dict ({"model": "gpt"|"bigram", ...}); init_weights=False
    gives zeros instead of drawn weights, for a loader that overwrites every one."""
    cls, arg = _model_class(model_cfg)
    return cls(arg, seed=seed, dtype=dtype, device=device, init_weights=init_weights)


def model_shapes(model_cfg: dict, dtype="float32", device: str = "cpu") -> dict:
    """name -> shape of the parameters build_model(model_cfg, dtype, device,
    init_weights=False) gives, without building it; a config it refuses raises here, a model
    too big for the memory it is loaded into its MemoryError."""
    cls, arg = _model_class(model_cfg)
    shapes = cls.param_shapes(arg, dtype, device)
    as_float_dtype(dtype)       # BigramLM'inki de (GPT'ninkini bellek denetimi zaten okudu)
    return shapes


def load_checkpoint(path, device: str = "cpu", with_optimizer: bool = True) -> dict:
    """Everything a resume needs, checked against the manifest's digests: a dict with
    "model" (on device, in train mode), "manifest" (checkpoint.json's dict), "step", "dir"
    (the run folder) and, with with_optimizer and saved moments, "optimizer_state" (for
    AdamW.load_state_dict). The tokenizer is load_run_tokenizer's."""
    # Aygıt adı çağıranın argümanıdır: model kurulurken denetlenseydi hatası aşağıda
    # "checkpoint.json: bad model configuration" diye denetim noktasının suçu sayılırdı
    check_device(device)
    d = find_run_dir(path)

    def read(raw, m):
        # Dosyalar açılır ve denetlenir (özet, arşiv, dizilerin adları, türleri, şekilleri);
        # diziler henüz okunmaz. Yarışı kaybeden bir deneme açtıklarını kapatır
        with contextlib.ExitStack() as attempt:
            sha = m.get("sha256", {})
            weights = _open_npz(d / m["model_file"], sha.get(m["model_file"]), attempt)
            arrays = None
            if with_optimizer and m.get("optim_file"):
                arrays = _open_npz(d / m["optim_file"], sha.get(m["optim_file"]), attempt)
            return m, weights, arrays, attempt.pop_all()

    # Önce bütün dosyalar açılıp denetlenir (yarışta yeniden denenebilir), model sonra kurulur.
    # Okunan her şey aynı bildirimin dosyalarıdır: dosyalar bu bildirimle açıldı ve okuma
    # bitene kadar açık kalır (adları her kayıtta yenidir; yeni bir kayıt eskilerini silse de
    # açık bir dosyanın içeriği değişmez, Windows'ta da açık dosya silinemez). Ağırlıklar
    # modele kopyalanırken tek tek, momentler en son okunur: hepsini model kurulmadan önce
    # okumak, ağırlıkların bir kopyasını daha (GPT-2 small'da 0,5 GB) bellekte tutardı
    m, weights, arrays, files = _with_retries(d, read)
    with files:
        mpath = d / MANIFEST
        too_large = advice_when_too_large(f"{'this GPU' if device == 'cuda' else 'this machine'}"
                                          f" cannot hold the checkpoint's weights: use one "
                                          f"with more memory")
        try:
            with too_large:
                shapes = model_shapes(m["model"], m["dtype"], device)
        except (TypeError, ValueError, KeyError) as e:
            raise CheckpointError(f"{mpath}: bad model configuration ({e})") from None
        # Bildirimin model ayarları ile ağırlık dosyasının adları ve şekilleri (başlıklardan)
        # model kurulmadan karşılaştırılır. Uymayan bir çift (elle değiştirilmiş ayarlar,
        # başka bir programın yazdığı bildirim) öteki bozuk kayıtlar gibi, bildirimin ve
        # dosyanın adıyla bir CheckpointError'dır; önce model kurulsaydı uymayan ayarlar için
        # (ör. GPU'da) boşuna bellek ayrılır, hata da load_state_dict'in düz ValueError'ı olurdu
        try:
            check_state_dict(shapes, weights, source=str(d / m["model_file"]))
        except ValueError as e:
            raise CheckpointError(f"{mpath}: its 'model' settings do not fit the weights it "
                                  f"names ({e})") from None
        try:
            # Ağırlıklar üretilmez (sıfır): hepsinin üzerine aşağıda dosyadakiler yazılır;
            # yarıda kalan bir okuma bu modeli döndürmez, hatası yükselir
            model = build_model(m["model"], dtype=m["dtype"], device=device,
                                init_weights=False)
        except (TypeError, ValueError, KeyError) as e:
            raise CheckpointError(f"{mpath}: bad model configuration ({e})") from None
        model.load_state_dict(weights, source=str(d / m["model_file"]))
        del weights
        out = {"model": model, "manifest": m, "step": int(m["step"]), "dir": d}
        if arrays is not None:
            state = dict(m.get("optimizer") or {})
            state["m"] = {k[2:]: _read(a) for k, a in arrays.items() if k.startswith("m/")}
            state["v"] = {k[2:]: _read(a) for k, a in arrays.items() if k.startswith("v/")}
            out["optimizer_state"] = state
    return out


def load_model(path, device: str = "cpu"):
    """The trained model of a run directory (GPT or BigramLM), in eval mode."""
    model = load_checkpoint(path, device=device, with_optimizer=False)["model"]
    model.eval()
    return model


def model_vocab_size(model) -> int:
    """Rows of the model's embedding table: model.config.vocab_size (GPT) or
    model.vocab_size (BigramLM)."""
    cfg = getattr(model, "config", None)
    if cfg is not None and hasattr(cfg, "vocab_size"):
        return int(cfg.vocab_size)
    return int(model.vocab_size)


def check_tokenizer_fits(model, tokenizer, source=None) -> None:
    """Raise CheckpointError when the tokenizer has ids the model has no embedding row for
    (a tokenizer of another run: its text would be garbage or an index error)."""
    n_tok, n_model = int(tokenizer.vocab_size), model_vocab_size(model)
    if n_tok > n_model:
        where = f"{source}: " if source is not None else ""
        raise CheckpointError(f"{where}the tokenizer has {n_tok} tokens but the model's "
                              f"vocabulary has only {n_model}: the tokenizer belongs to "
                              f"another model or run")


def _check_tokenizer_files(d: Path, m: dict) -> dict:
    """The tokenizer files are the ones the manifest's save wrote (when it recorded them);
    -> {file name: bytes} of the files it checked, as it read them."""
    recorded = m.get("tokenizer_sha256")
    # Eski bir kayıt özetleri yazmamıştır: denetlenecek bir şey yok
    if not recorded:
        return {}
    return {name: _check_tokenizer_file(d / name, expected, keep=True)
            for name, expected in recorded.items()}


def _check_tokenizer_file(p: Path, expected: str, keep: bool = False) -> bytes | None:
    """_StaleRead unless tokenizer file p is there and has the sha256 `expected`; with
    `keep`, -> the bytes whose digest was checked (the file is read once)."""
    if not p.is_file():
        raise _StaleRead(f"tokenizer file missing: {p} (listed in {MANIFEST})")
    raw = None
    try:
        if keep:
            raw = p.read_bytes()
            digest = hashlib.sha256(raw).hexdigest()
        else:
            digest = _sha256(p)
    except OSError as e:
        raise _StaleRead(f"cannot read tokenizer file {p}: {e}") from None
    if digest != expected:
        raise _StaleRead(f"tokenizer file {p} does not match {MANIFEST}: the tokenizer "
                         f"files were changed or belong to another run")
    return raw


# Dosyaların ucuz denetimi. --resume'suz başlatılan yeni bir eğitim, klasördeki kaydı
# sürdürmek için --resume öğütler; ama bildirimin adını verdiği bir dosya bozuksa --resume da
# o dosyada durur. Öğüt verilmeden önce dosyalar --resume'un okuyacağı gibi denetlenir, ama
# model kurulmadan ve büyük dosyalar baştan sona okunmadan:
# - HASH_LIMIT'e kadar olan bir dosyanın sha256 özeti bildirimdekiyle karşılaştırılır (bu
#   paketin hazır ayarlarıyla eğitilen her modelin ağırlıkları ve momentleri bu sınırın
#   altındadır; 128 MiB'ın özeti bugünkü bir işlemcide saniyenin onda biri kadar sürer);
# - daha büyük bir ağırlık ya da moment dosyası (GPT-2 boyutunda bir ince ayar: 0,5 GB
#   ağırlık, 1 GB moment) yalnızca yapısıyla denetlenir: zip arşivinin sonundaki merkezî
#   dizin (üyelerin listesi) ve her dizi üyesinin .npy başlığı (birkaç yüz baytlık okumalar).
#   Kesilmiş bir dosya sonundaki merkezî dizini, anlamsız baytlarla dolu bir dosya da zip
#   yapısını yitirir; ikisi de burada yakalanır. Arşivin ortasında değişmiş tek bir bayt ise
#   yalnızca özetle anlaşılır: onu --resume bulur.
HASH_LIMIT = 128 << 20


def file_faults(path, manifest: dict | None = None,
                hash_limit: int | None = None) -> list[tuple[str, str, str]]:
    """(file name, fault, message) for each file the checkpoint of run folder `path` names
    (weights, moments, recorded tokenizer files) that a resume would refuse: fault 'missing',
    'denied' (no permission to read it; message: the system's words) or 'damaged' (message:
    resume's own error). manifest: the folder's manifest, when the caller has read it.

    Cheap: no model is built; a file of at most `hash_limit` bytes is checked against its
    sha256, a larger weight or moment file only by its structure (zip directory, .npy
    headers), which a truncated or overwritten file fails but a changed byte inside may pass.
    hash_limit: HASH_LIMIT when None."""
    d = Path(path)
    hash_limit = HASH_LIMIT if hash_limit is None else hash_limit
    m = _read_manifest(d)[1] if manifest is None else manifest
    sha = m.get("sha256") or {}
    named = [(n, sha.get(n), True) for n in (m["model_file"], m.get("optim_file"))
             if n is not None]
    named += [(n, h, False) for n, h in (m.get("tokenizer_sha256") or {}).items()]
    faults = []
    for name, expected, npz in named:
        p = d / name
        if not p.is_file():
            faults.append((name, "missing", f"{'checkpoint' if npz else 'tokenizer'} file "
                                            f"missing: {p}"))
            continue
        try:
            with open(p, "rb") as f:
                size = os.fstat(f.fileno()).st_size
        except PermissionError as e:
            # Okuma izni olmayan bir dosya bozuk değildir: izin düzeltilince --resume okur
            faults.append((name, "denied", e.strerror or str(e)))
            continue
        except OSError:
            size = 0                # aşağıdaki okuma hatayı dosyanın adıyla söyler
        if expected is not None and size > hash_limit:
            expected = None         # büyük dosya: yalnızca yapısı
        try:
            if npz:
                with contextlib.ExitStack() as stack:
                    _open_npz(p, expected, stack)
            elif expected is not None:
                _check_tokenizer_file(p, expected)
        except CheckpointError as e:
            faults.append((name, "damaged", str(e)))
    return faults


def load_run_tokenizer(path, model=None):
    """The tokenizer of a run directory, checked against the manifest's sha256 digests
    (checkpoints that recorded them); with `model`, also checked to fit its vocabulary."""
    from .tokenizers import _load_tokenizer
    d = find_run_dir(path)

    def read(raw, m):
        # tokenizer_meta.json'ın özeti denetlenen baytları ayrıştırılır: dosya bir kez okunur
        checked = _check_tokenizer_files(d, m)
        tok = _load_tokenizer(d, checked.get("tokenizer_meta.json"))
        kind = m.get("tokenizer")
        # Özetleri olmayan eski bir kayıtta da başka türden bir belirteçleyici yakalanır
        if isinstance(kind, str) and kind != type(tok).__name__:
            raise _StaleRead(f"{d}: the tokenizer files hold a {type(tok).__name__} but "
                             f"{MANIFEST} was saved with a {kind}: the tokenizer files were "
                             f"changed or belong to another run")
        return tok

    tok = _with_retries(d, read)
    if model is not None:
        check_tokenizer_fits(model, tok, d)
    return tok
