"""
# Eğitim klasörü: kilit, güvenli başlangıç ve --overwrite

Bir eğitim yazdığı her şeyi tek bir klasörde (`--out`) toplar: denetim noktası,
belirteçleyici, günlük (`metrics.jsonl`), kayıp eğrisi, en iyi ağırlıkların kopyası (`best/`).
Bu modül, eğitimin o klasörü nasıl açıp koruduğunu anlatır; eğitim döngüsü `train.py`'dedir.

## Neden kilit?
İki süreç aynı klasörde eğitim yaparsa (ikinci bir `train`, `--resume` ya da `--overwrite`)
biri ötekinin denetim noktası dosyalarını siler ya da üzerine yazar. Bu yüzden eğitim sürdükçe
klasörde `.lock` dosyası üzerinde özel bir kilit (`fcntl.flock`, POSIX) tutulur; ikinci bir
eğitici hemen, hiçbir şeye dokunmadan reddedilir. Kilit süreçle birlikte gider: öldürülen bir
eğitimin kilidi kendiliğinden bırakılır.

## Neden atomik denetim noktaları?
Süreç her an kesilebilir (SIGKILL, çökme, elektrik kesintisi). Denetim noktasının her
dosyası önce geçici bir ada yazılıp sonra adına taşınır; kaydı tanımlayan `checkpoint.json` en
son değiştirilir (ayrıntısı `checkpoint.py`'de). Böylece klasör her an ya eski ya yeni kaydı
tutar, hiçbir zaman yarım bir kaydı. Buradaki denetimler de bu kurala dayanır:
`checkpoint.json`'ı olan bir klasör devam ettirilebilir bir eğitimdir; olmayan ama eğitim
dosyaları tutan bir klasör, ilk denetim noktasından önce durmuş bir eğitimdir. Devam ederken
kısaltılan günlük (`metrics.jsonl`) de aynı atomik yoldan yazılır.

## `--overwrite` neyi siler?
Yalnızca bir eğitimin yazdığı adlardaki dosyaları (`RUN_FILES`, `RUN_PATTERNS`): önce
`checkpoint.json`'ı (silme yarıda kesilirse geride devam ettirilebilir görünen yarım bir eğitim
kalmasın), sonra ağırlık ve moment dosyalarını, belirteçleyiciyi, günlüğü, eğriyi ve `best/`
kopyasını. Klasördeki başka dosyalara dokunulmaz; eğitim tutmayan bir klasörde bir eğitimin
yazmadığı bir dosya varsa `--overwrite` de reddedilir: bir eğitim hiçbir zaman kendi yazmadığı
dosyaların üzerine yazmaz.
"""
from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import shutil
import stat
import time
from pathlib import Path
from typing import Callable, NamedTuple

from . import checkpoint as ckpt
from .atomic import (is_temporary_name, load_json, make_new_folder, refuse_dangling_link,
                     release_frames, remove_empty_folders, remove_stale_staging_folders,
                     remove_stale_temporaries, remove_stale_temporaries_in, shell_note, shell_quote,
                     signals_deferred, with_command_line_message)
from .backend import shown_items

LOCK_FILE = ".lock"
# Bu sürecin kilidini tuttuğu eğitim klasörleri (aygıt, düğüm numarası): held_by_a_trainer
# eğiticinin kendi klasörünü okurken (devam ederken denetim noktasını yüklerken) kendi
# kilidini "başka bir eğitici" saymasın
_HELD_HERE: set = set()
# Bir eğitimin bir klasöre yazdığı adlar (--overwrite yalnızca bunları siler)
RUN_FILES = (ckpt.MANIFEST, "config.json", "metrics.jsonl", "loss.png", "tokenizer.json",
             "tokenizer_meta.json", "vocab.json", "merges.txt", "tokens.npy", "best", LOCK_FILE)
RUN_PATTERNS = ("model-*.npz", "optim-*.npz", ".*.tmp", ".*.tmp-*", "tokens.npy.tmp*")


def _is_run_file(name: str) -> bool:
    return name in RUN_FILES or any(fnmatch.fnmatch(name, p) for p in RUN_PATTERNS)


# -- the messages: for Python callers and for the command line ------------------------------------

# Buradaki denetimler hem train(cfg, resume=..., overwrite=...) çağıran bir Python programına
# hem `nanograd-llm train`e hizmet eder. Python'dan çağırana "--resume kullanın" demek, onun
# bilmediği bir seçeneği söyler: her ileti iki biçimde kurulur. str(e) Python'un sözcükleriyle
# (out_dir, resume=True, overwrite=True), command_line_message (cli.report_errors onu yazar)
# komut satırınınkilerle (--out, --resume, --overwrite) konuşur.

class Words(NamedTuple):
    """The words a run-folder message says things with, for one reader."""
    out: str            # the run folder, with its name: "out_dir PATH" / "--out PATH"
    resume: str         # what continues the run there
    overwrite: str      # what starts a new run there, deleting the old one
    elsewhere: str      # what picks another folder


def python_words(out) -> Words:
    """The words of train()'s keyword arguments and TrainConfig's out_dir."""
    return Words(f"out_dir {out}", "resume=True", "overwrite=True", "another out_dir")


def command_line_words(out, given_as: str | None = None) -> Words:
    """The words of `nanograd-llm train`'s options, the folder named as the user gave it
    (`given_as`, config.out_dir_given_as): --out PATH (None: --out, or the preset's folder),
    out_dir=PATH (a key=value word), out_dir PATH (from FILE) (a config file's)."""
    # Klasör, kullanıcının onu verdiği biçimde adlandırılır: `out_dir=/etc/passwd` diye
    # vermiş birine "--out /etc/passwd is a file" demek, yazmadığı bir seçeneği söylerdi
    named = (f"--out {out}" if given_as is None else f"out_dir={out}"
             if given_as == "out_dir=" else f"out_dir {out} (from {given_as})")
    return Words(named, "--resume", "--overwrite", "--out DIR for another folder")


def both_ways(say: Callable[[Words], str], out, kind=ValueError,
              given_as: str | None = None) -> Exception:
    """kind(say(python_words)) carrying say(command_line_words) as its command_line_message."""
    return with_command_line_message(kind(say(python_words(out))),
                                     say(command_line_words(out, given_as)))


def _named_both_ways(error: Exception, out, given_as: str | None = None) -> Exception:
    """`error` from an atomic.py helper told to name the folder "out_dir" (Python's words),
    carrying the command line's message, which names it as the user gave it."""
    return with_command_line_message(error, str(error).replace(
        python_words(out).out, command_line_words(out, given_as).out, 1))


# -- starting a run: the checks, the lock ----------------------------------------------------------

def prepare_run_folder(out_dir: str, resume: bool, overwrite: bool,
                       given_as: str | None = None) -> tuple[Path, Path, bool]:
    """The folder checks before a run starts (a file, a locked folder, a run that --resume or
    --overwrite must name, a Hugging Face folder, files of others), then the folder is made.
    `given_as`: how the command line gave out_dir (see command_line_words).
    -> (out, top, created): the folder, the highest folder this start creates, whether `out`
    was new."""
    out = Path(out_dir).expanduser()
    refuse_a_dangling_run_folder(out, given_as)
    if ".." in out.parts and not out.exists():
        # "yeni/../eski": "yeni" henüz yok, bu yüzden yol şimdilik hiçbir yeri göstermez; ama
        # açılınca var olan "eski"ye çıkar. Denetimler (içinde bir eğitim ya da başka dosyalar
        # var mı) o klasörde yapılsın diye yol şimdiden çözülür (yoksa eski eğitim --overwrite
        # olmadan silinirdi).
        out = out.resolve()
    if out.exists() and not out.is_dir():
        raise both_ways(lambda w: f"{w.out} is a file, not a folder", out, given_as=given_as)
    if out.is_dir():
        check_not_locked(out, given_as)
        ckpt.refuse_a_manifest_that_is_not_a_file(out)
    if not resume and (out / ckpt.MANIFEST).exists():
        if not overwrite:
            step, unreadable, denied, weights_only, faults = _checkpoint_step(out)
            if denied:
                # İzin yüzünden okunamayan bir bildirim bozuk değildir: eğitim yerinde durur,
                # izin düzeltilince --resume onu sürdürür. --overwrite öğütlenmez (okuma izni
                # olmayan bir eğitim başka birinin de olabilir; --overwrite onu silerdi)
                raise both_ways(lambda w: f"{out} already holds a training run whose "
                                          f"checkpoint manifest cannot be read ({unreadable}); "
                                          f"make the file readable (check its permissions) "
                                          f"and use {w.resume} to continue it, or "
                                          f"{w.elsewhere}", out)
            if unreadable:
                # Okunamayan bir bildirim --resume ile de okunamaz: "--resume ile sürdürün"
                # öğüdü, aynı bozuk dosyada duran bir komuta götürürdü
                raise both_ways(lambda w: f"{out} already holds a training run whose "
                                          f"checkpoint manifest cannot be read ({unreadable}), "
                                          f"so {w.resume} cannot continue it; use "
                                          f"{w.overwrite} to start a new run there (the old "
                                          f"one is deleted), or {w.elsewhere}", out)
            _refuse_a_checkpoint_resume_cannot_read(out, step, faults)
            if weights_only:
                # Ağırlıklardan ibaret bir kayıt (bir eğitimin best/ kopyası, optimizer=None ile
                # kaydedilmiş bir model): --resume onu reddeder ("holds weights only"), bu
                # yüzden öğütlenmez. Kullanıcı --out'a yanlışlıkla best/'i vermiş olabilir:
                # önce başka bir klasör söylenir, --overwrite (kopyayı siler) sonra
                raise both_ways(lambda w: f"{out} holds a checkpoint of weights only (step "
                                          f"{step}; a copy such as a run's best/), which "
                                          f"{w.resume} cannot continue; use {w.elsewhere}, or "
                                          f"{w.overwrite} to delete it and start a new run "
                                          f"there", out)
            raise both_ways(lambda w: f"{out} already holds a training run (checkpoint at step "
                                      f"{step}); use {w.resume} to continue it, {w.overwrite} "
                                      f"to start a new run there (the old one is deleted), or "
                                      f"{w.elsewhere}", out)
    if not resume and not (out / ckpt.MANIFEST).exists() and \
            (out / "model.safetensors").exists():
        # Bir eğitim klasörü config.json ve tokenizer.json yazar: bir Hugging Face klasörünün
        # dosyalarının üstüne yazılmasın (ör. --init-from gpt2 --out gpt2)
        raise both_ways(lambda w: f"{w.out} is a Hugging Face model folder; choose another "
                                  f"folder for the run", out, given_as=given_as)
    if not resume and out.is_dir() and not (out / ckpt.MANIFEST).exists():
        _check_empty_or_leftovers(out, overwrite, given_as)
    if resume:
        refuse_resuming_unsaved_run(out)
        if not out.exists():
            # resume_config (komut satırı) bunu klasörü okumadan önce söyler. resume_config'den
            # geçmeyen bir train(cfg, resume=True) çağrısı (Python'dan) burada reddedilmeseydi
            # klasörü açardı; sonra "checkpoint.json is missing (train with `nanograd-llm train
            # --out …` first)" diye düşerdi (açtığı klasörü de silerek)
            raise nothing_to_resume(out)
    # top: bu eğitimin açtığı en üstteki klasör (ör. out/default için out/, o da yoksa).
    # Disk dolu, izin yok…: make_new_folder yarıda kalan mkdir -p'nin açtığı boş üst klasörleri
    # siler ve ham "[Errno 28] …" yerine "could not write out_dir …; nothing was written" der
    # (komut satırında klasör, kullanıcının verdiği biçimde adlandırılır: --out …, out_dir=…)
    try:
        top, created = make_new_folder(out, "out_dir")
    except OSError as e:
        raise _named_both_ways(e, out, given_as) from None
    return out, top, created


def refuse_a_dangling_run_folder(out, given_as: str | None = None) -> None:
    """atomic.refuse_dangling_link for the run folder `out`, in both readers' words."""
    try:
        refuse_dangling_link(out, "out_dir")
    except ValueError as e:
        raise _named_both_ways(e, out, given_as) from None


def nothing_to_resume(out) -> FileNotFoundError:
    """The refusal of resuming the run in `out`, a folder that does not exist."""
    return with_command_line_message(
        FileNotFoundError(f"nothing to resume: {out} does not exist (give the run's folder "
                          f"as out_dir)"),
        f"nothing to resume: {out} does not exist (name the run's folder with --out)")


@contextlib.contextmanager
def hold_run_folder(out: Path, top: Path, created: bool, given_as: str | None = None):
    """Hold the lock on `out` while the body trains in it (a second trainer is refused). A start
    that ends before its first checkpoint leaves no folder it created behind, and in a folder
    that was there before, none of the run's files that were not (the lock file stays).
    `given_as`: see prepare_run_folder."""
    lock = None
    locked = False
    before = None
    held = None
    try:
        lock = _lock_run(out, given_as)
        locked = True
        if lock is not None:
            held = _identity_of(out)
            _HELD_HERE.add(held)
        if not created:
            before = {p.name for p in out.iterdir()}
        yield
    except BaseException as e:
        # Hiçbir denetim noktası yazılmadan biten (örneğin veri hatası) bir eğitim, kendi
        # açtığı klasörleri geride boş ya da yarım bırakmaz. Kilidi alamayan bir eğitim hiçbir
        # şey silmez: aynı anda başlayan öteki eğitim de klasörü "yok" görüp açmış ve kilidi
        # almıştır; klasör onundur (ilk denetim noktasından önce silinirse o eğitim de durur).
        # Temizlik kilit tutulurken yapılır, kilit ancak sonra (finally'de) bırakılır: önce
        # bırakılsaydı arada kilidi alan ikinci bir eğitimin yeni dosyaları da silinirdi.
        # Eğitimin çerçeveleri (istisnanın izinde) tokens.npy'nin bellek eşlemesini tutar;
        # Windows eşlenmiş bir dosyayı silmez (temizlik sessizce başarısız olur, aynı komut
        # klasörü --overwrite isteyerek reddederdi): onların yerel adları önce bırakılır
        if not (out / ckpt.MANIFEST).exists():
            release_frames(e)
        with signals_deferred():
            _clean_up(out, top, created, locked, before)
        raise
    finally:
        _HELD_HERE.discard(held)
        if lock is not None:
            lock.close()


def _identity_of(folder: Path):
    """(device, inode) of `folder`, or None where it cannot be read."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _clean_up(out: Path, top: Path, created: bool, locked: bool, before) -> None:
    """What a start that ended before its first checkpoint removes (see hold_run_folder)."""
    if locked and created and not (out / ckpt.MANIFEST).exists():
        shutil.rmtree(top, ignore_errors=True)
    elif before is not None and not (out / ckpt.MANIFEST).exists():
        # Önceden var olan (boş ya da --overwrite ile bir eğitimin artıklarını tutan) bir
        # klasörde yalnızca bu başlangıcın eklediği eğitim dosyaları (tokens.npy; 0. adımın
        # metrics.jsonl'i, best/ kopyası) silinir: yoksa aynı komut, klasör "ilk denetim
        # noktasından önce durmuş bir eğitimin dosyalarını tutuyor" diye --overwrite
        # istenerek reddedilirdi. Önceden orada olan hiçbir şeye ve kilit dosyasına (yarışan
        # bir eğitici onu açmış olabilir) dokunulmaz.
        _remove_added_run_files(out, before)
    elif created:
        # Kilit dosyası hiç açılamadıysa (izin yok, salt okunur dosya sistemi…) açılan
        # klasörler boş kalır; yalnızca boş olanlar silinir (os.rmdir boş olmayanı silmez:
        # yarışı kazanan eğitimin kilit dosyası klasörünü korur)
        remove_empty_folders(out, top)


def _remove_added_run_files(out: Path, before: set) -> None:
    """Delete the run's files (RUN_FILES, RUN_PATTERNS) that `out` did not hold before; the lock
    file and every other name are left."""
    with contextlib.suppress(OSError):
        for p in out.iterdir():
            if p.name in before or p.name == LOCK_FILE or not _is_run_file(p.name):
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    p.unlink()


def check_not_locked(out: Path, given_as: str | None = None) -> None:
    """Refuse at once (before any advice about --resume/--overwrite) a folder another process
    is training in."""
    if not (out / LOCK_FILE).exists():
        return
    lock = _lock_run(out, given_as)    # taken and given back at once
    if lock is not None:
        lock.close()


def held_by_a_trainer(out: Path) -> bool:
    """Whether another process holds the run lock of `out` (a run trains there); False where
    there is no lock file, it cannot be opened, the platform has no lock (not POSIX), or this
    process holds it (hold_run_folder)."""
    # Okuyucular (sample, eval, chat) içindir: kilit dosyası yalnızca okunmak üzere açılır
    # (salt okunur bir klasörde de), paylaşılan kilit alınıp hemen bırakılır (o an başlayan bir
    # eğitici bu kilidin bırakılmasını bekler: _lock_run)
    try:
        import fcntl
    except ImportError:
        return False
    if _HELD_HERE and _identity_of(out) in _HELD_HERE:
        return False
    try:
        f = open(out / LOCK_FILE, "rb")
    except OSError:
        return False
    with f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    return False


# Okuyucuların yoklaması (held_by_a_trainer) kilit dosyasında bir anlığına paylaşılan bir
# kilit tutar. O mikrosaniyelerde başlayan bir eğiticinin özel kilidi alınamaz; eğitici bunu
# "başka bir süreç eğitiyor" sanıp reddedilmesin diye: özel kilidi alamayan eğitici, kilidi
# tutanların yalnızca paylaşılan kilitler olup olmadığına bakar (kendisi de paylaşılan bir
# kilit alabiliyorsa özel kilit tutan yoktur) ve öyleyse en çok LOCK_WAIT_S saniye boyunca
# kısa aralarla yeniden dener. Özel kilidi tutan gerçek bir eğitici varsa beklenmez, hemen
# reddedilir.
LOCK_WAIT_S = 0.5
LOCK_RETRY_PAUSE_S = 0.005


def _lock_run(out: Path, given_as: str | None = None):
    """An exclusive lock on the run folder for as long as this process trains in it: a second
    trainer (a new run, --resume or --overwrite) is refused instead of writing over the first
    one's checkpoints. A reader's probe (held_by_a_trainer: a shared lock for an instant) is
    waited for, up to LOCK_WAIT_S seconds; another trainer's lock is refused at once. POSIX
    only (fcntl); elsewhere no lock is taken."""
    try:
        import fcntl
    except ImportError:
        return None
    try:
        f = open(out / LOCK_FILE, "a+")
    except OSError as e:
        raise both_ways(lambda w: f"cannot write in {w.out} ({e.strerror or e})", out,
                        OSError, given_as) from None
    deadline = time.monotonic() + LOCK_WAIT_S
    readers = False
    while True:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return f
        except BlockingIOError:
            readers = _only_shared_locks(f, fcntl)
            if readers and time.monotonic() < deadline:
                time.sleep(LOCK_RETRY_PAUSE_S)
                continue
        except OSError:
            pass
        f.close()
        # Süre dolduğunda kilidi hâlâ yalnızca paylaşılan kilitler tutuyorsa eğiten bir süreç
        # yoktur: kilidi bırakmayan bir okuyucudur (ör. tam yoklama anında durdurulmuş bir
        # sample). "Başka bir süreç eğitiyor" demek yanlış olurdu
        if readers:
            raise ValueError(f"another process holds a shared lock on {out / LOCK_FILE} (a "
                             f"sample, eval or chat checking whether a run trains there) and "
                             f"did not let it go within {LOCK_WAIT_S:g} s; try again, or stop "
                             f"that process") from None
        raise ValueError(f"another process is training in {out}; wait for it to finish (or "
                         f"stop it) before starting or resuming a run there") from None


def _only_shared_locks(f, fcntl) -> bool:
    """Whether the locks others hold on the open lock file f are shared ones only (a reader's
    probe), not an exclusive one (a trainer's): a shared lock of our own can then be taken
    (it is let go at once)."""
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return False
    fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    return True


def _check_empty_or_leftovers(out: Path, overwrite: bool, given_as: str | None = None) -> None:
    """A new run in an existing folder without a checkpoint: the folder must be empty, hold
    only what a start killed while it prepared its data left (it is removed), or (with
    --overwrite) hold only what a run writes (a run killed before its first checkpoint). A run
    never writes over files it did not make."""
    # Kendi kilit dosyamız (başarısız bir başlangıçtan kalmış olabilir) klasörü dolu saydırmaz
    names = sorted(p.name for p in out.iterdir() if p.name != LOCK_FILE)
    if not names:
        return
    foreign = [n for n in names if not _is_run_file(n)]
    shown = shown_items(names, 6)
    if foreign:
        raise both_ways(lambda w: f"{w.out} is not empty and holds no training run ({shown}); "
                                  f"choose a new or empty folder", out, given_as=given_as)
    if not overwrite and _remove_what_a_killed_start_left(out, names, given_as):
        return
    if not overwrite:
        raise both_ways(lambda w: f"{w.out} holds files of a run that never saved a "
                                  f"checkpoint ({shown}); use {w.overwrite} to delete them and "
                                  f"start there, or {w.elsewhere}", out, given_as=given_as)


# Veri hazırlanırken (derlem okunup kodlanırken) SIGKILL ya da elektrik kesintisiyle duran bir
# başlangıç, klasörde kilit dosyasını ve tokens.npy'yi (ya da onun yazılmasının geçici
# dosyalarını) bırakır. Aynı komut bunlar yüzünden --overwrite istemesin diye, yeniden başlangıç
# bu artıkları kendi yazdıklarıysa tanır ve siler:
# - tokens.npy'nin atomic.py'nin adını taşıyan ve kimsenin kilitlemediği geçici dosyaları
#   (".tokens.npy.XXXXXXXX.tmp"), her yazmanın zaten sildiği, öldürülmüş bir yazmanın
#   artıklarıdır (atomic.remove_stale_temporaries); aynı biçimde adlandırılmış başka bir
#   geçici dosya başka bir programın olabilir, klasör onunla eskisi gibi reddedilir;
# - tokens.npy yalnızca kilit dosyasının adını verdiği dosyanın ta kendisiyse (aynı aygıt,
#   düğüm numarası, boyut ve değişiklik zamanı; note_own_file). Adı aynı olan bir dosya
#   kullanıcınınki olabilir: aynı baytlarla kopyalanmış olsa da düğüm numarası başkadır, o
#   zaman klasör eskisi gibi reddedilir. Kayıt, tokens.npy diske indirildikten sonra yazılır:
#   ikisinin arasındaki mikrosaniyelerde gelen bir kesinti yalnızca tanınmayan (reddedilen) bir
#   dosya bırakır, hiçbir zaman bir kullanıcı dosyasını "bizim" gösteren bir kayıt değil.
# Başka bir dosya varsa (metrics.jsonl, best/…) hiçbir şey silinmez, --overwrite istenir.

def note_own_file(out: Path, name: str) -> None:
    """Record in the run's lock file the identity (device, inode, size, modification time) of
    the file `name` this run has just written in `out` (tokens.npy), so that a restart after a
    SIGKILL or power cut knows it for the run's own; a symbolic link is not recorded, and
    nothing is written where the lock file is itself a symbolic link."""
    try:
        st = os.lstat(out / name)
        record = {} if stat.S_ISLNK(st.st_mode) else {name: _identity(st)}
        # Bağın içinden yazılmaz: ".lock" bir bağsa (ya da düzenli bir dosya değilse) gösterdiği
        # dosya (boş ya da bir JSON nesnesi tutan, birinin ayarları) kesilip üzerine yazılırdı
        fd = os.open(out / LOCK_FILE, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return
            # Kilit dosyası boştur ya da böyle bir kayıt tutar; başka bir şey tutan bir ".lock"
            # (başka bir programınki) olduğu gibi kalır
            held = os.read(fd, 1 << 16)
            if held and not isinstance(_json_or_none(held), dict):
                return
            # os.pwrite yalnızca Unix'te vardır; lseek + write her platformda
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(record).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass                        # yalnızca bir yeniden başlangıca yardım: eğitimi durdurmaz


def _json_or_none(raw: bytes):
    """The JSON value `raw` holds, or None where it is not JSON (or nested deeper than the
    parser's recursion limit: "[[[[…", load_json)."""
    try:
        return load_json(raw)
    except ValueError:
        return None


def _identity(st: os.stat_result) -> list:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def _own_file(out: Path, name: str) -> bool:
    """Whether `name` in `out` is the very file the lock file's record names (note_own_file)."""
    try:
        record = _json_or_none((out / LOCK_FILE).read_bytes())
        st = os.lstat(out / name)
    except OSError:
        return False
    return isinstance(record, dict) and not stat.S_ISLNK(st.st_mode) and \
        record.get(name) == _identity(st)


def _tokens_temporary(name: str) -> bool:
    """Whether `name` is atomic.py's temporary file of tokens.npy ('.tokens.npy.XXXXXXXX.tmp')."""
    return is_temporary_name(name) and name.startswith(".tokens.npy.") and \
        len(name) == len(".tokens.npy.") + len("XXXXXXXX.tmp")


def _left_by_a_killed_start(out: Path, names: list) -> bool:
    """Whether `names` (the folder's files but the lock file) are only what a start killed while
    it prepared its data wrote: tokens.npy's temporary files, the tokens.npy the lock file
    names."""
    # Yalnızca tokens.npy'nin geçici dosyaları (".tokens.npy.XXXXXXXX.tmp"): aynı biçimde
    # adlandırılmış başka bir dosya (".notes.txt.ab12cd34.tmp", flock almayan başka bir
    # programın yazması) bu başlangıcın olamaz, --overwrite'sız silinmez
    return all(_tokens_temporary(n) or (n == "tokens.npy" and _own_file(out, n))
               for n in names)


def _locks_available() -> bool:
    """Whether this platform has the run-folder lock (fcntl: POSIX)."""
    try:
        import fcntl  # noqa: F401
    except ImportError:
        return False
    return True


def _remove_what_a_killed_start_left(out: Path, names: list,
                                     given_as: str | None = None) -> bool:
    """Where `names` (the folder's files but the lock file) are only what a start killed while
    it prepared its data wrote (tokens.npy's temporary files no one holds, the tokens.npy the
    lock file names), delete them under the run's lock; -> whether the folder is then empty (else
    nothing but stale temporary files was removed)."""
    if not _left_by_a_killed_start(out, names):
        return False
    lock = _lock_run(out, given_as)  # başka bir eğitici aldıysa: "another process is training"
    if lock is None:                # kilitsiz (Windows): kimin yazdığı bilinemez
        return False
    try:
        remove_stale_temporaries(out / "tokens.npy")
        if _own_file(out, "tokens.npy"):
            (out / "tokens.npy").unlink()
        return not any(p.name != LOCK_FILE for p in out.iterdir())
    finally:
        lock.close()


def refuse_resuming_unsaved_run(out: Path) -> None:
    """--resume of a folder without a checkpoint that holds only what a run killed before its
    first checkpoint wrote: say that it must start again with --overwrite (a plain start is
    refused there), or, where that is only what a start killed while it prepared its data left
    (which a plain start removes), with a plain start. Any other folder passes (a checkpoint, or
    the usual messages later)."""
    # İki yerden çağrılır: resume_config'de bildirim okunmadan önce (komut satırı) ve
    # prepare_run_folder'da (resume_config'den geçmeyen bir train(cfg, resume=True) için);
    # komut satırında ikincisi yalnızca bir klasör listelemesidir
    left = _unsaved_run(out)
    if left is None:
        return
    shown, plain = left
    again = {False: "overwrite=True instead of resume=True", True: "resume=False"}[plain]
    raise with_command_line_message(
        ValueError(f"no checkpoint to resume in {out}: the run there stopped before saving its "
                   f"first one ({shown}); start it again with {again}"
                   f"{' (what it left there is removed)' if plain else ''}, or "
                   f"{python_words(out).elsewhere}"),
        f"no checkpoint to resume in {out}: {_unsaved_run_advice(out, shown, plain)}, or "
        f"{command_line_words(out).elsewhere}")


def unsaved_run_advice(out: Path) -> tuple[str, str] | None:
    """Where `out` has no checkpoint and holds only what a run killed before its first one
    wrote: what it holds and how to start it again ("the run there stopped before saving its
    first one (…); start it again with …"), in Python's words (train(cfg…)) and the command
    line's (`nanograd-llm train …`); else None (an empty folder, one of other files, a
    checkpoint)."""
    # --resume'un (refuse_resuming_unsaved_run) ve okuyucuların (sample, eval, chat, GPT.load:
    # checkpoint.find_run_dir) ortak öğüdü. İlk değerlendirmede ya da ilk kayıtta öldürülen bir
    # eğitim geride metrics.jsonl, best/, tokens.npy gibi dosyalar bırakır; "önce `train --out`
    # ile eğitin" öğüdü, o klasörü reddeden bir komuta götürürdü
    left = _unsaved_run(out)
    if left is None:
        return None
    shown, plain = left
    return (f"the run there stopped before saving its first one ({shown}); start it again "
            f"with train(cfg{'' if plain else ', overwrite=True'}) and its settings"
            f"{' (what it left there is removed)' if plain else ''}",
            _unsaved_run_advice(out, shown, plain))


def _unsaved_run(out: Path) -> tuple[str, bool] | None:
    """Where `out` has no checkpoint and holds only what a run killed before its first one
    wrote: (its files, shown; whether a plain start removes them), else None."""
    if not out.is_dir() or (out / ckpt.MANIFEST).exists():
        return None
    names = sorted(p.name for p in out.iterdir() if p.name != LOCK_FILE)
    if not names or not all(_is_run_file(n) for n in names):
        return None                 # boş ya da başka dosyaların klasörü: olağan ileti
    # Yalnızca veri hazırlanırken öldürülen bir başlangıcın bıraktıkları (tokens.npy'nin
    # kendi dosyası, geçici dosyaları): düz bir başlangıç onları tanır ve siler
    # (_remove_what_a_killed_start_left; kilidin olduğu yerde), --overwrite gerekmez
    return shown_items(names, 6), _locks_available() and _left_by_a_killed_start(out, names)


def _unsaved_run_advice(out: Path, shown: str, plain: bool) -> str:
    """unsaved_run_advice's command-line text for what _unsaved_run found."""
    return (f"the run there stopped before saving its first one ({shown}); start it again "
            f"with `nanograd-llm train --out {shell_quote(out)}"
            f"{'' if plain else ' --overwrite'}`{shell_note(out)} and its settings"
            f"{' (what it left there is removed)' if plain else ''}")


def _checkpoint_step(out: Path) -> tuple:
    """(step, None, False, whether it holds weights only: no optimizer state, the faults of the
    files its manifest names: checkpoint.file_faults) of the run's manifest, or (None, why it
    cannot be read, whether for lack of permission, False, [])."""
    mpath = out / ckpt.MANIFEST
    if not mpath.is_file():
        return None, f"{mpath} is not a file", False, False, []
    try:
        m = ckpt.read_manifest(out)
        return m["step"], None, False, m.get("optim_file") is None, ckpt.file_faults(out, m)
    except ckpt.CheckpointError as e:
        why = str(e)                # "<yol> is corrupt or not a checkpoint manifest (...)" vb.
        return None, why if str(mpath) in why else f"{mpath}: {why}", False, False, []
    except OSError as e:
        return None, f"{mpath}: {e.strerror or e}", isinstance(e, PermissionError), False, []
    except (KeyError, TypeError, ValueError) as e:
        return None, f"{mpath}: {e}", False, False, []


def _refuse_a_checkpoint_resume_cannot_read(out: Path, step: int, faults: list) -> None:
    """A new run in a folder whose checkpoint names files --resume would refuse (missing,
    corrupt, unreadable: checkpoint.file_faults): say what is wrong, and advise what works."""
    # "--resume ile sürdürün" öğüdü, aynı dosyada duran bir komuta götürürdü.
    # Bildirimin adını verdiği bir dosya (ağırlıklar, momentler, belirteçleyici) silinmiş ya
    # da bozuk (kesilmiş, değişmiş, anlamsız baytlarla dolu): --resume onu reddeder, bu yüzden
    # öğütlenmez. --overwrite klasörü temizleyip yeni bir eğitim başlatır
    missing = [n for n, fault, _ in faults if fault == "missing"]
    damaged = [why for _, fault, why in faults if fault == "damaged"]
    gone = f"{shown_items(missing, 3)} {'is' if len(missing) == 1 else 'are'} missing"

    def advice(w: Words) -> str:
        return (f"so {w.resume} cannot continue it; use {w.overwrite} to start a new run there "
                f"(the old one is deleted), or {w.elsewhere}")
    if damaged:
        what = shown_items(([gone] if missing else []) + damaged, 3, "; ")
        raise both_ways(lambda w: f"{out} already holds a training run whose checkpoint (step "
                                  f"{step}) is {'incomplete and ' if missing else ''}damaged "
                                  f"({what}), {advice(w)}", out)
    if missing:
        raise both_ways(lambda w: f"{out} already holds a training run whose checkpoint (step "
                                  f"{step}) is incomplete ({gone}), {advice(w)}", out)
    denied = [n for n, fault, _ in faults if fault == "denied"]
    if denied:
        # Okuma izni olmayan bir dosya bozuk değildir (bildirimdeki gibi): izin düzeltilince
        # --resume onu sürdürür; --overwrite öğütlenmez (başka birinin eğitimini silerdi)
        why = next(why for _, fault, why in faults if fault == "denied")
        raise both_ways(lambda w: f"{out} already holds a training run whose checkpoint (step "
                                  f"{step}) has {'a file' if len(denied) == 1 else 'files'} "
                                  f"that cannot be read ({shown_items(denied, 3)}: {why}); "
                                  f"make {'it' if len(denied) == 1 else 'them'} readable "
                                  f"(check the permissions) and use {w.resume} to continue "
                                  f"it, or {w.elsewhere}", out)


# -- --overwrite -----------------------------------------------------------------------------------

def _clear_run(out: Path, started: float) -> None:
    """Delete what an earlier run left in `out` (--overwrite), and only that: its manifest
    first (so that an interruption leaves no half-deleted run that looks resumable), then its
    files, best/ copy, log and curve; tokens.npy only when this run did not just write it."""
    # Yeni bir eğitim: eski günlük, eğri, "best" kopyası ve belirteçleyici dosyaları bu eğitime
    # ait değildir; keep_best=false ile eski bir "best" yanıltıcı biçimde geride kalırdı.
    for name in RUN_FILES:
        if name not in ("tokens.npy", "best", LOCK_FILE):
            (out / name).unlink(missing_ok=True)
    for pattern in RUN_PATTERNS:
        for p in out.glob(pattern):
            # atomic.py'nin adını taşıyan geçici dosyalar ve klasörler aşağıda, kilit
            # denetimiyle silinir (başka bir sürecin klasöre süren bir yazması kalır); eski
            # sürümlerin adları (".AD.tmp-…", "tokens.npy.tmp…") bugün kimsenin yazmadığı
            # artıklardır
            if not (p.is_dir() and not p.is_symlink()) and \
                    (p.is_symlink() or not is_temporary_name(p.name)):
                p.unlink(missing_ok=True)
    remove_stale_temporaries_in(out)
    tokens = out / "tokens.npy"
    if tokens.exists() and tokens.stat().st_mtime < started:
        tokens.unlink()
    if (out / "best" / ckpt.MANIFEST).exists():
        shutil.rmtree(out / "best")


def _remove_staging_folders(out: Path) -> None:
    """Delete the half-built folders atomic_write_files leaves when killed (".best.XXXX.tmp",
    made while a run builds its first best/ copy), by atomic.remove_stale_temporaries' rule:
    one another process is still writing (a save_hf into the run folder) and other folders are
    left alone."""
    # İlk best/ kopyası 0. adımda, ilk denetim noktasından önce kurulur: orada öldürülen bir
    # eğitim bu klasörü checkpoint.json'sız bir klasörde de bırakır (içinde yarım ağırlıklar).
    # Eğitimin kilidi yalnızca başka bir eğiticiyi durdurur: klasöre başka bir sürecin yazdığı
    # (kilitli) geçici klasör silinseydi o yazma "No such file or directory" ile dururdu
    remove_stale_staging_folders(out)


# -- the log (metrics.jsonl) and --resume ----------------------------------------------------------

def _read_metrics(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    rows = []
    # Bozuk satırlar (öldürülmeyle yarım kalmış son satır, elle düzenleme, UTF-8 olmayan bayt)
    # atlanır: günlük yalnızca bir kayıttır, eğitimi durdurmamalıdır.
    for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():
        try:
            row = load_json(line)
        except json.JSONDecodeError:    # also "[[[[…" deeper than the parser goes (load_json)
            continue
        if isinstance(row, dict) and all(
                isinstance(row.get(k), t) and not isinstance(row.get(k), bool)
                for k, t in (("step", int), ("train_loss", (int, float)),
                             ("val_loss", (int, float)))):
            rows.append(row)
    return rows


def _truncate_metrics(path: Path, step: int) -> None:
    rows = [r for r in _read_metrics(path) if r.get("step", 0) <= step]
    try:
        ckpt.atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in rows).encode())
    except OSError as e:
        # Disk dolu, izin yok…: yazılamayan dosya ve sağlam kalan denetim noktası söylenir;
        # atomik yazma eski günlüğü bozmaz
        raise OSError(f"could not rewrite {path} for the resumed run ({e.strerror or e}); the "
                      f"checkpoint of step {step} in {path.parent} is intact") from None


def _follow_moved_corpus(best_dir: Path, manifest: dict, data) -> None:
    """A run resumed with --data NEWPATH (the same text, moved): its best/ copy is pointed at the
    new path too, so that `eval --ckpt RUN/best` finds the corpus."""
    saved = manifest.get("train_config") or {}
    if "data" not in saved or saved["data"] == data:
        return
    # Yalnızca yol değişir; ağırlık dosyaları ve özetleri aynı kalır (bildirim atomik yazılır)
    manifest = {**manifest, "train_config": {**saved, "data": data}}
    ckpt.atomic_write_json(best_dir / ckpt.MANIFEST, manifest)

