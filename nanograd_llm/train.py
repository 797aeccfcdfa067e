"""
# Eğitim döngüsü

Bu bölüm eğitim döngüsünü anlatır. Eğitim ayarları (`TrainConfig`, hazır ayarlar, `key=value`
sözcükleri) `config.py`'de; eğitim klasörünün kilidi, başlangıç denetimleri ve `--overwrite`
`run_folder.py`'dedir.

## Bir adımda ne olur?
    1. dropout üretecini (tohum, adım) ile yeniden tohumla      → devam ettirme birebir aynı
    2. K küçük toplu iş (grad_accum) için:
         pencere çek → aygıta BİR kez taşı → x, y
         ileri geçiş: kayıp;   geri yayılım: gradyanlar (biriktirerek)
    3. gradyanları K'ya böl (ortalama), global normu grad_clip'e kırp
    4. öğrenme oranını takvimden al, AdamW adımı
    5. her eval_interval adımda ve sonda: eğitim/doğrulama kaybını ölç,
       metrics.jsonl'e yaz, denetim noktasını atomik olarak kaydet

## Neden kaybı her adımda yazdırmıyoruz?
GPU'da `float(loss)` işlemcinin GPU'yu beklemesine yol açar (eşitleme). Kayıp yalnızca
her `log_interval` adımda (NaN/sonsuz denetimi ve ilerleme çubuğu için) ve değerlendirmede
Python sayısına çevrilir; CPU'da bunun bir maliyeti olmadığı için orada her adımda NaN/sonsuz
denetimi yapılır.

## Kaldığı yerden devam (`--resume`)
Denetim noktası ağırlıkları, AdamW momentlerini, adım sayısını ve veri örnekleyicisinin
üreteç durumunu tutar; dropout maskeleri (tohum, adım) ile üretildiği için ayrıca durum
gerekmez. Değerlendirme toplu işleri ayrı, adıma göre tohumlanmış üreteçlerden gelir. Bu
yüzden k. adımda kesilip devam ettirilen bir eğitim, kesintisiz bir eğitimle **bit düzeyinde
aynı** ağırlıklarla biter (`tests/test_train.py`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import math
import os
import shutil
import signal
import sys
import threading
import time
import unicodedata
from pathlib import Path

import numpy as np

from . import checkpoint as ckpt
# SIGTERM'ün istisnası (Terminated) atomic.py'dedir: komut satırında cli.report_errors onu
# komutun bütün süresi için kurar; train() Python'dan çağrıldığında burada kurulur
from .atomic import (Terminated, _terminate, atomic_write, sigterm_raises,
                     with_command_line_message)
from .backend import (_blas_controller, blas_threads, check_device, fused_kernels,
                      matmul_precision, num_threads, shard_count, shown, shown_items)
# Ayarlar config.py'dedir; `from nanograd_llm.train import TrainConfig, make_config…` gibi
# içe aktarmalar çalışmaya devam etsin diye bu adlar burada da bulunur
from .config import (BPE_PATTERNS, MODELS, PRESETS, SAMPLE_TOKENS_MAX, TOKENIZERS, TrainConfig,
                     apply_overrides, canonical_dtype, make_config, model_config,
                     in_config_file, init_from_given_as, out_dir_given_as, parse_overrides,
                     read_config_file, resume_config, settings_from_file, tokenizer_settings)
from .data import (EMBEDDED, INSTEAD, STREAM_DROPOUT, BatchSampler, check_source, download_corpus,
                   SPLIT_BY_CHARACTERS, SPLIT_BY_TOKENS, SPLIT_RULES, encode_corpus,
                   encode_split_corpus, known_text_sha256, load_text, same_source, split_ids,
                   split_point, text_sha256)
from .data import split_rule as _split_rule   # train.split_rule: a new run's rule
from .models.base import advice_when_out_of_memory, advice_when_too_large, check_fits_in_memory
from .optim import AdamW, clip_grad_norm, get_lr, global_grad_norm, rescaled_grad_norm
from .run_folder import (_clear_run, _follow_moved_corpus, _read_metrics,
                         _remove_staging_folders, _truncate_metrics, hold_run_folder,
                         note_own_file,
                         prepare_run_folder)
from .tokenizers import CharTokenizer, start_ids


# -- model / tokenizer construction ------------------------------------------------------------

def build_tokenizer(cfg: TrainConfig, train_text: str, progress: bool = False):
    """The run's new tokenizer; `progress`: BPE training's progress bars (BPETokenizer.train)."""
    if cfg.tokenizer == "char":
        return CharTokenizer.from_text(train_text)
    from .tokenizers import _bpe_class
    bpe = _bpe_class()
    from .tokenizers.bpe import PATTERNS
    return bpe.train(train_text, cfg.vocab_size, pattern=PATTERNS[cfg.bpe_pattern],
                     progress=progress)


def _training_text(text: str, cfg: TrainConfig) -> str:
    """The part of the text the tokenizer is trained on (BPE: the train split only, the first
    split_point(len(text)) characters, the part the val ids are not taken from)."""
    if cfg.tokenizer == "char":
        return text  # karakter sözlüğü bütün metinden: doğrulamada bilinmeyen karakter olmasın
    # Kimliklerin bölündüğü kuralla (data.split_point): kayan noktalı int(len · (1 − f))
    # 0,3 gibi bir val_fraction ile metni bir karakter erken keserdi
    return text[:split_point(len(text), cfg.val_fraction)]


def split_rule(tokenizer) -> str:
    """How a new run with this tokenizer cuts off its val part (data.SPLIT_RULES): the
    decision of data.split_rule, which `eval` shares."""
    return _split_rule(tokenizer)


def check_corpus_fits(text: str, tokenizer, label: str, init_from: str | None = None,
                      init_from_file: str | None = None, init_from_word: bool = False) -> None:
    """A resumed run reuses its tokenizer: text with characters it lacks means other data.
    `init_from`: the tokenizer is that GPT-2 folder's, for a new fine-tune (not a resumed run);
    `init_from_file`: the config file that set init_from, if one did; `init_from_word`: the
    command line gave it as the key=value word init_from=DIR (not --init-from)."""
    if not isinstance(tokenizer, CharTokenizer):
        return                       # bayt düzeyindeki BPE her metni kodlayabilir
    # Sözlük NFC biçimindedir (tokenizers/char.py); NFD yazılmış bir metin de aynı metindir
    unknown = sorted(set(unicodedata.normalize("NFC", text)) - set(tokenizer.chars))
    if unknown:
        chars = shown_items(map(repr, unknown), 10, " ")
        if init_from is not None:
            # Yeni bir ince ayar devam ettirilen bir eğitim değildir: "devam eden eğitim başladığı
            # veriyle eğitilmeli (dosya değişti mi?)" demek yanlış yeri gösterirdi. Sorun, ön
            # eğitilmiş modelin karakter sözlüğünün bu metne yetmemesidir
            why = (f"the corpus {label!r} has {len(unknown)} character(s) the tokenizer of "
                   f"{init_from} does not know ({chars}): a fine-tune keeps the pretrained "
                   f"model's characters; fine-tune on a text made of them, or train a new "
                   f"model on this text without ")
            if init_from_file:
                # init_from ayar dosyasından geldiyse komut satırında "--init-from olmadan"
                # denmez (kullanıcı o seçeneği hiç vermedi): ayar, dosyasıyla adlandırılır
                raise ValueError(f"{why}init_from (set in config file {init_from_file})")
            # `init_from=DIR` diye verilmişse komut satırı da o sözcüğü söyler, --init-from'u değil
            raise with_command_line_message(
                ValueError(why + "init_from"),
                why + ("init_from=DIR" if init_from_word else "--init-from"))
        raise ValueError(f"the corpus {label!r} has {len(unknown)} character(s) the run's "
                         f"tokenizer does not know ({chars}): a resumed run must train on the "
                         f"data it started with (has the file changed?)")


# What a new run offers for its named corpus that cannot be downloaded: any local text file,
# in Python's words (the data setting) and the command line's (data.INSTEAD, --data)
TRAIN_ON_A_FILE = ("train on any local text file by setting data to its path", INSTEAD)


# What a resumed run offers for its corpus that cannot be downloaded: only the same text will
# do (data.INSTEAD's "any local text file" is refused as another text). In Python's words and
# the command line's (data.download_corpus's `instead`)
RESUME_FROM_A_COPY = ("set data to the path of a copy of that text elsewhere (the run checks "
                      "that it is the same text)",
                      "give --data PATH naming a copy of that text elsewhere (the run checks "
                      "that it is the same text)")


def _embedded_of_another_version(out: Path, recorded: bool) -> ValueError:
    """The refusal of a resumed run trained on the embedded corpus of another version of the
    package (the corpus is rebuilt from each version's explanations). `recorded`: the run
    recorded the text's sha256, so a copy of that version's embedded text resumes it."""
    why = (f"cannot resume {out}: it was trained on the embedded corpus of another version of "
           f"nanograd_llm, and this version's embedded corpus is another text (it is rebuilt "
           f"from each version's explanations)")
    if not recorded:
        # Özeti kaydetmemiş (eski bir sürümün) eğitimi: metnin aynı olduğu hiçbir yolla
        # denetlenemez; --data ile verilen bir kopya da denetlenemez ve reddedilir
        def why(copy):
            return (f"cannot resume {out}: it was trained on the embedded corpus by an older "
                    f"version of nanograd_llm, which did not record the text's sha256: the "
                    f"embedded corpus is rebuilt with each version, and the run cannot check "
                    f"that this version's, or a copy {copy}, is the text it started with")
        return with_command_line_message(
            ValueError(f"{why('set as data')}; start a new run with overwrite=True instead of "
                       f"resume=True, or in another out_dir"),
            f"{why('given with --data')}; use --overwrite or --out DIR for a new run")
    copy = ("a copy of the embedded text of the version that trained it "
            "(nanograd_llm/corpus/turkce_aciklamalar.txt in that version; the run checks that "
            "it is the same text)")
    return with_command_line_message(
        ValueError(f"{why}; set data to the path of {copy}, or start a new run with "
                   f"overwrite=True instead of resume=True, or in another out_dir"),
        f"{why}; give --data PATH naming {copy}, or use --overwrite or --out DIR for a new run")


def _other_text(out: Path, label: str) -> ValueError:
    """The refusal of a resumed run's corpus whose text is not the one the run started with."""
    why = (f"cannot resume {out}: the corpus {label!r} is not the text the run started with "
           f"(its sha256 differs)")
    return with_command_line_message(
        ValueError(f"{why}; start a new run on it with overwrite=True instead of resume=True, "
                   f"or in another out_dir"),
        f"{why}; use --overwrite or --out DIR for a new run on it")


# What a resumed run's refusal of a setting given again advises, to a Python caller of train()
# and on the command line
_SAME_OR_NEW = (" (use the same setting, or start a new run: overwrite=True instead of "
                "resume=True, or another out_dir)",
                " (use the same setting, or --overwrite / --out DIR for a new run)")


def _same_setting_or_a_new_run(why: str) -> ValueError:
    """ValueError(why + the advice of _SAME_OR_NEW), in both readers' words."""
    return with_command_line_message(ValueError(why + _SAME_OR_NEW[0]), why + _SAME_OR_NEW[1])


def _data_in_config_file(error: Exception, from_file: dict | None) -> Exception:
    """An error about the corpus of `data` (a file not found, a folder, not UTF-8 text, a
    download that failed), ending '(data in config file a.toml)' when the data setting came
    from that file (config.settings_from_file's `from_file`); else `error` itself."""
    # Ayrıştırırken bulunan hatalar dosyayı adlandırır ("config file a.toml: …"); derlemin
    # hatası ancak eğitim başlarken bulunur. Yol iletide zaten yazılıdır: eklenen, onun hangi
    # ayar dosyasından geldiğidir. Komut satırının iletisi (command_line_message) de aynı eki alır
    path = (from_file or {}).get("data")
    if not path or getattr(error, "errno", None) is not None:
        # Errno'lu bir OSError'ın (izin yok…) iletisi args'tan değil errno'dan kurulur: olduğu
        # gibi kalır
        return error
    where = f" (data in config file {path})"
    try:
        new = type(error)(f"{error}{where}")
    except Exception:                    # noqa: BLE001 (a kind that takes other arguments)
        return error
    line = getattr(error, "command_line_message", None)
    return with_command_line_message(new, line + where) if line else new


# Bu kadar karakterden uzun bir metinde BPE eğitimi birkaç saniyeyi geçer: başlamadan söylenir
SAY_BPE_TRAINING_ABOVE = 1 << 22


def prepare_data(cfg: TrainConfig, out_dir: Path, tokenizer=None, sha256: str | None = None,
                 progress: bool = False, fine_tune: bool = False,
                 from_file: dict | None = None, init_from_as: str | None = None,
                 split_by: str | None = None, embedded_run: bool = True):
    """Read the corpus, build (or reuse) the tokenizer, encode and split; with `sha256` (a
    resumed run's), a text with another digest is refused before it is encoded.
    `split_by`: a resumed run's rule (data.SPLIT_RULES); None: a new run's (split_rule).
    `fine_tune`: `tokenizer` is the one of cfg.init_from, for a new fine-tune (else a resumed
    run's). `from_file`: config.settings_from_file's, for errors that name a setting taken
    from a config file. `init_from_as`: config.init_from_given_as's ("init_from=" for a
    key=value word). `embedded_run`: False when the resumed run recorded another corpus than
    the embedded one (its data setting), or none, so that the embedded text given for it now is not
    called the embedded corpus of another version. -> (tok, TokenData, label)

    `progress`: say on stderr when a BPE tokenizer is trained on a long text, show its training's
    bars and a bar while a long text is encoded (data.encode_corpus), each after
    backend.PROGRESS_DELAY seconds."""
    # Devam ettirilen bir eğitim yalnızca kendi metniyle sürer: --data ile verilen bir kopya,
    # özeti kayıtlıysa kabul edilir. Özeti kayıtlı olmayan (eski bir sürümün) eğitimde ise
    # derlemin adı yolla karşılaştırılır ve başka bir yol reddedilir ("it was trained with
    # data='tinyshakespeare', now data=…"): orada tek yol, kopyayı önbellekteki yerine koymaktır
    resumed = tokenizer is not None and not fine_tune
    instead = TRAIN_ON_A_FILE if not resumed else RESUME_FROM_A_COPY if sha256 else None
    try:
        text, label = load_text(cfg.data, instead=instead)
    except (OSError, ValueError) as e:
        raise _data_in_config_file(e, from_file) from None
    digest = text_sha256(text)
    if resumed and label == EMBEDDED and embedded_run and digest != sha256:
        # Gömülü derlem paketle gelir ve her sürümde yeniden kurulur: yükseltmeden sonra
        # devam ettirilen eski bir eğitimin metni değişmiştir. Bilinmeyen karakterler "dosya
        # değişti mi?" diye sorardı (kullanıcının bir dosyası yok), farklı özet ise "eğitimin
        # başladığı metin değil" derdi ve çıkış yolunu söylemezdi; özeti kaydetmemiş bir eğitim
        # ise (karakterleri yetiyorsa) başka bir metinle, başka bir doğrulama bölümüyle sessizce
        # sürerdi. Başka bir derlemle eğitilmiş bir eğitim --data embedded ile devam
        # ettirilirse (embedded_run False) metin gömülü derlemin başka bir sürümü değil, başka
        # bir metindir: aşağıdaki ret söylenir
        raise _embedded_of_another_version(out_dir, bool(sha256))
    if tokenizer is not None and digest != sha256:
        # Özet eğitiminkiyle aynıysa metin eğitimin başladığı metindir: belirteçleyicinin
        # bilmediği bir karakter tutamaz, bu denetim (100 MB'lık bir derlemde bir saniyeyi aşan
        # NFC geçişi ve küme) atlanır. Özeti kayıtlı olmayan (eski sürümlerin) bir eğitimde,
        # hazır bir belirteçleyiciyle başlayan ince ayarda ve değişmiş bir metinde çalışır;
        # değişmiş metnin bilinmeyen karakterleri özetin farklı olmasından daha çok şey söyler
        try:
            check_corpus_fits(text, tokenizer, label, cfg.init_from if fine_tune else None,
                              (from_file or {}).get("init_from"), init_from_as == "init_from=")
        except ValueError as e:
            # Devam ettirilen eğitimin metni ayar dosyasından geldiyse ileti dosyayı da söyler
            # (bir ince ayarın iletisi init_from'un nereden geldiğini zaten söyler)
            raise (_data_in_config_file(e, from_file) if resumed else e) from None
    if sha256 and sha256 != digest:
        # Başka bir metin, uzun kodlamadan (büyük bir derlemde dakikalar) önce reddedilir
        raise _data_in_config_file(_other_text(out_dir, label), from_file)
    if tokenizer is None:
        train_text = _training_text(text, cfg)
        if progress and cfg.tokenizer == "bpe" and len(train_text) > SAY_BPE_TRAINING_ABOVE:
            # 100 MB'lık bir metinde BPE eğitimi yarım dakikayı bulur; kullanıcı o sürede hiçbir
            # şey görmeyince programın takıldığını sanırdı
            _log(f"training the BPE tokenizer (vocab_size {cfg.vocab_size}) on "
                 f"{len(train_text):,} characters of {label}", False)
        tokenizer = build_tokenizer(cfg, train_text, progress=progress)
        del train_text
    path = out_dir / "tokens.npy" if len(text) > cfg.mmap_threshold else None
    # Bölme kuralına data.split_rule karar verir (eval de ona sorar): devam ettirilen bir
    # eğitimde kaydedilen kural, yeni bir eğitimde belirteçleyicinin kuralı
    rule = split_rule(tokenizer) if split_by is None else _split_rule(tokenizer, split_by)
    if rule == SPLIT_BY_CHARACTERS:
        # Metin ilk %90 karakterinin sonunda (split_point(len(text)); yeni bir BPE eğitiminin
        # belirteçleyicisi de bu sınıra kadar eğitilir) kesilir ve iki kısım ayrı ayrı kodlanır:
        # doğrulama kimlikleri tam olarak encode(text[c:])'dir
        ids, cut = encode_split_corpus(text, tokenizer, split_point(len(text), cfg.val_fraction),
                                       path=path, progress=progress)
    else:
        ids, cut = encode_corpus(text, tokenizer, path=path, progress=progress), None
    if path is not None:
        # tokens.npy yazıldı: eğitim klasörünün kilit dosyası onu bu eğitimin dosyası olarak
        # kaydeder; ilk denetim noktasından önce öldürülen bir başlangıcı aynı komut
        # --overwrite istemeden yeniden başlatabilsin (run_folder.note_own_file; kilit dosyası
        # olmayan bir klasörde bir şey yazılmaz)
        note_own_file(out_dir, "tokens.npy")
    del text
    try:
        data = split_ids(ids, cfg.block_size, cfg.val_fraction, source=f"the corpus {label!r}",
                         cut=cut)
    except ValueError as e:
        # Kısa metnin iletisi block_size'ı (ve val_fraction'ı) adıyla söyler: değer ayar
        # dosyasından geldiyse hangi dosyada olduğu da söylenir (ayrıştırırken bulunan
        # hatalardaki gibi); birkaç ayar dosyası olan kullanıcı neyi düzelteceğini bilsin
        where = in_config_file(from_file or {}, cfg, [k for k in ("block_size", "val_fraction")
                                                      if k in str(e)])
        if not where:
            raise
        raise ValueError(f"{e} ({where})") from None
    data.sha256 = digest
    return tokenizer, data, label


# -- evaluation & logging ----------------------------------------------------------------------

def loss_only(model, x, y):
    """model.forward(x, y)'s loss, without the logits where the model can leave them out."""
    # Eğitici logitleri kullanmaz: destekleyen model (GPT) kaybın olasılıklarını logitlerin
    # belleğinde hesaplar; yoksa (B,T,V) boyutunda bir dizi daha ayrılırdı ve geri geçiş boyunca
    # `_` adında dururdu. Kayıp ve gradyanlar aynıdır
    if "return_logits" in inspect.signature(model.forward).parameters:
        return model.forward(x, y, return_logits=False)[1]
    return model.forward(x, y)[1]


def estimate_loss(model, sampler: BatchSampler, eval_iters: int, step: int) -> dict:
    """Mean loss over eval_iters batches of each split (eval mode; converted to float once).
    The model's mode (train or eval) is the same afterwards as before."""
    # Önceki kip geri getirilir: eval kipindeki bir model (ör. load_model'in verdiği) sonradan
    # sessizce eğitim kipine, yani dropout'u açık bir ileri geçişe dönmesin
    was_training = model.training
    model.eval()
    out = {}
    try:
        for split in ("train", "val"):
            total = None
            for w in sampler.eval_batches(split, eval_iters, step):
                wd = model.xp.asarray(w)
                loss = loss_only(model, wd[:, :-1], wd[:, 1:])
                total = loss if total is None else total + loss
            out[split] = float(total) / eval_iters
    finally:
        model.train(was_training)
    return out


def plot_losses(metrics_path: Path, png_path: Path) -> bool:
    """Loss curves from metrics.jsonl; False (and nothing written) without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:
        return False
    rows = _read_metrics(metrics_path)
    if not rows:
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    steps = [r["step"] for r in rows]
    ax.plot(steps, [r["train_loss"] for r in rows], label="train")
    ax.plot(steps, [r["val_loss"] for r in rows], label="val")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    try:
        atomic_write(png_path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    finally:
        plt.close(fig)
    return True


# -- sampling (simple; generate.py provides the KV-cache sampler) --------------------------------

def sample_text(model, tokenizer, prompt: str = "", max_new_tokens: int = 200,
                temperature: float = 1.0, seed: int | None = 0, errors: str = "strict") -> str:
    """Generate text after `prompt` (none: after a newline, see tokenizers.start_ids) with
    generate.py's KV-cache sampler; temperature 0 is greedy."""
    from .generate import check_sampling_args, generate
    check_sampling_args(max_new_tokens, temperature)
    if not prompt:
        ids = start_ids(tokenizer)
    elif _takes_errors(tokenizer):
        ids = tokenizer.encode(prompt, errors=errors)
    else:
        ids = tokenizer.encode(prompt)
    if not ids:
        raise ValueError("the prompt is empty after tokenization")
    out = generate(model, np.asarray(ids, dtype=np.int64), max_new_tokens,
                   temperature=temperature, seed=seed,
                   vocab_limit=getattr(tokenizer, "vocab_size", None))
    return tokenizer.decode(np.asarray(out).reshape(-1)[len(ids):])


def _takes_errors(tokenizer) -> bool:
    import inspect
    try:
        return "errors" in inspect.signature(tokenizer.encode).parameters
    except (TypeError, ValueError):
        return False


# -- the trainer -------------------------------------------------------------------------------

class NonFiniteLoss(RuntimeError):
    """Training stopped: a loss, gradient norm or the weights became NaN or infinite (the
    last good checkpoint is kept)."""


def _end_sigterm_raises() -> None:
    """The training loop ended and its checkpoint is saved: SIGTERM gets its default action
    back (the process ends at once) if sigterm_raises (train's or the command's) put
    _terminate in."""
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) is _terminate:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


class _InterruptFlag:
    """The first Ctrl-C (SIGINT) or SIGTERM (kill, docker stop, a scheduler preempting the job)
    during training asks the loop to stop after the current step and save; a second one
    interrupts at once (KeyboardInterrupt; Terminated for SIGTERM). Only in the main thread
    (where Python delivers signals); elsewhere the signals keep their usual meaning, and a
    signal ignored when training starts (SIG_IGN: a job started in the background by a shell
    script, nohup-style launchers) stays ignored. The handlers that were there before are put
    back afterwards."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self.signal = None          # the first signal's name: "SIGINT" or "SIGTERM"
        self._old = {}
        self._writing = False
        self._pending = None

    @staticmethod
    def _stopping(signum) -> KeyboardInterrupt:
        """The exception that stops the run at once for `signum`."""
        return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    def _stop(self, signum):
        raise self._stopping(signum)

    def _handler(self, signum, frame):
        what = "interrupt" if signum == signal.SIGINT else "SIGTERM"
        if self.requested:
            if self._writing:
                # Yazılmakta olan denetim noktası yarıda kesilmez (kesilse de eskisi sağlam
                # kalırdı, ama yeni adımın emeği boşa giderdi): yazma bitince durulur.
                self._pending = signum
                print(f"\n{what}: stopping as soon as the checkpoint being written is "
                      f"complete", file=sys.stderr)
                return
            self._stop(signum)
        self.requested = True
        self.signal = signal.Signals(signum).name
        again = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
        print(f"\n{what}: stopping after this step and saving a checkpoint "
              f"({again} again to stop at once)", file=sys.stderr)

    @contextlib.contextmanager
    def writing(self):
        """A checkpoint write: a second signal during it takes effect when it is complete. Where
        the write failed, the signal's exception is raised `from` the write's error: the command
        line prints the error, then `interrupted` / `terminated`, and exits with 130 / 143."""
        self._writing = True
        try:
            yield
        except Exception as e:
            # Yazma başarısız olduysa (disk dolu) ve bu sırada ikinci bir sinyal geldiyse
            # kullanıcı durmayı istemiştir: komut yine 130 (143) ile çıkmalıdır, yazmanın hatası
            # da kaybolmamalıdır. Sinyalin istisnası hataya `from` ile bağlanır (atomic.
            # signals_deferred'in kuralı); cli.report_errors önce hatayı, sonra "interrupted"
            # ("terminated") yazar.
            if self._pending is None:
                raise
            raise self._stopping(self._pending) from e
        finally:
            self._writing = False
        if self._pending is not None:
            self._stop(self._pending)

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            # SIGTERM (kill, docker stop, bir iş sıralayıcısının işi durdurması) da ilk Ctrl-C
            # gibi karşılanır: yoksa süreç hemen ölür ve son kayıttan beri atılan adımlar
            # kaybolurdu. Eğitici Python'dan da çağrılabilir: önceki işleyiciler saklanır.
            # Yok sayılan (SIG_IGN) bir sinyal yok sayılmış kalır: bir kabuk betiğinin arka
            # planda başlattığı iş Ctrl-C'yi böyle devralır, Python da SIGINT'e dokunmaz.
            for sig in self.SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    self._old[sig] = signal.signal(sig, self._handler)

    def uninstall(self) -> None:
        for sig, old in self._old.items():
            # None: önceki işleyici Python'dan kurulmamıştı (geri konamaz); varsayılanı konur
            signal.signal(sig, signal.SIG_DFL if old is None else old)
        self._old = {}


def _log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def _warn(msg: str) -> None:
    """A warning line on stderr, also under --quiet: it tells of output that was not written
    (or not kept), which a quiet run must not pass over in silence."""
    print(f"warning: {msg}", file=sys.stderr, flush=True)


def cpu_arithmetic(model, cfg: TrainConfig) -> dict:
    """What a CPU run's float32 sums depend on besides its settings, recorded in each
    checkpoint's extra: "cpu_threads" (backend.num_threads()), "batch_parts" (how many parts a
    training micro-batch is split into, backend.shard_count), "blas_threads" (the BLAS's own
    thread count, which works on an unsplit batch; absent when threadpoolctl cannot tell) and
    "fused_kernels" (whether the fused Numba kernels run, backend.fused_kernels); {} on the GPU."""
    # Toplu işin kaç parçaya bölündüğü (iş parçacığı sayısından, toplu işin boyundan ve
    # threadpoolctl'ün kurulu olup olmadığından gelir), bölünmemiş bir toplu işte BLAS'ın kendi
    # iş parçacığı sayısı ve birleşik çekirdekler toplamların hangi sırayla alındığını belirler:
    # biri değişirse ağırlıklar son bitlerinde ayrılabilir (README, CPU iş parçacıkları). Devam
    # ettirilen eğitim bunları kaydedilenlerle karşılaştırır. İş parçacığı sayısı değil, parça
    # sayısı karşılaştırılır (iş parçacığı sayısı yalnızca öğütte kullanılır): küçük bir toplu
    # iş hiç bölünmez, `default` hazır ayarında 3 ile 4 iş parçacığı da aynı 3 parçayı verir;
    # sonuç aynıdır, uyarı boşuna olurdu
    if model.device != "cpu":
        return {}
    n_embd = getattr(getattr(model, "config", None), "n_embd", None)   # bigram: no config
    parts = (shard_count(cfg.batch_size, cfg.batch_size * cfg.block_size * n_embd)
             if n_embd else 1)                     # bigram: toplu iş bölünmez
    found = {"cpu_threads": num_threads(), "batch_parts": parts}
    blas = blas_threads()
    if blas is not None:
        found["blas_threads"] = list(blas)         # [API adı, iş parçacığı sayısı]
    found["fused_kernels"] = fused_kernels(model.flat) is not None
    return found


def _count(v) -> int | None:
    """v when it is a count (an int >= 1, not a bool), else None (a field of an older version's
    checkpoint, or a damaged one: not compared)."""
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 1 else None


# BLAS kitaplığının iş parçacığı sayısını okuduğu ortam değişkeni (threadpoolctl'ün API adıyla)
BLAS_THREADS_VARIABLE = {"openblas": "OPENBLAS_NUM_THREADS", "mkl": "MKL_NUM_THREADS",
                         "blis": "BLIS_NUM_THREADS"}


def other_arithmetic(saved: dict, now: dict) -> str | None:
    """The warning for a resumed CPU run whose batch parts, BLAS threads (of an unsplit batch)
    or fused kernels (cpu_arithmetic's `now`) differ from those its checkpoint's extra (`saved`)
    records; None when they match or the checkpoint records none (an older version's, or a GPU
    run's)."""
    # Kaydedilmemiş (eski sürümlerin) ya da bozuk bir alan karşılaştırılmaz: eğitim sessizce sürer
    was, is_now, fix = [], [], []
    parts, parts_now = _count(saved.get("batch_parts")), now.get("batch_parts")
    if parts is not None and parts_now is not None and parts != parts_now:
        def split(n):
            return "its batch in one piece" if n == 1 else f"its batch split over {n} threads"
        was.append(split(parts))
        is_now.append("in one piece" if parts_now == 1 else f"over {parts_now}")
        threads = _count(saved.get("cpu_threads"))
        if parts == 1:
            # Kaydedilen toplu iş bölünmemişti: ya tek iş parçacığı vardı ya da threadpoolctl
            # kurulu değildi (o zaman kayıtlı iş parçacığı sayısı 1'den büyük olabilir). Devam
            # eden eğitimde toplu işin boyu ve model aynıdır; onu yine bölünmemiş bırakan tek
            # ayar tek iş parçacığıdır
            fix.append("set NANOGRAD_LLM_THREADS=1")
        elif _blas_controller() is None:
            # threadpoolctl olmadan toplu iş hiç bölünmez: hiçbir iş parçacığı sayısı yetmez
            fix.append("install threadpoolctl" + (
                f" and set NANOGRAD_LLM_THREADS={threads}"
                if threads is not None and threads != now.get("cpu_threads") else ""))
        else:
            fix.append(f"set NANOGRAD_LLM_THREADS={threads if threads is not None else parts}")
    blas, blas_now = saved.get("blas_threads"), now.get("blas_threads")
    if parts == 1 and parts_now == 1 and isinstance(blas, list) and len(blas) == 2 \
            and isinstance(blas[0], str) and _count(blas[1]) is not None \
            and blas_now is not None and blas[0] == blas_now[0] and blas[1] != blas_now[1]:
        # Bölünmemiş toplu işte çarpımları BLAS kendi iş parçacıklarıyla böler
        was.append(f"{blas[1]} BLAS thread{'' if blas[1] == 1 else 's'}")
        is_now.append(str(blas_now[1]))
        fix.append(f"set {BLAS_THREADS_VARIABLE.get(blas[0], 'OMP_NUM_THREADS')}={blas[1]}")
    fused = saved.get("fused_kernels")
    if isinstance(fused, bool) and "fused_kernels" in now and fused != now["fused_kernels"]:
        if fused:
            was.append("the fused Numba kernels")
            is_now.append("without them")
            # Çekirdekler ya ortam değişkeniyle kapatılmıştır ya da Numba kurulu değildir
            fix.append("unset NANOGRAD_LLM_FUSED"
                       if os.environ.get("NANOGRAD_LLM_FUSED", "1") == "0" else "install Numba")
        else:
            was.append("without the fused Numba kernels")
            is_now.append("with them")
            fix.append("set NANOGRAD_LLM_FUSED=0")
    if not was:
        return None
    return (f"this run was trained with {' and '.join(was)}, now {' and '.join(is_now)}: the "
            f"continuation may not be bit-identical to an uninterrupted run "
            f"({' and '.join(fix)} to match)")


def _graph_step(cfg: TrainConfig, model):
    """The CUDA-graph step (cuda_graph.TrainStep) when training on the GPU, else None."""
    if cfg.device == "cuda" and cfg.cuda_graph and cfg.grad_accum == 1:
        from .cuda_graph import TrainStep
        return TrainStep(model)
    return None


def train(cfg: TrainConfig, resume: bool = False, quiet: bool = False, progress: bool = True,
          stop_after: int | None = None, overwrite: bool = False) -> dict:
    """Train according to cfg into cfg.out_dir; returns a summary dict.

    A new run refuses a folder that already holds a checkpoint unless `overwrite` is set
    (which deletes it); `resume=True` continues that run instead (build cfg with
    config.resume_config to take its saved settings). quiet: no log lines on stdout (warnings
    still go to stderr); progress: progress bars on stderr (BPE training, encoding a long
    text, the steps; never with quiet). stop_after: leave the loop after that many steps (as
    if killed; used by tests). A Ctrl-C or SIGTERM stops the run cleanly (its checkpoint
    saved) and returns; the signal handlers found are put back.

    The dict's keys: out_dir (str), step (the number of steps done, the checkpoint's step:
    max_iters for a run that finished; get_lr's last 0-based step was step - 1), model and
    tokenizer (the trained ones), interrupted (True when a signal stopped the run before
    max_iters), signal ("SIGINT", "SIGTERM" or None), eval_step, train_loss and val_loss (the last metrics.jsonl row's
    step and estimates), wall_s (seconds this call trained), n_params, plot (whether
    loss.png was drawn), data (the corpus' label), best_val_loss, best_step and best_dir (the
    lowest val loss, its step and the OUT/best folder; None with keep_best off or without an
    evaluation).
    """
    if not isinstance(cfg, TrainConfig):
        # train({"max_iters": 100}) ya da train("default"): "'dict' object has no attribute
        # 'validate'" yerine nasıl kurulacağı söylenir
        raise TypeError(f"train(cfg) expects a TrainConfig, got {type(cfg).__name__}: build "
                        f"one with TrainConfig(...) or make_config(preset, overrides={{...}})")
    if resume and overwrite:
        # Komut satırı --resume ile --overwrite'ı birlikte kabul etmez (argparse); Python'dan
        # ikisini birden veren bir çağrı, overwrite'ı sessizce yok sayıp devam ederdi.
        # Hangisinin istendiği bilinmez: biri eğitimi sürdürür, öbürü siler
        raise ValueError("resume=True continues the run in out_dir, overwrite=True deletes it "
                         "and starts a new one: give one or the other")
    cfg.validate()
    # Ayar dosyasından gelen ayarlar (config.settings_from_file): aşağıdaki
    # dataclasses.replace notu taşımaz, bu yüzden şimdi okunur
    from_file = settings_from_file(cfg)
    # Komut satırının iletileri klasörü kullanıcının verdiği biçimde adlandırır (--out,
    # out_dir=, bir ayar dosyasının out_dir'i); aşağıdaki dataclasses.replace bu notu taşımaz
    given_as = out_dir_given_as(cfg)
    # init_from'un nasıl verildiği de (--init-from, init_from=, ayar dosyası) şimdi okunur
    init_from_as = init_from_given_as(cfg)
    try:
        check_device(cfg.device)
    except RuntimeError as e:
        # CuPy ya da GPU yok: device='cuda' ayar dosyasından geldiyse ileti dosyayı da söyler
        where = in_config_file(from_file, cfg, ["device"])
        if not where:
            raise
        raise type(e)(f"{e} ({where})") from None
    # Eksik bir veri dosyası, klasörle ilgili hatalardan önce söylenir (asıl sorun odur)
    try:
        check_source(cfg.data)
    except (FileNotFoundError, ValueError) as e:
        e = _data_in_config_file(e, from_file)
        if not resume or not isinstance(e, FileNotFoundError):
            raise e from None
        checked = "(the run checks that it is the same text)"
        raise with_command_line_message(
            FileNotFoundError(f"{e}; if the corpus has moved, give its new path as data "
                              f"{checked}"),
            f"{e}; if the corpus has moved, add --data NEWPATH {checked}") from None
    if cfg.data and Path(cfg.data).expanduser().is_file():
        # Denetim noktasına tam yol yazılır: --resume başka bir klasörden de çalışsın
        cfg = dataclasses.replace(cfg, data=str(Path(cfg.data).expanduser().resolve()))
    if cfg.init_from:
        # key=value ya da --config dosyasıyla verilen bir "~/gpt2" yolunda da ~, --init-from'daki
        # gibi ev klasörüne çevrilir
        cfg = dataclasses.replace(cfg, init_from=str(Path(cfg.init_from).expanduser()))
    # SIGTERM'ün varsayılan davranışı süreci olduğu yerde bitirmektir: eğitim döngüsünün kendi
    # işleyicileri (_InterruptFlag) kurulmadan önce, derlem okunur ve kodlanırken gelen bir
    # SIGTERM, bu başlangıcın açtığı --out klasörünü (içinde .lock, belki tokens.npy) geride
    # bırakırdı ve aynı komut yeniden verildiğinde klasör --overwrite istenerek reddedilirdi.
    # Sinyal bir istisnaya çevrilir: hold_run_folder, denetim noktası yazılmamışsa kendi açtığı
    # klasörü siler (var olan bir klasöre dokunmaz), komut 143 ile çıkar.
    # Matris çarpımı hassasiyeti (CUPY_TF32, CuPy'ın float32 hesap türü) yalnızca eğitim
    # sürerken geçerlidir: train() dönünce önceki ayar geri konur (backend.matmul_precision).
    with matmul_precision(cfg.precision), sigterm_raises():
        out, top, created = prepare_run_folder(cfg.out_dir, resume, overwrite, given_as)
        with hold_run_folder(out, top, created, given_as), \
                advice_when_out_of_memory(*_memory_advice(cfg, resume)):
            return _train(cfg, out, resume, quiet, progress, stop_after, from_file,
                          init_from_as)


def _memory_advice(cfg: TrainConfig, resume: bool) -> tuple[str, str | None]:
    """What a run that ran out of memory can change: a resumed run keeps its batch_size,
    block_size and model (it refuses others), a fine-tune its folder's model. -> (in Python's
    words, in the command line's or None where they are the same)"""
    # Bellek yetmezliğinin genel öğüdü (daha küçük batch_size, block_size ya da model) devam
    # ettirilen bir eğitimde yol göstermez: üçü de reddedilir ("cannot resume …: it was trained
    # with batch_size=…"); ince ayarda da mimari klasörden gelir (n_layer= reddedilir)
    if resume:
        why = ("a resumed run keeps its batch_size, block_size and model: start a new run "
               "with smaller ones ")
        return why + _NEW_RUN[0], why + _NEW_RUN[1]
    if cfg.init_from:
        return ("use a smaller batch_size or block_size, or start from a smaller pretrained "
                "model (a fine-tune's model is its GPT-2 folder's)", None)
    return f"use a smaller batch_size, block_size or model {_model_settings(cfg)}", None


# How a run folder's model is left for a smaller one, in Python's words and the command line's
_NEW_RUN = ("(overwrite=True, or another out_dir)", "(--overwrite, or --out DIR)")


def _model_settings(cfg: TrainConfig) -> str:
    """'(n_layer, n_embd)': the settings that size this run's model, for 'a smaller model …'."""
    # vocab_size yalnızca BPE'nin sözlük boyudur (karakter belirteçleyicisinin sözlüğü metnin
    # karakterleridir, ayar yok sayılır); bigram modelinde katman ve genişlik yoktur: tablosu
    # V × V'liktir (V sözlük boyu). Öğüt yalnızca bu modeli gerçekten küçülten ayarları söyler
    bpe = cfg.tokenizer == "bpe"
    if cfg.model == "bigram":
        return ("(vocab_size)" if bpe else
                "(tokenizer=bpe with a small vocab_size: a bigram's table has a row and a "
                "column per character of the text)")
    return f"(n_layer, n_embd{', vocab_size' if bpe else ''})"


def _refuse_another_model(out: Path, model, cfg: TrainConfig, tokenizer,
                          from_file: dict | None = None) -> None:
    """--resume: refuse settings that ask for another model than the checkpoint's (`model`),
    e.g. dropout=, bias= given again with other values. A fine-tune's architecture is its
    checkpoint's (resume_config compares it); only its dropout comes from the settings.
    `from_file`: config.settings_from_file's (a setting from a config file is said so)."""
    saved_cfg = model.config_dict()
    asked = ({**saved_cfg, "dropout": cfg.dropout} if cfg.init_from
             else model_config(cfg, tokenizer.vocab_size))
    diff = [k for k in asked if saved_cfg.get(k) != asked[k]]
    if diff:
        raise _same_setting_or_a_new_run(f"cannot resume {out}: the checkpoint's model has "
                                         + ", ".join(f"{k}={saved_cfg.get(k)!r}" for k in diff)
                                         + ", the config asks for "
                                         + ", ".join(_asked(k, asked[k], from_file)
                                                     for k in diff))


def _asked(key: str, value, from_file: dict | None) -> str:
    """'dropout=0.2', with ' in config file a.toml' when the setting came from that file."""
    # vocab_size modelinkidir (belirteçleyicinin sözlük boyu), ayarınki olmayabilir
    where = (from_file or {}).get(key) if key != "vocab_size" else None
    return f"{key}={value!r}" + (f" in config file {where}" if where else "")


def _train(cfg: TrainConfig, out: Path, resume: bool, quiet: bool, progress: bool,
           stop_after: int | None, from_file: dict | None = None,
           init_from_as: str | None = None) -> dict:
    started = time.time()
    metrics_path = out / "metrics.jsonl"
    start_step = 0
    state = None
    if resume:
        state = ckpt.load_checkpoint(out, device=cfg.device)
        if "optimizer_state" not in state:
            raise ValueError(f"cannot resume {out}: it holds weights only, without the "
                             f"optimizer's state (a copy such as best/); resume the run "
                             f"folder it was saved from")
        man = state["manifest"]
        # Bildirim denetimi (checkpoint._check_manifest_types) bu tabloların null olmasına
        # izin verir: null, boş tablo gibi okunur
        saved = man.get("train_config") or {}
        keys = ["model", "n_layer", "n_head", "n_embd", "block_size", "tokenizer", "seed",
                "dtype", "batch_size", "grad_accum", "data", "val_fraction"]
        if saved.get("init_from"):
            # İnce ayar: belirteçleyici GPT-2 klasöründen geldi ve klasörde kayıtlı; ayarların
            # tokenizer/vocab_size alanları burada karşılaştırılmaz, kaydedilen değerler
            # geçerlidir. Mimari de denetim noktasının modelindendir (kaydedilen ayarlar hazır
            # ayarın n_layer=3'ünü tutabilir): yeniden verilen model ve belirteçleyici ayarlarını
            # resume_config modelle ve belirteçleyiciyle karşılaştırır; burada, başlarkenki gibi,
            # farklı mimari ayarları yalnızca söylenir (aşağıda)
            for k in ("tokenizer", "n_layer", "n_head", "n_embd"):
                keys.remove(k)
            cfg = dataclasses.replace(cfg, **{k: saved[k] for k in
                                              ("tokenizer", "vocab_size", "bpe_pattern")
                                              if k in saved})
        elif saved.get("tokenizer") == "bpe":
            keys += ["vocab_size", "bpe_pattern"]
        if not (man.get("extra") or {}).get("data_sha256") and "data" in saved and \
                saved["data"] in (None, EMBEDDED):
            # Özeti kaydetmemiş, gömülü derlemle eğitilmiş (eski bir sürümün) eğitimi hangi
            # veriyle olursa olsun reddedilir; --data ile verilen bir kopya da denetlenemez.
            # Aşağıdaki karşılaştırma "it was trained with data='embedded', now data=KOPYA
            # (use the same setting…)" derdi: aynı ayarla da reddedilen bir eğitime
            raise _embedded_of_another_version(out, False)
        # Kaydedilmiş sha256 varsa veri, yolu değil içeriğiyle denetlenir (aşağıda): taşınmış
        # bir derlem --data YENİYOL ile devam ettirilebilir.
        if (man.get("extra") or {}).get("data_sha256"):
            keys.remove("data")
        for k in keys:
            # dtype: eski sürümlerin olduğu gibi kaydettiği bir takma ad (ör. f4) kanonik adıyla
            # (float32) karşılaştırılır
            same = {"data": same_source,
                    "dtype": lambda a, b: canonical_dtype(a) == canonical_dtype(b)}.get(
                        k, lambda a, b: a == b)
            if k in saved and not same(saved[k], getattr(cfg, k)):
                # Yeniden verilen ayar ayar dosyasındansa ileti dosyayı da adlandırır
                now = in_config_file(from_file or {}, cfg, [k]) or \
                    f"{k}={shown(getattr(cfg, k))}"
                raise _same_setting_or_a_new_run(
                    f"cannot resume {out}: it was trained with {k}={shown(saved[k])}, now "
                    f"{now}")
        tokenizer = ckpt.load_run_tokenizer(out, model=state["model"])
        if saved.get("init_from"):
            # Eski sürümler bir karakter belirteçleyicisiyle başlamış ince ayara da
            # tokenizer='bpe', kendine özgü bir ifadeyle bölen bir BPE ile başlamış olana da
            # bpe_pattern='gpt2' yazardı: sonraki kayıt eğitimin belirteçleyicisini söylesin
            cfg = dataclasses.replace(cfg, **tokenizer_settings(tokenizer)[0])
        best = out / "best"
        if cfg.keep_best and (best / ckpt.MANIFEST).exists():
            # best/ başka bir belirteçleyiciyle kaydedilmiş bir denetim noktası tutuyorsa bu
            # eğitimin kopyası değildir (elle konmuştur): kaybı eğitimin en iyisi sayılmaz, üzerine
            # de yazılmaz (save_checkpoint bunu zaten reddeder; eğitim, doğrulama kaybının ilk
            # iyileştiği değerlendirmede dururdu). Eğitici kendi yazmadığı bir modeli silmez:
            # devam ettirme, hiçbir şeye dokunulmadan ve eğitim başlamadan reddedilir.
            try:
                ckpt.check_tokenizer(best, tokenizer)
            except ckpt.CheckpointError:
                raise ValueError(f"cannot resume {out}: {best} holds a checkpoint saved with "
                                 f"another tokenizer, so it is not this run's best-weights "
                                 f"copy and the run would have to write over it; move it out "
                                 f"of the run folder (or delete it), or resume with "
                                 f"keep_best=false") from None
        start_step = state["step"]
        # Son denetim noktasının bildirimi yazıldıktan sonra öldürülen bir eğitim (eski
        # adımın dosyaları silinirken, loss.png yazılırken) artıklarını bırakır; bunları
        # normalde bir sonraki kayıt siler. Bitmiş bir eğitimde sonraki kayıt hiç gelmez:
        # artıklar devam ederken, kilit tutulurken silinir.
        ckpt.remove_unnamed_files(out, [man["model_file"], man.get("optim_file")])
        # best/ ilk kez (ya da silindikten sonra yeniden) kurulurken öldürülen bir eğitimin
        # yarım geçici klasörü (.best.XXXX.tmp) de
        _remove_staging_folders(out)
        _log(f"resuming {out} from step {start_step}", quiet)
    else:
        tokenizer = None
    init_model = None
    if cfg.init_from and state is None:
        # İnce ayar (fine-tuning): model ve BPE sözlüğü hazır bir GPT-2 klasöründen gelir;
        # ağırlıklar rastgele değil, ön eğitimde öğrenilmiş değerlerle başlar.
        from .hf import init_from_hf
        try:
            init_model, tokenizer = init_from_hf(cfg.init_from, dtype=cfg.dtype,
                                                 device=cfg.device, dropout=cfg.dropout,
                                                 block_size=cfg.block_size)
        except ValueError as e:
            if "block_size must be" not in str(e):
                raise
            # Değer ayar dosyasındansa "hazır ayarın (ya da sizin)" yerine dosya söylenir
            where = in_config_file(from_file or {}, cfg, ["block_size"])
            whose = (f"{where.replace(' in config file ', ' is set in config file ', 1)}"
                     if where else f"block_size={cfg.block_size} is the preset's (or your) "
                                   f"setting")
            raise ValueError(f"{e}: {whose}; give block_size=N within that range") from None
        # Kaydedilen ayarlar gerçeği söylesin: belirteçleyici klasörünküdür, GPT-2'nin bayt
        # düzeyindeki BPE'si ya da bu paketin kaydettiği bir karakter belirteçleyicisi (bölme
        # ifadesi de klasörünkü, adı olmayan kendi ifadesi için "custom"; karakter
        # belirteçleyicisinde ayar olduğu gibi kalır)
        cfg = dataclasses.replace(cfg, **tokenizer_settings(tokenizer)[0])
    saved_sha = ((state or {}).get("manifest", {}).get("extra") or {}).get("data_sha256")
    saved_split = None
    if state is not None:
        # Doğrulama bölümünün kuralı eğitimin kaydettiğidir: alanı olmayan (eski bir sürümün)
        # bir eğitim kimliklerle bölünmüştü ve öyle sürer (devam ettirme birebir aynı kalsın)
        saved_split = (state["manifest"].get("extra") or {}).get("split_by", SPLIT_BY_TOKENS)
        if saved_split not in SPLIT_RULES:
            raise ValueError(f"cannot resume {out}: 'split_by' in the 'extra' of its "
                             f"{ckpt.MANIFEST} must be one of "
                             f"{', '.join(map(repr, SPLIT_RULES))}, not {shown(saved_split)}")
    if state is not None:
        # Devam ettirilen modelin ayarları (dropout, bias, activation…) derlem okunup
        # kodlanmadan önce denetlenir: büyük bir derlemde ret dakikalar sonra gelirdi
        _refuse_another_model(out, state["model"], cfg, tokenizer, from_file)
    # Adı verilen bir derlemin (ör. data=tinyshakespeare) metninin özeti önceden bilinir: başka
    # bir metinle başlamış bir eğitim, derlem indirilmeden (ağ olmadan da) reddedilir. Özetler
    # aynıysa metin eğitim için gerekir: önbellekteki kopya okunur, yoksa indirilir.
    known_sha = known_text_sha256(cfg.data)
    if saved_sha and known_sha and known_sha != saved_sha:
        raise _data_in_config_file(_other_text(out, str(cfg.data)), from_file)
    if saved_sha and known_sha:
        try:
            download_corpus(str(cfg.data),          # the cached copy, else a download
                            instead=RESUME_FROM_A_COPY)
        except OSError as e:
            why = (f"cannot resume {out} without the text of corpus {cfg.data!r} (the run's "
                   f"corpus; no verified copy is in the cache): ")
            raise _data_in_config_file(with_command_line_message(
                OSError(f"{why}{e}"),
                why + (getattr(e, "command_line_message", None) or str(e))), from_file) from None
    # Devam ettirilen eğitimin kaydettiği derlem gömülü derlem miydi (yeni bir eğitimde: evet).
    # Ayarlarında `data` olmayan bir kayıt (elle kaydedilmiş) hangi derlemle eğitildiğini
    # söylemez: yukarıdaki denetim ve eval gibi, gömülü derlemle eğitilmiş sayılmaz
    saved_cfg = {} if state is None else (state["manifest"].get("train_config") or {})
    embedded_run = state is None or ("data" in saved_cfg
                                     and saved_cfg["data"] in (None, EMBEDDED))
    tokenizer, data, label = prepare_data(cfg, out, tokenizer, sha256=saved_sha,
                                          progress=progress and not quiet,
                                          fine_tune=init_model is not None,
                                          from_file=from_file, init_from_as=init_from_as,
                                          split_by=saved_split,
                                          embedded_run=embedded_run)
    mcfg = model_config(cfg, tokenizer.vocab_size)
    if cfg.init_from:
        # Mimari GPT-2 klasöründen gelir, eğitim ayarlarının n_layer/n_embd alanlarından değil.
        # Klasörünkinden farklı verilen bir ayarı make_config reddeder, verilmeyenlerin yerine
        # de klasörünkileri koyar; burada farklı olanlar Python'dan doğrudan kurulan bir
        # TrainConfig'in (ya da eski bir sürümün kaydettiği ayarların) değerleridir: yalnızca
        # söylenir
        src = init_model if init_model is not None else state["model"]
        # dropout ise eğitim ayarlarından gelir: devam ederken başka bir değer verilirse,
        # sıfırdan başlamış bir eğitimdeki gibi derlem okunmadan önce reddedilir
        # (_refuse_another_model); sessizce yok sayılmaz
        mcfg = {**src.config_dict(), "dropout": cfg.dropout}
        arch = ("n_layer", "n_head", "n_embd", "bias", "tie_weights", "activation",
                "positional")
        ignored = [f"{k}={getattr(cfg, k)}" for k in arch if getattr(cfg, k) != mcfg.get(k)]
        if ignored:
            _log(f"init_from {cfg.init_from}: the model has n_layer={mcfg.get('n_layer')}, "
                 f"n_head={mcfg.get('n_head')}, n_embd={mcfg.get('n_embd')} "
                 f"({', '.join(ignored)} from the config do not apply)", quiet)
            # Kaydedilen ayarlar (checkpoint.json, config.json) eğitilen modeli söylesin,
            # uygulanmayan hazır ayar değerlerini (ör. n_layer=3) değil
            cfg = dataclasses.replace(cfg, **{k: mcfg[k] for k in arch})
    f64 = canonical_dtype(cfg.dtype) == "float64"
    half = "dtype=float32 (half the memory)"
    smaller = f"a smaller model {_model_settings(cfg)}{' or ' + half if f64 else ''}"
    if init_model is not None:
        model = init_model
    elif state is not None:
        model = state["model"]          # its settings were checked before the corpus was read
    else:
        # float64 bir eğitim, float32'nin iki katı bellek ister (--hf yükleyicisinin öğüdündeki
        # gibi): bellek öğütleri (burada ve aşağıdaki dört kat denetiminde) bunu da söyler
        with advice_when_too_large(f"use {smaller}"):
            model = ckpt.build_model(mcfg, dtype=cfg.dtype, device=cfg.device, seed=cfg.seed)
    # Kurmak yalnızca ağırlıkları ister, eğitmek dört katını: ağırlıklar, gradyanlar ve
    # AdamW'nin iki momenti (etkinleştirmeler bunların üstüne gelir). Gradyanlar ilk geri
    # geçişte, momentler ilk adımda ayrılır: bunlar makinenin belleğini aşıyorsa eğitim ilk
    # adımda, çoğu zaman işletim sistemince hiçbir ileti olmadan öldürülürdü. GPU'da bu diziler
    # GPU'nun belleğindedir; bu denetim işlemcinin belleği içindir
    if model.device == "cpu":
        # Devam eden bir eğitimin dtype'ı değişmez: float32 yeni bir eğitimdir. Öğüt iki
        # biçimdedir: Python'un sözcükleriyle (advice) ve komut satırınınkilerle
        if state is not None and cfg.init_from:
            # Devam eden bir ince ayarın yeni eğitimi de bir GPT-2 klasöründen başlar: orada
            # n_layer/n_embd reddedilir (mimari klasörden gelir), --init-from'suz bir eğitim
            # ise sıfırdan başlardı. Küçültmenin yolu daha küçük bir ön eğitilmiş modeldir
            advice = [f"this run's model is fixed by its checkpoint: start a new run {new} "
                      f"from a smaller pretrained model ({option})"
                      f"{', or in ' + half if f64 else ''}"
                      for new, option in zip(_NEW_RUN, ("init_from", "--init-from DIR"))]
        elif state is not None:
            advice = [f"this run's model is fixed by its checkpoint: start a new run {new} with "
                      f"{smaller}" for new in _NEW_RUN]
        elif cfg.init_from:
            # Komut satırı klasörü kullanıcının verdiği biçimde adlandırır
            named = (f"--init-from {cfg.init_from}" if init_from_as is None else
                     f"init_from={cfg.init_from}" if init_from_as == "init_from=" else
                     f"init_from {cfg.init_from} (set in config file {init_from_as})")
            advice = [f"its size comes from {option}: start from a smaller "
                      f"pretrained model{', or train in ' + half if f64 else ''}"
                      for option in (f"init_from {cfg.init_from}", named)]
        else:
            advice = [f"use {smaller}", None]
        check_fits_in_memory(model.num_params(), cfg.dtype, f"the {model.kind} model", copies=4,
                             purpose="to train (weights, gradients and AdamW's two moments)",
                             advice=advice[0], command_line_advice=advice[1])
    model.train()
    opt = AdamW(model, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps,
                weight_decay=cfg.weight_decay)
    sampler = BatchSampler(data, cfg.block_size, cfg.batch_size, seed=cfg.seed)
    if state is not None:
        man_path = out / ckpt.MANIFEST
        if "optimizer_state" in state:
            # Okunan momentler kopyalanmadan devralınır (adopt): bir an için momentlerin iki
            # kopyası (okunan ve AdamW'ninki) birden bellekte durmaz
            # eps de ayarlardan gelir (aşağıda): kaydedilen eps'in yerine verilir, böylece eski
            # bir sürümün kaydettiği, float32'de 0 olan bir eps (load_state_dict onu reddeder)
            # devam ederken verilen eps=1e-8 ile düzeltilebilir
            opt.load_state_dict(state.pop("optimizer_state"), source=f"{man_path}: optimizer",
                                adopt=True, eps=cfg.eps)
            # Denetim noktasından momentler ve adım sayısı gelir; oran, beta'lar, eps ve ağırlık
            # azaltma ise eğitim ayarlarından: devam ederken yeniden verilen weight_decay=,
            # beta2=, eps= sessizce yok sayılmaz
            opt.lr, opt.betas, opt.eps, opt.weight_decay = \
                cfg.lr, (cfg.beta1, cfg.beta2), cfg.eps, cfg.weight_decay
        if state["manifest"].get("sampler_state"):
            try:
                sampler.set_state(state["manifest"]["sampler_state"])
            except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as e:
                raise ckpt.CheckpointError(f"{man_path}: 'sampler_state' is not a saved random "
                                           f"generator state ({e})") from None
        _truncate_metrics(metrics_path, start_step)
    else:
        if (out / ckpt.MANIFEST).exists():
            # Yalnızca gerçekten bir eğitim klasörüyse (bildirim dosyası var): başka bir
            # klasördeki config.json, vocab.json gibi kullanıcı dosyalarına dokunulmaz.
            _log(f"starting a new run in {out} (--overwrite): the previous run is deleted",
                 quiet)
            _clear_run(out, started)
        else:
            # İlk denetim noktasından önce durmuş bir eğitimin günlüğü ve "best" kopyası (klasör
            # train() içinde denetlendi: ya boştu ya da yalnızca bir eğitimin yazdığı dosyaları
            # tutuyordu ve --overwrite verildi). best/, aynı adımın denetim noktasından önce
            # yazılır; başka bir belirteçleyiciyle kaydedilmiş olarak kalsaydı yeni eğitim ilk
            # değerlendirmede onun üzerine yazamazdı (save_checkpoint reddeder). İlk kopya
            # kurulurken öldürülen bir eğitimin yarım kalmış geçici klasörü (.best.XXXX.tmp) de
            # silinir
            metrics_path.unlink(missing_ok=True)
            if (out / "best" / ckpt.MANIFEST).exists():
                shutil.rmtree(out / "best")
            _remove_staging_folders(out)

    n_params = model.num_params()
    _log(f"model: {mcfg['model']} with {n_params:,} parameters, vocab {tokenizer.vocab_size}, "
         f"data {label}: {data.train.size:,} train / {data.val.size:,} val tokens, "
         f"device {cfg.device}", quiet)
    tokens_per_step = cfg.batch_size * cfg.block_size * cfg.grad_accum
    xp = model.xp
    train_cfg = cfg.to_dict()
    last: dict = {}
    t0 = time.perf_counter()
    elapsed_before = 0.0
    if state is not None:
        extra = state["manifest"].get("extra")
        elapsed_before = extra.get("elapsed_s", 0.0) if isinstance(extra, dict) else 0.0
        if isinstance(elapsed_before, bool) or not isinstance(elapsed_before, (int, float)) \
                or not math.isfinite(elapsed_before):
            raise ckpt.CheckpointError(f"{out / ckpt.MANIFEST}: 'extra.elapsed_s' must be a "
                                       f"number, got {elapsed_before!r}")
        elapsed_before = float(elapsed_before)
    bar = None
    if progress and not quiet:
        from tqdm import tqdm
        bar = tqdm(total=cfg.max_iters, initial=start_step, desc="train", unit="step",
                   dynamic_ncols=True, file=sys.stderr)

    def say(msg: str, warning: bool = False) -> None:
        # İlerleme çubuğu açıkken ileti çubuğun üzerinden yazılır: çubuğun satırına yapışmaz.
        # Uyarılar --quiet ile de yazılır (yazılmayan ya da yok sayılan bir çıktıyı söylerler)
        if bar is not None:
            bar.write(f"warning: {msg}" if warning else msg, file=sys.stderr)
        elif warning:
            _warn(msg)
        else:
            _log(msg, quiet)
    arithmetic = cpu_arithmetic(model, cfg)
    if state is not None and isinstance(state["manifest"].get("extra"), dict):
        # Başka bir iş parçacığı sayısıyla (ya da birleşik çekirdekler açılıp kapatılarak)
        # sürdürülen bir eğitim hata değildir, ama sonucu kesilmemiş bir eğitiminkiyle bit
        # düzeyinde aynı olmayabilir: bu, sessizce geçilmez, bir uyarı satırıyla söylenir
        differs = other_arithmetic(state["manifest"]["extra"], arithmetic)
        if differs:
            say(differs, warning=True)
    window_t, window_steps = time.perf_counter(), 0
    tok_s = 0.0

    # En iyi doğrulama kaybı: küçük bir derlem üzerinde model bir noktadan sonra ezberlemeye
    # başlar (eğitim kaybı düşerken doğrulama kaybı yükselir). nanoGPT gibi, o ana kadarki en
    # düşük doğrulama kaybının ağırlıkları ayrıca out_dir/best'te tutulur; out_dir'in kendisi
    # her zaman son durumu (kaldığı yerden devam için) taşır.
    best_dir = out / "best"
    best_val = math.inf
    best_step = None
    if state is not None and cfg.keep_best and (best_dir / ckpt.MANIFEST).exists():
        try:
            man_best = ckpt.read_manifest(best_dir)
            val = (man_best.get("extra") or {}).get("val_loss")
            # Sonlu bir kaybı olmayan kopya yok sayılır: hiçbir kayıp NaN'dan küçük çıkmaz,
            # kopya hiç yenilenmezdi; kaybı hiç yazılmamışsa özet satırı TypeError verirdi
            if isinstance(val, bool) or not isinstance(val, (int, float)) \
                    or not math.isfinite(val):
                raise ValueError(f"its {ckpt.MANIFEST} has no finite extra.val_loss "
                                 f"(got {val!r})")
            # Süreç "best" kopyasını yazıp aynı adımın asıl denetim noktasını yazamadan durduysa
            # kopya, denetim noktasından sonraki bir adımdandır. Kaybı yine de o ana kadarki en
            # düşük kayıptır (kopya yalnızca daha düşük bir kayıpla yazılır): o da kaldığı yerden
            # alınır. Ayarlar aynıysa o adım aynı kayıpla yeniden gelir ve kopyaya dokunulmaz;
            # değiştirildiyse kopya ancak gerçekten daha düşük bir kayıpla yenilenir. Kopya yok
            # sayılsaydı devamdaki ilk değerlendirme, önceki adımlarda daha düşük bir kayıp
            # görülmüş olsa da "en iyi" sayılır ve kopyanın yerine yazılırdı.
            _follow_moved_corpus(best_dir, man_best, cfg.data)
            # Kopyanın artıkları da (bildirimi yazıldıktan sonra öldürülen bir kaydın eski ağırlık
            # dosyası, geçici dosyalar) silinir: kopya bir daha yazılmazsa hiç silinmezlerdi
            ckpt.remove_unnamed_files(best_dir, [man_best["model_file"],
                                                 man_best.get("optim_file")])
            best_val, best_step = float(val), man_best["step"]
        except (ckpt.CheckpointError, OSError, TypeError, ValueError, AttributeError) as e:
            # Yalnızca bir yan kopya: okunamıyorsa eğitim durmaz, sonraki değerlendirme
            # yenisini yazar
            say(f"ignoring {best_dir} ({e}); it is replaced at the next evaluation",
                warning=True)

    def intact() -> str:
        """What a failed write leaves usable, for its error message."""
        return (f"the checkpoint of step {saved_step} in {out} is intact"
                if saved_step is not None else "no checkpoint was saved")

    def write(what: str, folder: Path, optimizer, step: int, **kw) -> None:
        """Save a checkpoint into folder; a failure names what, where and what is intact."""
        with interrupt.writing():
            try:
                ckpt.save_checkpoint(folder, model, optimizer, tokenizer, step,
                                     train_config=train_cfg, **kw)
            except OSError as e:
                # Disk dolu, izin yok…: hangi kaydın yazılamadığı ve neyin sağlam kaldığı söylenir
                raise OSError(f"could not write {what} of step {step} in {folder} "
                              f"({e.strerror or e}); {intact()}") from None

    def save_state(step: int, elapsed: float):
        nonlocal saved_step
        write("the checkpoint", out, opt, step, sampler_state=sampler.get_state(),
              dropout_seed=[cfg.seed, STREAM_DROPOUT, step],
              extra={"elapsed_s": elapsed, "data": label, "data_sha256": data.sha256,
                     "split_by": data.split_by, **arithmetic})
        saved_step = step

    def evaluate_and_save(step: int, lr: float):
        nonlocal last, best_val, best_step, window_t
        losses = estimate_loss(model, sampler, cfg.eval_iters, step)
        if not (math.isfinite(losses["train"]) and math.isfinite(losses["val"])):
            raise NonFiniteLoss(f"evaluation loss is {losses['train']} (train) / "
                                f"{losses['val']} (val) at step {step}")
        # Sonlu kayıplar ağırlıkların hepsinin sonlu olduğunu göstermez: değerlendirmenin toplu
        # işlerinin hiç değmediği bir ağırlık (bağsız bir çıkış katmanında hiç geçmeyen bir
        # belirtecin satırı; GPU'da iki denetim arasındaki bir adımın bozduğu bir değer) NaN
        # olabilir. Kayıttan önce bütün ağırlıklar denetlenir (değerlendirme başına bir geçiş;
        # GPU'da zaten bekleyen değerlendirmenin yanında ek bir bekleme değildir).
        if not bool(xp.isfinite(model.flat).all()):
            raise NonFiniteLoss(f"the weights are not finite at step {step} (its evaluation "
                                f"losses are finite)")
        elapsed = elapsed_before + time.perf_counter() - t0
        row = {"step": step, "train_loss": round(losses["train"], 6),
               "val_loss": round(losses["val"], 6), "lr": lr, "tokens_per_sec": round(tok_s, 1),
               "elapsed_s": round(elapsed, 3)}
        size = None
        try:
            # newline="\n": Windows'ta metin kipi satır sonlarını "\r\n" yapardı; günlük her
            # yerde (ve --resume'un atomik yeniden yazdığı satırlarla) aynı baytları taşır
            with open(metrics_path, "a", encoding="utf-8", newline="\n") as f:
                size = f.tell()
                f.write(json.dumps(row) + "\n")
                # Her satırı hemen ardından bir denetim noktası izler: satır, o kaydın
                # bildiriminden önce diske indirilir. Yoksa elektrik kesintisinden sonra denetim
                # noktasının kapsadığı satırlar günlükte eksik olabilirdi (--resume günlüğü
                # yalnızca kısaltır, eksik satırları yeniden yazmaz). Değerlendirme başına bir
                # fsync, kaydın kendi fsync'lerinin yanında önemsizdir.
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            # Disk dolduğunda satırın yalnızca bir kısmı yazılmış olabilir: o yarım satır
            # silinir, metrics.jsonl her satırı tam bir JSON nesnesi olarak kalır (yoksa
            # `docs --run` ya da jq gibi okuyucular bozuk son satırda dururdu)
            if size is not None:
                with contextlib.suppress(OSError):
                    os.truncate(metrics_path, size)
            raise OSError(f"could not append the step-{step} losses to {metrics_path} "
                          f"({e.strerror or e}); {intact()}") from None
        if cfg.keep_best and losses["val"] < best_val:
            # Önce "best", sonra son durum: ikisinin arasında öldürülen bir eğitim devam
            # ettirildiğinde bu adımı birebir aynı ağırlıklarla yeniden üretir.
            best_val, best_step = losses["val"], step
            write("the best-weights copy", best_dir, None, step,
                  extra={"val_loss": losses["val"], "data": label, "data_sha256": data.sha256,
                         "split_by": data.split_by})
        save_state(step, elapsed)
        # Değerlendirmenin ve kaydın süresi sonraki pencerenin eğitim hızına katılmaz
        window_t = time.perf_counter()
        msg = (f"step {step}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}, "
               f"lr {lr:.2e}")
        say(msg)
        last = row

    # GPU'da ileri + geri geçiş bir CUDA grafiği olarak kaydedilip oynatılır (cuda_graph.py);
    # küçük toplu işlerin biriktirildiği (grad_accum > 1) eğitimde olağan yol çalışır.
    graph_step = _graph_step(cfg, model)
    step = start_step
    saved_step = start_step if state is not None else None
    interrupt = _InterruptFlag()
    try:
        interrupt.install()
        if state is None:
            evaluate_and_save(0, get_lr(0, cfg.lr, cfg.min_lr, cfg.warmup_iters,
                                        cfg.decay_iters))
        elif start_step >= cfg.max_iters:
            say(f"nothing to train: the run is at step {start_step}, max_iters={cfg.max_iters}"
                f" (give a larger max_iters to train on)")
        while step < cfg.max_iters:
            if stop_after is not None and step - start_step >= stop_after:
                break
            if interrupt.requested:
                # Ctrl-C ya da SIGTERM: adım yarıda kesilmez; biten son adımın durumu
                # kaydedilir, böylece --resume tam buradan (bit düzeyinde aynı biçimde) devam eder.
                if saved_step != step:
                    # Kayıp her adımda denetlenmez (GPU'da log_interval adımda bir) ve sonlu bir
                    # kayıptan sonra da güncelleme ağırlıkları bozabilir (taşan gradyan normu):
                    # sonlu olmayan ağırlıklar son sağlam kaydın üzerine yazılmaz
                    if not bool(xp.isfinite(model.flat).all()):
                        raise NonFiniteLoss(f"the weights are not finite after step {step} "
                                            f"(interrupted; nothing saved)")
                    save_state(step, elapsed_before + time.perf_counter() - t0)
                break
            lr = get_lr(step, cfg.lr, cfg.min_lr, cfg.warmup_iters, cfg.decay_iters)
            drop_seed = [cfg.seed, STREAM_DROPOUT, step]
            loss_sum = None
            if graph_step is not None:
                # GPU: toplu iş sabit tamponlara kopyalanır, kayıtlı grafik oynatılır
                w = sampler.train_batch()
                loss_sum = graph_step(w[:, :-1], w[:, 1:], drop_seed)
                if step == start_step:
                    say("CUDA graph: " + ("forward+backward are replayed as one graph"
                                          if graph_step.active else
                                          f"not used ({graph_step.reason})"))
            else:
                model.set_dropout_seed(drop_seed)
                for micro in range(cfg.grad_accum):
                    w = xp.asarray(sampler.train_batch())       # bir kez aygıta taşı
                    loss = loss_only(model, w[:, :-1], w[:, 1:])
                    model.backward(accumulate=micro > 0)
                    loss_sum = loss if loss_sum is None else loss_sum + loss
            if cfg.grad_accum > 1:
                model.grad_flat *= 1.0 / cfg.grad_accum    # küçük toplu işlerin ortalaması
            # Sonlu olmayan değerler (NaN, ±sonsuz). Kayıp, geri yayılımdan sonra ve
            # güncellemeden önce denetlenir: CPU'da her adımda, GPU'da log_interval adımda bir
            # (float() GPU'daki işin bitmesini bekler). Kırpma açıksa (grad_clip > 0) denetlenen
            # adımlarda kırpmanın zaten hesapladığı gradyan normu da denetlenir: kayıp sonlu olsa
            # da gradyanlar taşmış olabilir. Kırpma, PyTorch'un clip_grad_norm_'u gibi, sonsuz
            # bir normla katsayıyı 0 yapar (sonsuz gradyanlar NaN, sonlu olanlar 0 olur), NaN
            # bir normla bütün gradyanları NaN yapar; AdamW de NaN'ı ağırlıklara yazardı. Bu
            # yüzden eğitim denetlenen adımda, güncelleme yapılmadan durur (NonFiniteLoss).
            # Tek istisna (nadir yol): bütün gradyanlar sonlu, yalnızca karelerinin toplamı
            # taşmışsa (float32'de 1,8·10¹⁹'u aşan bileşenler) optim.rescaled_grad_norm normu
            # ölçekleyerek yeniden hesaplar; kırpma bu doğru normla yapılır, adım atılır
            # (açıklaması optim.py'de). Olağan adımda norm yine bir kez hesaplanır. GPU'da
            # denetlenmeyen adımlarda norm okunmaz (okumak GPU'yu beklemektir): orada taşan bir
            # norm o adımın gradyanını sıfırlar. Kırpma kapalıysa norm hesaplanmaz: bozuk gradyan
            # ağırlıklara geçer (GPU'da denetlenmeyen adımlarda kırpma açıkken de) ve sonraki
            # denetimde (CPU'da bir sonraki adımda, GPU'da sonraki log_interval adımında ya da
            # araya giren değerlendirmede) kayıp sonlu çıkmayınca eğitim durur. Sonlu olmayan
            # ağırlıklar kaydedilmez: denetim noktası yalnızca değerlendirme kayıpları ve bütün
            # ağırlıklar sonluysa yazılır (Ctrl-C'deki kayıttan önce de ağırlıklar denetlenir);
            # klasörde son sağlam denetim noktası kalır ve --resume oradan devam eder.
            check_now = cfg.device == "cpu" or step % cfg.log_interval == 0
            if check_now:
                lossf = float(loss_sum) / cfg.grad_accum
                if not math.isfinite(lossf):
                    raise NonFiniteLoss(f"loss is {lossf} at step {step}")
            if cfg.grad_clip > 0:
                norm = global_grad_norm(model.grad_flat)
                if check_now and not math.isfinite(float(norm)):
                    norm = rescaled_grad_norm(model.grad_flat, norm)
                    if not math.isfinite(float(norm)):
                        raise NonFiniteLoss(f"the gradient norm is {float(norm)} at step {step} "
                                            f"(its loss, {lossf:.4f}, is finite)")
                clip_grad_norm(model.grad_flat, cfg.grad_clip, norm=norm)
            opt.step(model.grads, lr=lr)
            step += 1
            window_steps += 1
            if bar is not None:
                bar.update(1)
            evaluating = step % cfg.eval_interval == 0 or step == cfg.max_iters
            # Hız, değerlendirmelerde de ölçülür: metrics.jsonl'deki tokens_per_sec bir önceki
            # günlük ya da değerlendirme adımından bu yana eğitimin hızıdır (yoksa ilk
            # log_interval'dan önce 0.0, sonra eski bir pencereninki yazılırdı)
            if step % cfg.log_interval == 0 or evaluating:
                now = time.perf_counter()
                tok_s = window_steps * tokens_per_step / max(now - window_t, 1e-9)
                window_t, window_steps = now, 0
                if bar is not None:
                    lossf = float(loss_sum) / cfg.grad_accum
                    bar.set_postfix_str(f"loss {lossf:.4f} lr {lr:.2e} {tok_s:,.0f} tok/s",
                                        refresh=False)
            if evaluating:
                evaluate_and_save(step, get_lr(step, cfg.lr, cfg.min_lr, cfg.warmup_iters,
                                               cfg.decay_iters))
    except NonFiniteLoss as e:
        if bar is not None:
            bar.close()
        if saved_step is None:
            # Yeni bir eğitim 0. adımdaki ilk değerlendirmesinde durdu: henüz hiçbir güncelleme
            # yapılmadı, hiçbir kayıt yazılmadı. Sorun öğrenme oranında değil başlangıç
            # ağırlıklarındadır (ör. --init-from klasöründeki NaN/inf ağırlıklar)
            source = (f"the weights loaded from {cfg.init_from}" if cfg.init_from
                      else "the starting weights")
            raise RuntimeError(f"training stopped: {e}, before any training step: {source} "
                               f"give a non-finite loss (NaN or inf weights?); no checkpoint "
                               f"was saved") from None
        raise RuntimeError(f"training stopped: {e}. The last good checkpoint in {out} (step "
                           f"{saved_step}) is kept; try a lower lr"
                           f"{'' if 0 < cfg.grad_clip <= 1.0 else ' or grad_clip=1.0'}") from None
    finally:
        interrupt.uninstall()
        if bar is not None:
            bar.close()
    # _InterruptFlag, önceki işleyiciyi, yani döngüden önceki SIGTERM işleyicisini (_terminate)
    # geri koydu. O işleyici yalnızca ilk denetim noktasından önceki pencere içindir (klasörü
    # temizleyip 143 ile çıkmak). Döngü olağan biçimde bitti: kayıt diskte (biten eğitim ya da
    # durdurulup kaydedilen adım), geriye yalnızca kayıp eğrisi ve özet kaldı. Bu sırada gelen
    # bir SIGTERM artık "terminated" (eğitim yarıda kesildi) demez; varsayılanı olur: süreç
    # hemen biter (loss.png atomik yazılır: eski ya da yeni hâli kalır). Döngü bir hatayla
    # çıktıysa _terminate yerinde kalır: hold_run_folder'ın temizliği yine yapılır.
    _end_sigterm_raises()
    wall = time.perf_counter() - t0
    interrupted = interrupt.requested and step < cfg.max_iters
    logged = bool(last)                          # bu eğitim metrics.jsonl'e satır ekledi mi
    if not last:                                 # devam ettirilen eğitim zaten bitmişti
        rows = _read_metrics(metrics_path)
        last = rows[-1] if rows else {}
    png = out / "loss.png"
    try:
        plotted = plot_losses(metrics_path, png)
    except KeyboardInterrupt:
        # Eğri çizilirken (matplotlib'in ilk içe aktarılması bile bir iki saniye sürer) basılan
        # Ctrl-C: resim atomik yazılır, yarım bir loss.png kalmaz; denetim noktası zaten
        # diskte. Komut 130 ile çıkar, ama yalnızca "interrupted" demek, bitmiş eğitimin
        # yarıda kesildiği sanılmasına (ve --overwrite ile yeniden başlatılmasına) yol açardı:
        # neyin çizilmediği ve kaydın nerede olduğu --quiet ile de söylenir.
        stale = f"; {png} is out of date" if png.exists() else ""
        kept = (f"checkpoint of step {saved_step} saved in {out} (continue with --resume)"
                if interrupted else
                f"the run is complete: its checkpoint of step {saved_step} is in {out}")
        _warn(f"loss curve not drawn (interrupted){stale}; {kept}")
        raise
    except (OSError, ValueError) as e:
        # Eğri yalnızca bir çizim: çizilemezse denetim noktası ve sonuç yine geçerlidir. Uyarı
        # --quiet ile de yazılır: klasörde önceki bir kayıttan kalma, eskimiş bir loss.png
        # olabilir
        stale = f"; {png} is out of date" if png.exists() else ""
        _warn(f"loss curve not drawn ({e}){stale}")
        plotted = False
    else:
        if not plotted and logged and png.exists():
            # matplotlib yok: eğri çizilmez (README'de söylendiği gibi; hiç eğrisi olmamış bir
            # eğitim bu yüzden sessiz kalır). Ama önceki bir eğitimin çizdiği loss.png bu
            # eğitimin eklediği değerlendirmeleri göstermez: eskidiği --quiet ile de söylenir
            _warn(f"loss curve not drawn (matplotlib is not available: pip install "
                  f"matplotlib); {png} is out of date")
    return {"out_dir": str(out), "step": step, "model": model, "tokenizer": tokenizer,
            "interrupted": interrupted,
            # durduran sinyal ("SIGINT" ya da "SIGTERM"): komut 128 + sinyal numarasıyla çıkar
            "signal": interrupt.signal if interrupted else None,
            "eval_step": last.get("step"),
            "train_loss": last.get("train_loss"), "val_loss": last.get("val_loss"),
            "wall_s": wall, "n_params": n_params, "plot": plotted, "data": label,
            # metrics.jsonl'deki (ve yukarıdaki val_loss'taki) gibi 6 basamağa yuvarlanır: en iyi
            # adımın günlük satırıyla aynı sayı (karşılaştırmalar yuvarlanmamış kayıpla yapılır)
            "best_val_loss": round(best_val, 6) if cfg.keep_best and math.isfinite(best_val)
            else None,
            "best_step": best_step if cfg.keep_best else None,
            # yalnızca okunabilen ya da bu eğitimin yazdığı bir "best" kopyası bildirilir
            "best_dir": str(best_dir) if cfg.keep_best and best_step is not None else None}
