"""
# Eğitim ayarları: TrainConfig, hazır ayarlar ve komut satırı

Bir eğitimin her ayarı (model boyutu, veri, belirteçleyici, öğrenme oranı takvimi, kayıt
aralıkları, aygıt) tek bir veri sınıfında, `TrainConfig`'de durur; `validate` yanlış bir
değeri eğitim başlamadan, alanın adıyla reddeder. Ayarlar katman katman kurulur
(`make_config`): önce hazır ayar (`PRESETS`: `default`, `bigram`, `baby`, `shakespeare`),
sonra `--config` dosyası (düz bir TOML ya da JSON tablosu), sonra `key=value` sözcükleri, en
son `--data`, `--out`, `--device` ve `--init-from` seçenekleri. Her değer alanın türüne
çevrilir; bilinmeyen bir anahtar ya da türü tutmayan bir değer hatadır, sessizce yok sayılmaz.

`--resume` ile devam ettirilen bir eğitimin ayarları ise kendi `checkpoint.json`
dosyasından gelir (`resume_config`); yalnızca yeniden verilen ayarlar değişir. Eğitimin
kendisi `train.py`'dedir.
"""
from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import math
import os
import sys
from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import checkpoint as ckpt
from .atomic import path_fault, shell_note, shell_quote, with_command_line_message
from .backend import (MATMUL_PRECISIONS, as_float_dtype, closest_names, did_you_mean,
                      is_integer, shown)
from .optim import check_eps
from .run_folder import (check_not_locked, nothing_to_resume, refuse_a_dangling_run_folder,
                         refuse_resuming_unsaved_run)

MODELS = ("gpt", "bigram")
_PATH_FIELDS = ("data", "init_from", "out_dir")   # Python'dan bir Path da verilebilir
TOKENIZERS = ("char", "bpe")
INT_SETTING_MAX = 2**63 - 1              # every integer setting but seed (int64)
BPE_PATTERNS = ("gpt2", "turkish")    # tokenizers.bpe.PATTERNS (regex is an optional extra)
# İnce ayarın klasöründeki belirteçleyici adı olmayan, kendine özgü bir ifadeyle bölüyorsa
# kaydedilen bpe_pattern budur (ifadenin kendisi eğitim klasörünün tokenizer_meta.json
# dosyasındadır): hazır ayarın gpt2'si kaydedilseydi checkpoint.json ve config.json yanlış
# ifadeyi söylerdi, config.json'ın tablosu --config olarak verildiğinde de aynı klasörden yeni
# bir ince ayar "bpe_pattern='gpt2' istendi" diye reddedilirdi
OWN_PATTERN = "custom"
# Eğitimin sonunda yazdırılan örneğin en fazla uzunluğu (belirteç); daha uzun metin `sample` ile
SAMPLE_TOKENS_MAX = 100_000


@dataclass
class TrainConfig:
    """Every setting of a training run: train(TrainConfig(max_iters=30, n_layer=1)).

    The defaults are the `default` preset's (out_dir: "out"), so this trains what
    `nanograd-llm train max_iters=30 n_layer=1` does; make_config(preset, config_file,
    overrides={...}, **fields) layers a preset, a config file and key=value words as the
    command line does, and resume_config reads a saved run's settings. The values are checked
    at construction (validate): a bad one is a ValueError naming the field. The fields and
    what each does are listed in README.md's *Training* section (model: "gpt" or "bigram";
    the architecture as in GPTConfig; data and tokenizer; the AdamW and learning-rate
    schedule; evaluation, logging and checkpoints; device, dtype and precision).
    """

    # Alanların varsayılanları `default` hazır ayarınınkilerdir (out_dir dışında): Python'dan
    # TrainConfig(max_iters=30, …) ile kurulan bir ayar, `nanograd-llm train max_iters=30 …`
    # komutunun eğittiği modeli eğitir. Önceden burada nanoGPT'nin `baby` değerleri duruyordu
    # (4 katman, n_embd 128, toplu iş 12, lr 1e-3 …): aynı sözcüklerle kurulan iki ayar başka
    # iki model eğitiyordu. Hazır ayarlar bu varsayılanların üstüne yazılır (PRESETS)
    # model
    model: str = "gpt"
    n_layer: int = 3
    n_head: int = 4
    n_embd: int = 96
    block_size: int = 64
    dropout: float = 0.0
    bias: bool = True
    tie_weights: bool = True
    activation: str = "gelu"
    positional: str = "learned"
    # data
    data: str | None = None           # path, corpus name, or None = embedded corpus
    tokenizer: str = "char"
    vocab_size: int = 512             # only for tokenizer=bpe
    bpe_pattern: str = "gpt2"         # tokenizer=bpe: pre-tokenisation, gpt2 | turkish
                                      # (custom: an init_from folder's own pattern)
    val_fraction: float = 0.1
    # optimisation
    batch_size: int = 16
    grad_accum: int = 1
    max_iters: int = 1000
    lr: float = 2e-3
    min_lr: float = 2e-4
    warmup_iters: int = 50
    lr_decay_iters: int = 0           # 0: the cosine ends at max_iters (see decay_iters)
    beta1: float = 0.9
    beta2: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    # bookkeeping
    eval_interval: int = 200
    eval_iters: int = 10
    log_interval: int = 10
    seed: int = 1337
    dtype: str = "float32"
    device: str = "cpu"
    precision: str = "highest"        # "tf32": TensorFloat-32 matmuls on an NVIDIA GPU
    cuda_graph: bool = True           # GPU: replay forward+backward as a CUDA graph
    keep_best: bool = True            # also keep the lowest-val-loss weights in out_dir/best
    init_from: str | None = None      # a Hugging Face GPT-2 folder to fine-tune (its BPE too)
    out_dir: str = "out"
    sample_tokens: int = 300          # length of the sample printed at the end
    mmap_threshold: int = 1 << 24     # corpora with more characters are memory-mapped

    def __post_init__(self):
        # NumPy, dtype için takma adları da kabul eder (f4, single, float, double, <f8…). Bunlar
        # kanonik adla (float32/float64) saklanır: checkpoint.json'a yazılan ve devam ederken
        # karşılaştırılan değer, aynı tür için her zaman aynıdır
        self.dtype = canonical_dtype(self.dtype)
        # Python'dan verilen NumPy sayıları ve yollar (Path) düz türlere çevrilir:
        # checkpoint.json'a yazılabilsinler
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.generic):
                setattr(self, f.name, v.item())
            elif f.name in _PATH_FIELDS and isinstance(v, os.PathLike):
                setattr(self, f.name, os.fspath(v))
        self.validate()

    def _check_types(self) -> None:
        """Every field must hold a value of its type (as a config file's values must)."""
        # Python'dan TrainConfig(max_iters=1.5, bias="false", lr="1e-3") yazıldığında değerler
        # denetlenmeden kalıyordu: bias="false" doğru sayılır (boş olmayan dize), 1.5 adım
        # sessizce kabul edilir, "1e-3" ise aşağıdaki karşılaştırmalarda anlaşılmaz bir
        # TypeError verirdi. Türler config dosyalarındaki kurallarla aynıdır (_convert).
        for name, type_name in _field_types().items():
            v = getattr(self, name)
            nullable = "None" in type_name
            base = type_name.replace("| None", "").replace("None |", "").strip()
            if v is None and nullable:
                continue
            ok = {"bool": isinstance(v, bool),
                  "int": isinstance(v, int) and not isinstance(v, bool),
                  "float": isinstance(v, (int, float)) and not isinstance(v, bool),
                  "str": isinstance(v, str)}.get(base, True)
            if not ok:
                what = {"bool": "true or false", "int": "an integer", "float": "a number",
                        "str": "a string"}[base]
                raise ValueError(f"{name} must be {what}{' (or None)' if nullable else ''}, "
                                 f"got {shown(v)}")
            if base == "float":
                _as_float(name, v)          # TrainConfig(lr=10**400)

    def validate(self) -> None:
        """Raise a ValueError naming the setting for a bad value (a wrong type included)."""
        self._check_types()
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, got {shown(self.model)}"
                             f"{did_you_mean(self.model, MODELS)}")
        if self.init_from and self.model != "gpt":
            # model=bigram bir key=value sözcüğünden ya da ayar dosyasından da gelebilir (hazır
            # ayar default iken): "bigram'dan başka bir hazır ayar" öğüdü orada yol göstermez;
            # model=gpt her iki durumda da düzeltir
            raise ValueError(f"init_from fine-tunes a GPT-2 model; it cannot train "
                             f"model={self.model!r} (leave out --init-from, or give model=gpt, "
                             f"which every preset but bigram has)")
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {', '.join(TOKENIZERS)}, "
                             f"got {shown(self.tokenizer)}"
                             f"{did_you_mean(self.tokenizer, TOKENIZERS)}")
        if self.bpe_pattern not in (*BPE_PATTERNS, OWN_PATTERN):
            raise ValueError(f"bpe_pattern must be one of {', '.join(BPE_PATTERNS)}, "
                             f"got {shown(self.bpe_pattern)}"
                             f"{did_you_mean(self.bpe_pattern, BPE_PATTERNS)}")
        if self.bpe_pattern == OWN_PATTERN and not self.init_from:
            # "custom" bir ifadeyi adlandırmaz: yalnızca ince ayarın klasöründen gelen,
            # kendine özgü ifadeyi söyler. Sıfırdan eğitilen bir BPE ise adı olan ifadelerden
            # biriyle böler
            raise ValueError(f"bpe_pattern={OWN_PATTERN!r} stands for the pattern of its own "
                             f"that the tokenizer of an init_from folder splits with (a "
                             f"fine-tune records it so); a new tokenizer is trained with one "
                             f"of {', '.join(BPE_PATTERNS)}")
        for name in ("n_layer", "n_head", "n_embd", "block_size", "batch_size", "grad_accum",
                     "max_iters", "eval_interval", "eval_iters", "log_interval", "vocab_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {shown(getattr(self, name))}")
        for name in ("warmup_iters", "lr_decay_iters", "sample_tokens", "mmap_threshold",
                     "seed"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {shown(getattr(self, name))}")
        if self.sample_tokens > SAMPLE_TOKENS_MAX:
            # Önerilen komut yapıştırılınca çalışmalı: `sample` --ckpt (ya da --hf) olmadan
            # reddedilir; eğitimin klasörü bellidir
            out = shell_quote(self.out_dir)
            raise ValueError(f"sample_tokens must be <= {SAMPLE_TOKENS_MAX:,} (the sample printed "
                             f"at the end of training), got {shown(self.sample_tokens)}; for a "
                             f"longer text, once the run has trained, use `nanograd-llm sample "
                             f"--ckpt {out} --max-new-tokens N`{shell_note(self.out_dir)}")
        # Sayaçlar ve boyutlar 64 bitlik bir tam sayıya sığmalı: `max_iters=1e999` (ya da bir
        # ayar dosyasında binlerce basamak) tam olarak okunur, ama ilerleme çubuğu adım sayısını
        # float'a çevirirken derinlerden bir OverflowError ile çökerdi; dizi boyutları ve NumPy
        # sayaçları da int64'tür. Tohum (seed) hariç: NumPy'ın üreteci her tam sayıyı alır
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name != "seed" and is_integer(v) and v > INT_SETTING_MAX:
                raise ValueError(f"{f.name} must be <= {INT_SETTING_MAX:,} (2**63 - 1), "
                                 f"got {shown(v)}")
        for name in ("lr", "min_lr", "eps", "weight_decay", "grad_clip"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {shown(v)}")
        if self.min_lr > self.lr:
            # Kosinüs eğrisi öğrenme oranını lr'den min_lr'ye indirir: min_lr daha büyükse oran
            # ısınmadan sonra azalacağı yerde artardı (eskiden yalnızca bir uyarıydı, eğitim yine
            # yapılırdı).
            # Çoğu zaman yalnızca lr verilmiştir, min_lr hazır ayarınkidir: ileti bunu da söyler
            raise ValueError(f"min_lr={self.min_lr:g} is above lr={self.lr:g}: after the warm-up "
                             f"the learning rate decays from lr down to min_lr, so it would rise "
                             f"instead; give a min_lr <= lr too (usually a tenth of it, "
                             f"min_lr={self.lr / 10:g}): a min_lr not given is the preset's "
                             f"(or a resumed run's)")
        check_eps(self.eps)
        # AdamW ağırlıkları her adımda 1 − lr·weight_decay ile çarpar: çarpan 0'a inerse ağırlıklar
        # silinir, eksiye düşerse her adımda işaret değiştirir (lr·weight_decay > 2 ise büyüyerek).
        # Oranın tepesi lr'dir (min_lr onu aşamaz)
        if self.weight_decay * self.lr >= 1.0:
            raise ValueError(f"weight_decay={self.weight_decay:g} is too large: AdamW multiplies "
                             f"the weights by 1 - lr*weight_decay at each step, so "
                             f"lr*weight_decay must be < 1, but the learning rate reaches "
                             f"{self.lr:g} (lr*weight_decay = {self.weight_decay * self.lr:g}); "
                             f"use weight_decay < {1.0 / self.lr:g}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {shown(getattr(self, name))}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {shown(self.dropout)}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {shown(self.val_fraction)}")
        for name in _PATH_FIELDS:
            # Python'dan doğrudan kurulan bir TrainConfig için de (make_config'de _convert
            # denetler): NUL karakterli ya da bilinmeyen bir ~kullanıcı ile başlayan yol
            if getattr(self, name) is not None:
                _check_path(name, getattr(self, name))
        if not self.out_dir.strip():
            # Boş ad geçerli klasör demek olurdu: eğitim oraya yazmasın (--out "" gibi)
            raise ValueError("out_dir is empty: name the run's folder (out_dir=DIR or --out DIR)")
        if self.model == "gpt" and self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}")
        if self.model == "gpt":
            # Modelin kendi denetimleri (GPTConfig), sözlük boyu dışında (o belirteçleyiciden
            # gelir): activation="GELU" ya da positional="learnt" yoksa ancak model kurulurken,
            # çalışma klasörü açılıp derlem kodlandıktan sonra reddedilirdi
            from .models.gpt import GPTConfig
            GPTConfig(**{k: v for k, v in model_config(self, 1).items() if k != "model"})
        try:
            as_float_dtype(self.dtype)
        except ValueError:
            raise ValueError(f"dtype must be one of float32, float64, got {shown(self.dtype)}"
                             f"{did_you_mean(self.dtype, ('float32', 'float64'))}") from None
        # Parametrelerin türünde 0 olan eps (float32'de 1e-50): ilk adım NaN verirdi (optim.py)
        check_eps(self.eps, dtype=as_float_dtype(self.dtype),
                  hint=", or dtype=float64" if as_float_dtype(self.dtype) != np.float64 else "")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {shown(self.device)}"
                             f"{did_you_mean(self.device, ('cpu', 'cuda'))}")
        if self.precision not in MATMUL_PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(MATMUL_PRECISIONS)}, "
                             f"got {shown(self.precision)}"
                             f"{did_you_mean(self.precision, MATMUL_PRECISIONS)}")

    @property
    def decay_iters(self) -> int:
        """The step where the cosine reaches min_lr: lr_decay_iters, or max_iters when it is
        0 (so that max_iters=500 on a preset shortens the whole schedule, not just the run)."""
        return self.lr_decay_iters or self.max_iters

    def to_dict(self) -> dict:
        """The settings as a plain dict (a run's config.json keeps it under "train")."""
        return dataclasses.asdict(self)


def canonical_dtype(value):
    """'float32' or 'float64' for any spelling NumPy reads as one of them (f4, single, double,
    <f8, np.float32…); anything else is returned as it is, for validate to refuse."""
    try:
        return as_float_dtype(value).name
    except ValueError:
        return value


# -- presets -----------------------------------------------------------------------------------
PRESETS: dict[str, dict] = {
    # Gömülü Türkçe derlemde 2 işlemci çekirdeğinde yaklaşık 25–60 saniyede eğitilen küçük GPT
    "default": dict(model="gpt", n_layer=3, n_head=4, n_embd=96, block_size=64, batch_size=16,
                    dropout=0.0, max_iters=1000, lr=2e-3, min_lr=2e-4, warmup_iters=50,
                    beta2=0.99, eval_interval=200, eval_iters=10,
                    out_dir="out/default"),
    # Video dersindeki bigram: yalnızca bir önceki karaktere bakan tablo. Öğrenme oranı, tablonun
    # 0,02'lik başlangıçtan birkaç birimlik logitlere çıkabileceği kadar büyük.
    "bigram": dict(model="bigram", block_size=32, batch_size=32, max_iters=1500, lr=5e-2,
                   min_lr=5e-3, warmup_iters=0, beta2=0.99,
                   weight_decay=0.0, grad_clip=0.0, eval_interval=250, eval_iters=20,
                   out_dir="out/bigram"),
    # nanoGPT'nin CPU ayarı (README, "baby GPT")
    "baby": dict(model="gpt", n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12,
                 dropout=0.0, bias=False, max_iters=2000, lr=1e-3, min_lr=1e-4,
                 warmup_iters=100, beta1=0.9, beta2=0.99,
                 weight_decay=0.1, grad_clip=1.0, eval_interval=250, eval_iters=20,
                 out_dir="out/baby"),
    # nanoGPT config/train_shakespeare_char.py
    "shakespeare": dict(model="gpt", n_layer=6, n_head=6, n_embd=384, block_size=256,
                        batch_size=64, dropout=0.2, bias=False, max_iters=5000, lr=1e-3,
                        min_lr=1e-4, warmup_iters=100, beta1=0.9,
                        beta2=0.99, weight_decay=0.1, grad_clip=1.0, eval_interval=250,
                        eval_iters=200, out_dir="out/shakespeare"),
}


def _field_types() -> dict:
    hints = {}
    for f in fields(TrainConfig):
        t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        hints[f.name] = t
    return hints


def _convert(name: str, value, type_name: str):
    """Convert a config value (from a key=value word, TOML or JSON) to the field's type."""
    nullable = "None" in type_name
    base = type_name.replace("| None", "").replace("None |", "").strip()
    if isinstance(value, str):
        s = value.strip()
        if nullable and s.lower() in ("none", "null", ""):
            return None
        if base == "bool":
            if s.lower() in ("1", "true", "yes", "on"):
                return True
            if s.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"bad value for {name}: {shown(value)} is not a boolean (true/false)")
        if base == "int":
            return _int_from_text(name, s, shown(value))
        if base == "float":
            try:
                float(s)
            except ValueError:
                raise ValueError(f"bad value for {name}: {shown(value)} is not a number") from None
            return _float_from_text(name, s, shown(value))
        if name in _PATH_FIELDS:
            _check_path(name, value)
        return s
    if isinstance(value, np.generic):
        # Python'dan verilen NumPy sayıları (np.arange'den bir n_layer, np.bool_) TrainConfig'deki
        # gibi tuttukları düz değer sayılır: np.int64(10) "tam sayı değil" diye reddediliyordu
        value = value.item()
    if isinstance(value, (datetime.date, datetime.time)):
        # TOML tırnaksız 2024-01-01'i ya da 07:32:00'ı bir tarih/saat olarak okur: ileti Python'un
        # datetime.date(2024, 1, 1) yazımını değil, dosyada yazılanı ve tırnak öğüdünü verir
        what = {"bool": "true or false", "int": "an integer", "float": "a number"}.get(
            base, "a string")
        quote = " (put it in quotes to give it as a string)" if base == "str" else ""
        raise ValueError(f"bad value for {name}: {value.isoformat()} is a TOML date or time, "
                         f"not {what}{quote}")
    if value is None:
        if nullable:
            return None
        raise ValueError(f"bad value for {name}: null is not allowed")
    if base == "bool":
        if isinstance(value, bool):
            return value
        raise ValueError(f"bad value for {name}: {shown(value)} is not a boolean")
    if isinstance(value, _WrittenFloat) and base in ("int", "float"):
        # Ayar dosyasındaki bir ondalık sayı, dosyada yazıldığı metinden çevrilir
        # (_parse_float): max_iters = 1e3 tam olarak 1000'dir
        return (_int_from_text if base == "int" else _float_from_text)(
            name, value.text, shown(value.text, plain=True))
    if base == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"bad value for {name}: {shown(value)} is not an integer")
        return int(value)
    if base == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"bad value for {name}: {shown(value)} is not a number")
        return _as_float(name, value)
    if name in _PATH_FIELDS and isinstance(value, os.PathLike) and \
            isinstance(os.fspath(value), str):
        # Python'dan (ör. bir not defterinde) verilen bir Path, TrainConfig'deki gibi dize
        # olarak saklanır: checkpoint.json'a yazılır, --resume da dizelerle karşılaştırır
        _check_path(name, os.fspath(value))
        return os.fspath(value)
    # Her dize yukarıdaki ilk dalda döndü: buraya dize olmayan bir değer gelir
    raise ValueError(f"bad value for {name}: {shown(value)} is not a string")


def _check_path(name: str, value: str) -> None:
    """A ValueError naming the path setting `name` and its value when no file can have that
    path (atomic.path_fault)."""
    # Ayarlar birleştirilirken denetlenir: ince ayarın GPT-2 klasörü TrainConfig kurulmadan
    # önce okunur (_with_the_folders_model), "Could not determine home directory." ya da
    # "embedded null byte" hangi ayardan geldiğini söylemezdi
    fault = path_fault(value)
    if fault:
        raise ValueError(f"bad value for {name}: {shown(value)} {fault}")


def _as_float(name: str, value) -> float:
    """float(value), with a ValueError naming the setting for an integer no float can hold."""
    # JSON ve TOML sınırsız tam sayı okur: `lr = 1000…0` (400 basamak) float'a çevrilirken
    # OverflowError verirdi; komut satırı bunu tanımaz, hata izi basılırdı
    try:
        return float(value)
    except OverflowError:
        raise _beyond_a_float(name, shown(value), value < 0, False) from None


def _beyond_a_float(name: str, given: str, negative: bool, tiny: bool) -> ValueError:
    """The error for a number no float holds: `given` as the user wrote it, below about
    -1.8e308 (negative), above about 1.8e308, or nearer to 0 than about 5e-324 (tiny)."""
    # −10**400 "çok büyük" değil, bir float'un tutabileceği en küçük sayının altındadır
    if tiny:
        return ValueError(f"bad value for {name}: {given} is too close to 0 for a number: a "
                          f"float would hold it as 0 (the nearest to 0 it holds is about "
                          f"5e-324)")
    if negative:
        return ValueError(f"bad value for {name}: {given} is below the lowest number a float "
                          f"holds (about -1.8e308)")
    return ValueError(f"bad value for {name}: {given} is too large for a number (a float "
                      f"holds at most about 1.8e308)")


def _float_from_text(name: str, text: str, given: str) -> float:
    """The float the text `text` writes ('3e-4', '1_000.5', 'inf'), with a ValueError naming
    the setting and `given` (what the user wrote) for a number written there that no float
    holds: one float() reads as inf ('1e999') or as 0 ('1e-999')."""
    # float("1e999") hata vermeden inf, float("1e-999") 0.0 döndürür: lr=1e999 eskiden
    # "lr must be a finite number >= 0, got inf", eps=1e-999 "eps must be > 0, got 0.0"
    # diye reddedilirdi, kullanıcının yazdığı değer söylenmeden. Metnin kendisi (Decimal ile
    # tam olarak) sonlu ve sıfırdan farklı bir sayıysa hata onu yazar; "inf" yazan kullanıcı
    # ise validate'in iletisini alır
    f = float(text)
    if math.isfinite(f) and f != 0.0:
        return f
    try:
        exact = Decimal(text)
    except InvalidOperation:
        return f
    if exact.is_finite() and exact != 0:
        raise _beyond_a_float(name, given, exact < 0, f == 0.0)
    return f


def _int_from_text(name: str, text: str, given: str) -> int:
    """The integer the text `text` writes ('12', '1e3', '2.0E5', '1_000'), with a ValueError
    naming the setting and `given` (what the user wrote) otherwise."""
    # Üslü yazım (1e3) float üzerinden değil, Decimal ile tam olarak çevrilir: float
    # 2**53'ün üstünü yuvarlardı (seed=1.2345678901234567891e19 başka bir tohum olurdu) ve
    # 1.8e308'in üstünü inf yapardı (max_iters=1e999 "tam sayı değil" diye reddedilirdi).
    # Basamak sayısının sınırı Python'unkidir (4300): daha uzun bir tam sayı ne
    # checkpoint.json'a yazılabilir ne de bir ayar dosyasından okunabilir
    try:
        return int(text)
    except ValueError:
        pass
    try:
        f = float(text)             # Python'un sayı yazımı: Decimal 1__000'i, 1000_'i de okur
    except ValueError:
        raise ValueError(f"bad value for {name}: {given} is not an integer") from None
    try:
        exact = Decimal(text.strip())
        digits = exact.adjusted() + 1 if exact.is_finite() else 0
    except InvalidOperation:
        # Decimal'ın da üs sınırını (10**18) aşan bir yazım (1e99999999999999999999)
        exact, digits = None, math.inf if math.isinf(f) else 0
    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)() or 4300
    if digits > limit:
        raise ValueError(f"bad value for {name}: {given} has more digits than an integer "
                         f"setting can have ({limit:,})")
    if exact is None or not exact.is_finite() or exact != exact.to_integral_value():
        raise ValueError(f"bad value for {name}: {given} is not an integer")
    return int(exact)


class _WrittenFloat(float):
    """A float read from a config file, with the text it is written as there (.text)."""
    __slots__ = ("text",)


def _parse_float(text: str) -> float:
    """A config file's float (json/tomllib's parse_float): a _WrittenFloat of `text`."""
    # JSON ve TOML 1e999'u hata vermeden inf, 1e-999'u 0.0 okur: dosyada yazılan metin
    # saklanır, ayar çevrilirken (_convert) hata onu yazsın
    value = _WrittenFloat(text)
    value.text = text
    return value


class FileSettings(NamedTuple):
    """The settings a config file gave: its path, as its errors name it, and the keys whose
    value is the file's (not given again as key=value or by an argument)."""
    path: str
    keys: frozenset


def _in_config_file(error: Exception, path: str) -> Exception:
    """`error` with its message led by 'config file PATH: ', unless it names the file already
    (the error itself, changed in place; returned for `raise`)."""
    # Yerinde değiştirilir: hatanın türü kalır. Errno'lu bir OSError'ın iletisi args'tan
    # gelmez (ör. "[Errno 13] Permission denied: 'yol'"): o, yolu zaten söyler ve olduğu
    # gibi kalır. apply_overrides'ın iletileri dosyayı "… in PATH" diye adlandırır
    message = str(error)
    if f" in {path}" in message or (isinstance(error, OSError) and error.errno is not None):
        return error
    error.args = (f"config file {path}: {message}",)
    return error


def apply_overrides(base: dict, overrides: dict, source: str = "override") -> dict:
    """Type-checked merge of overrides into a config dict; unknown keys are errors."""
    types = _field_types()
    out = dict(base)
    for k, v in overrides.items():
        if k == "preset" or (k not in types
                             and closest_names(k, [*types, "preset"]) == ["preset"]):
            # Hazır ayar bir alan değil, ayarların başlangıç noktasıdır: `--preset` ile seçilir.
            # "did you mean precision?" demek kullanıcıyı yanlış yere gönderirdi; Preset=, presets=
            # gibi ona en yakın yazılışlar da aynı yanıtı alır
            name = v if isinstance(v, str) and v in PRESETS else "NAME"
            raise ValueError(f"{shown(k)} in {source} is not a config key: choose the preset with "
                             f"--preset {name} on the command line (one of "
                             f"{', '.join(PRESETS)}; in Python, make_config's preset argument); "
                             f"a config file and key=value words then change its fields")
        if k not in types:
            raise ValueError(f"unknown config key {shown(k)} in {source}"
                             f"{did_you_mean(k, types)}; known keys: "
                             f"{', '.join(types)}")
        out[k] = _convert(k, v, types[k])
    return out


def parse_overrides(words) -> dict:
    """['max_iters=100', 'dropout=0.1'] -> {'max_iters': '100', 'dropout': '0.1'}; a key
    given twice is an error."""
    out, given = {}, {}
    for w in words or []:
        if "=" not in w:
            raise ValueError(f"expected key=value, got {shown(w)}")
        k, v = w.split("=", 1)
        k = k.strip().lstrip("-").replace("-", "_")
        if not k:
            raise ValueError(f"expected key=value, got {shown(w)}")
        if k in given:
            # Aynı komut satırında iki kez verilen bir ayarın sonuncusu sessizce kazanırdı
            # (ör. uzun bir komutun başında lr=1e-3, sonunda lr=3e-4): hangisinin istendiği
            # bilinemez. Ayar dosyasındaki ya da hazır ayardaki değeri değiştirmek ise olağandır.
            raise ValueError(f"{shown(k, plain=True)} is set twice on the command line "
                             f"({shown(given[k])} and {shown(w)}); give it once")
        out[k], given[k] = v, w
    return out


def read_config_file(path) -> dict:
    """A flat table of config keys from a .toml or .json file."""
    fault = path_fault(os.fspath(path))
    if fault:
        raise ValueError(f"config file {shown(os.fspath(path))} {fault}")
    p = Path(path).expanduser()
    if p.is_dir():
        raise ValueError(f"config file {p} is a folder; expected a .toml or .json file")
    if not p.exists():
        raise FileNotFoundError(f"config file not found: {p}")
    if not p.is_file():
        # Bir boru ya da aygıt (ör. kabuğun <(...) ile verdiği /dev/fd/63): dosya vardır,
        # "bulunamadı" demek yanıltırdı; biçimi de adının uzantısından anlaşılamaz
        raise ValueError(f"config file {p} is not a regular file (a pipe or a device, as "
                         f"<(...) gives); save the settings in a .toml or .json file and pass "
                         f"its path")
    # Uzantı büyük harfle de yazılabilir (Windows'ta ve macOS'ta "Ayarlar.TOML" aynı dosyadır):
    # "must end in .toml or .json" .TOML ile biten bir dosyaya yanlış olurdu
    suffix = p.suffix.lower()
    if suffix == ".toml":
        try:
            import tomllib
        except ImportError:                         # Python 3.10: the same parser, from PyPI
            try:
                import tomli as tomllib
            except ImportError:
                raise ValueError("reading a .toml config on Python 3.10 needs the tomli "
                                 "package (pip install tomli), or use a .json config") from None
        parse = functools.partial(tomllib.loads, parse_float=_parse_float)
    elif suffix == ".json":
        parse = _parse_json_refusing_repeated_keys
    else:
        raise ValueError(f"config file {p} must end in .toml or .json")
    try:
        # utf-8-sig: baştaki BOM (ör. Windows Not Defteri'nin eklediği) veri dosyalarındaki gibi
        # atılır
        data = parse(p.read_text(encoding="utf-8-sig"))
    except RecursionError:
        # Binlerce iç içe liste ya da tablo, ayrıştırıcının özyineleme sınırını aşar: Python'un
        # "maximum recursion depth exceeded" iletisi hangi dosyanın bozuk olduğunu söylemezdi
        raise ValueError(f"cannot parse config file {p}: its values are nested too deeply "
                         f"(a config file is a flat table of key = value pairs)") from None
    except ValueError as e:
        # Sözdizimi hataları (JSONDecodeError, TOMLDecodeError), UTF-8 olmayan baytlar ve
        # Python'un basamak sınırını (4300) aşan bir tam sayı hep ValueError verir; ileti
        # dosyayı adlandırır. Python'un "sys.set_int_max_str_digits() ile sınırı yükseltin"
        # öğüdü atılır: komut satırı kullanıcısı onu uygulayamaz
        why = str(e).split("; use sys.set_int_max_str_digits()")[0]
        raise ValueError(f"cannot parse config file {p}: {why}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config file {p} must hold a table of key = value pairs")
    for k, v in data.items():
        if isinstance(v, (dict, list)):
            raise ValueError(f"config file {p}: {shown(k)} must be a single value, not a "
                             f"table/list")
    return data


def _object_without_repeated_keys(pairs: list) -> dict:
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"{shown(k)} is given twice ({shown(out[k])} and {shown(v)}); "
                             f"give it once")
        out[k] = v
    return out


def _parse_json_refusing_repeated_keys(text: str):
    # JSON bir anahtarın iki kez yazılmasını yasaklamaz; json.loads sessizce sonuncuyu alırdı
    # (TOML ise bunu sözdizimi hatası sayar). Uzun bir ayar dosyasında hangi değerin
    # istendiği bilinemez: komut satırındaki gibi reddedilir.
    return json.loads(text, object_pairs_hook=_object_without_repeated_keys,
                      parse_float=_parse_float)


def make_config(preset: str | None = "default", config_file=None, overrides=None,
                saved: dict | None = None, **kwargs) -> TrainConfig:
    """preset <- a resumed run's saved settings (`saved`) <- config file <- key=value overrides
    <- explicit keyword arguments. A new fine-tune (init_from, no `saved`) takes the GPT-2
    folder's architecture and tokenizer settings, and refuses a model setting given with a
    value other than the folder's."""
    return _built(preset, config_file, overrides, saved, kwargs)


def _built(preset, config_file, overrides, saved, kwargs, saved_for_file=None) -> TrainConfig:
    """make_config's work; `saved_for_file`: a resumed run's own values of the settings given
    again, which stand in for the config file's when its part in an error is weighed."""
    d, given, origin = _layered(preset, config_file, overrides, saved, kwargs)

    def checked(d: dict, given: set) -> TrainConfig:
        if saved is None and d["init_from"] and d["model"] == "gpt":
            d = _with_the_folders_model(d, given)
        if saved is not None:
            _check_resumed_eps(d)
        return TrainConfig(**d)

    try:
        cfg = checked(d, given)
    except (ValueError, OSError) as e:
        # Ayarlar bir bütün olarak denetlenir (min_lr > lr, n_embd % n_head, GPTConfig, ince
        # ayarın klasörü): hata, dosyanın değerleri olmadan da aynıysa dosyanın değildir
        # (komut satırının ya da hazır ayarın değerleri onu tek başına verir), iletisi de
        # olduğu gibi kalır. Yoksa dosya da hatanın bir parçasıdır: ileti dosyayı adlandırır;
        # birkaç ayar dosyası olan bir kullanıcı hangisinin yanlış olduğunu bilsin
        if origin is not None and origin.keys:
            base = None if saved is None else {
                **saved, **{k: v for k, v in (saved_for_file or {}).items()
                            if k in origin.keys}}
            d0, given0, _ = _layered(preset, None, overrides, base, kwargs)
            try:
                checked(d0, given0)
            except Exception as e0:              # noqa: BLE001 (compared by message only)
                if str(e0) == str(e):
                    raise
            raise _in_config_file(e, origin.path)
        raise
    _note_out_dir_given_as(cfg, _out_dir_source(overrides, kwargs, origin))
    cfg._init_from_given_as = (cfg.init_from, _source("init_from", overrides, kwargs, origin))
    _note_settings_from_file(cfg, origin)
    return cfg


def _note_settings_from_file(cfg: TrainConfig, origin: FileSettings | None) -> None:
    # _note_out_dir_given_as gibi bir not: train()'in ayarlar okunduktan sonra bulduğu bir hata
    # (derlem block_size için kısa, devam ettirilen eğitimin ayarı başka) adını verdiği ayarın
    # ayar dosyasından geldiğini söyleyebilsin. Değerler de saklanır: sonradan elle başka bir
    # değer atanmış ayar (cfg.block_size = 32) dosyanınki sayılmaz. dataclasses.replace ile
    # kurulan bir kopya ise notu hiç taşımaz: onun hiçbir ayarı dosyanınki sayılmaz
    if origin is not None:
        cfg._from_file = (origin.path, {k: getattr(cfg, k) for k in origin.keys
                                        if hasattr(cfg, k)})


def settings_from_file(cfg: TrainConfig) -> dict:
    """{setting: the config file's path} for cfg's settings whose value is the one that
    make_config or resume_config took from their config file (not given again as key=value or
    by an argument); {} for a cfg built without a file."""
    path, values = getattr(cfg, "_from_file", (None, {}))
    return {k: path for k, v in values.items() if getattr(cfg, k, None) == v}


def in_config_file(from_file: dict, cfg: TrainConfig, keys) -> str:
    """'block_size=4096 in config file a.toml' for those of `keys` that `from_file`
    (settings_from_file's) says came from the file; '' when none did."""
    named = [k for k in keys if k in from_file]
    if not named:
        return ""
    return (" and ".join(f"{k}={shown(getattr(cfg, k))}" for k in named)
            + f" in config file {from_file[named[0]]}")


def _out_dir_source(overrides, kwargs, origin: FileSettings | None) -> str | None:
    """How out_dir was given, for the run folder's messages on the command line
    (run_folder.command_line_words): None for an argument (--out, make_config's out_dir=) or
    the preset's folder, "out_dir=" for a key=value word, or the path of the config file
    whose out_dir stands."""
    return _source("out_dir", overrides, kwargs, origin)


def _source(name: str, overrides, kwargs, origin: FileSettings | None) -> str | None:
    """How the setting `name` was given: None for an argument (an option such as --out or
    --init-from, make_config's keyword) or not at all, "name=" for a key=value word, or the
    path of the config file whose value stands."""
    if kwargs.get(name) is not None:
        return None
    if name in (overrides or {}):
        return f"{name}="
    return origin.path if origin is not None and name in origin.keys else None


def _note_out_dir_given_as(cfg: TrainConfig, given_as: str | None) -> None:
    # Bir alan değil, nesneye eklenen bir not: to_dict()'e (kaydedilen ayarlara) girmez;
    # dataclasses.replace ile kurulan bir kopya onu taşımaz, o zaman "--out" denir
    cfg._out_dir_given_as = (cfg.out_dir, given_as)


def out_dir_given_as(cfg: TrainConfig) -> str | None:
    """How the command line gave cfg.out_dir (see _out_dir_source), where make_config or
    resume_config built cfg and its out_dir is still the one they set; else None (--out)."""
    value, given_as = getattr(cfg, "_out_dir_given_as", (None, None))
    return given_as if value == cfg.out_dir else None


def init_from_given_as(cfg: TrainConfig) -> str | None:
    """How the command line gave cfg.init_from (see _source): "init_from=" for a key=value
    word, the config file's path, or None (--init-from, or an argument), where make_config
    built cfg and its init_from is still the one it set."""
    # out_dir'inki gibi bir not: `init_from=DIR` diye vermiş birine "--init-from olmadan" demek,
    # yazmadığı bir seçeneği söylerdi
    value, given_as = getattr(cfg, "_init_from_given_as", (None, None))
    return given_as if value is not None and value == cfg.init_from else None


def _check_resumed_eps(d: dict) -> None:
    """A resumed run's eps that is 0 in its dtype, refused without TrainConfig.validate's
    ', or dtype=float64': a resumed run keeps its dtype (train refuses another one)."""
    # validate, float32'de 0 olan bir eps için "daha büyük bir eps, ya da dtype=float64" der;
    # devam ettirilen bir eğitimde dtype değişemez (train "trained with dtype='float32', now
    # dtype='float64'" diye reddeder): öğüt yalnızca eps'i söyler. Türü ya da değeri bozuk
    # olanlar burada atlanır, validate kendi iletisiyle reddeder
    try:
        eps, dtype = d.get("eps"), as_float_dtype(d.get("dtype"))
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or \
                not math.isfinite(eps) or eps <= 0:
            return
    except (TypeError, ValueError):
        return
    check_eps(eps, dtype=dtype)


# İnce ayarda GPT-2 klasörünün belirlediği ayarlar (block_size ise klasördekinden kısa olabilir,
# dropout eğitimindir)
FOLDER_FIXED = ("n_layer", "n_head", "n_embd", "bias", "tie_weights", "activation",
                "positional", "tokenizer")
# ... ve klasörün belirteçleyicisinin belirledikleri (config.json'da değil, sözlük dosyalarında)
FOLDER_TOKENIZER = ("vocab_size", "bpe_pattern")


def pattern_name(pattern: str) -> str | None:
    """The bpe_pattern name of a tokenizer's pre-tokenisation regex ('gpt2', 'turkish'), or
    None for a pattern of its own."""
    from .tokenizers.bpe import PATTERNS
    return next((k for k, v in PATTERNS.items() if v == pattern), None)


def tokenizer_name(tok) -> str:
    """The `tokenizer` setting of a tokenizer: 'char' for a CharTokenizer, else 'bpe'."""
    from .tokenizers import CharTokenizer
    return "char" if isinstance(tok, CharTokenizer) else "bpe"


def tokenizer_settings(tok) -> tuple[dict, tuple]:
    """The tokenizer settings a fine-tune's tokenizer fixes, and their keys: `tokenizer`,
    `vocab_size` and (byte-level BPE only) `bpe_pattern`, OWN_PATTERN for a pattern of its
    own."""
    # Bu paketin kaydettiği bir karakter belirteçleyicisi de klasörde olabilir
    # (model.save_hf + CharTokenizer.save; load_hf_tokenizer onu okur): ayar onu söyler.
    # bpe_pattern ise, sıfırdan bir karakter eğitiminde olduğu gibi, onda uygulanmaz
    kind = tokenizer_name(tok)
    real = {"tokenizer": kind, "vocab_size": tok.vocab_size}
    if kind == "bpe":
        real["bpe_pattern"] = pattern_name(getattr(tok, "pattern", None)) or OWN_PATTERN
    return real, tuple(real)


def _with_the_folders_model(d: dict, given: set) -> dict:
    """d with the architecture of the GPT-2 folder in d["init_from"]; a setting in `given`
    (from a config file, key=value or an argument) with another value is refused."""
    # İnce ayar, kaydedilmiş modelin mimarisini değiştiremez: verilen n_layer=6 eskiden bir
    # günlük satırıyla yok sayılıyordu (--quiet ile hiçbir şey söylenmiyordu) ve eğitim
    # klasördeki modelle sürüyordu. --resume'un farklı bir modeli reddettiği gibi, klasördeki
    # değerden farklı bir ayar reddedilir; aynı değer kabul edilir. Hazır ayarın (preset)
    # değerleri verilmiş sayılmaz: onların yerine klasörünküler geçer. Böylece make_config'in
    # döndürdüğü ayarlar, train()'in kaydedeceği gibi, ince ayarın gerçek modelini ve
    # belirteçleyicisini söyler (eskiden hiçbir ayar verilmediğinde hazır ayarın n_layer=3,
    # tokenizer='char', vocab_size=512 değerleri dönerdi). Devam ettirme (saved) klasörü hiç
    # okumaz, klasör taşınmış olabilir.
    from .hf import config_from_hf, load_hf_tokenizer, read_hf_config
    folder = Path(str(d["init_from"])).expanduser()
    if not given & {*FOLDER_FIXED, *FOLDER_TOKENIZER} and not folder.exists():
        # Karşılaştırılacak bir ayar yok: olmayan klasörü train() adıyla bildirir (ayarlar
        # klasör indirilmeden önce de kurulabilsin)
        return d
    model = dataclasses.asdict(config_from_hf(read_hf_config(folder),
                                              source=str(folder / "config.json")))
    keys = tuple(k for k in FOLDER_FIXED if k != "tokenizer")
    # Belirteçleyicinin türü, sözlük boyu ve bölme ifadesi klasörün belirteçleyicisinindir:
    # verilen vocab_size=4096 ya da bpe_pattern=turkish eskiden sessizce yok sayılırdı
    real, tok_keys = tokenizer_settings(load_hf_tokenizer(folder))
    model.update(real)
    keys += tok_keys
    differ = [k for k in keys if k in given and d[k] != model[k]]
    if differ:
        raise ValueError(f"init_from {folder}: its model has {_held(model, differ)}, the "
                         f"config asks for " + ", ".join(f"{k}={d[k]!r}" for k in differ)
                         + "; a fine-tune keeps the pretrained model's architecture and "
                           "tokenizer " + _keep_advice(differ, "the folder's"))
    return {**d, **{k: model[k] for k in keys}}


def _held(real: dict, keys: list) -> str:
    """The values in `real` of the settings `keys`, as a fine-tune's refusal names them."""
    # "custom" ne olduğunu kendisi söylemez: yanında açıklanır
    return ", ".join(f"{k}={real[k]!r}" + (f" (a pattern of its own, neither "
                                           f"{' nor '.join(BPE_PATTERNS)})"
                                           if k == "bpe_pattern" and real[k] == OWN_PATTERN
                                           else "")
                     for k in keys)


def _keep_advice(keys: list, whose: str) -> str:
    """'(leave it out, or give the folder's value)'."""
    it = "it" if len(keys) == 1 else "them"
    return f"(leave {it} out, or give {whose} {'value' if len(keys) == 1 else 'values'})"


def _layered(preset, config_file, overrides, saved, kwargs) \
        -> tuple[dict, set, FileSettings | None]:
    """The merged settings (unchecked as a whole), the keys given by config file, overrides
    or keyword arguments, and the config file's settings that stand (None: no file)."""
    if preset is None:
        preset = "default"
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {shown(preset)}: expected one of {', '.join(PRESETS)}"
                         f"{did_you_mean(preset, PRESETS)}")
    d = TrainConfig().to_dict()
    d = apply_overrides(d, PRESETS[preset], f"preset {preset!r}")
    if saved:
        known = _field_types()
        d = apply_overrides(d, {k: v for k, v in saved.items() if k in known},
                            "the checkpoint's saved settings")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    given = set(overrides or {}) | set(kwargs)
    origin = None
    if config_file is not None:
        from_file = read_config_file(config_file)
        path = str(Path(config_file).expanduser())     # as read_config_file's errors name it
        # Dosyanın değeri, ardından key=value ya da bir seçenekle yeniden verilmemişse geçerlidir
        origin = FileSettings(path, frozenset(from_file) - given)
        given |= set(from_file)
        try:
            d = apply_overrides(d, from_file, path)
        except ValueError as e:
            raise _in_config_file(e, path) from None
    if overrides:
        d = apply_overrides(d, overrides, "the command line")
    if kwargs:
        d = apply_overrides(d, kwargs, "the arguments")
    return d, given, origin


def resume_config(preset=None, config_file=None, overrides=None, **kwargs) -> TrainConfig:
    """The config of a resumed run: the settings saved in its checkpoint (found through
    --out, or the preset's folder), changed only by what is given again (e.g. max_iters)."""
    d, given, origin = _layered(preset, config_file, overrides, None, kwargs)
    given_as = _out_dir_source(overrides, kwargs, origin)
    # Bu ilk ayarlar yalnızca --out klasörünü bulmak içindir: hazır ayarın kendisi ve verilen
    # out_dir. Verilen öteki ayarlar aşağıda eğitimin kaydedilen ayarlarıyla birlikte
    # denetlenir, hazır ayarınkilerle değil: yeniden verilen n_head=7 (eğitimin kendi değeri,
    # n_embd=14 ile) hazır ayarın n_embd=96'sıyla, lr=1e-3 ile eğitilmiş bir çalışmaya yeniden
    # verilen weight_decay=500 hazır ayarın lr=2e-3'üyle, --preset bigram ile yeniden verilen
    # init_from (bir ince ayarın kendi klasörü) bigram modeliyle reddediliyordu. GPT-2 klasörü
    # de okunmaz (taşınmış olabilir).
    first = TrainConfig(**{**_layered(preset, None, None, None, {})[0],
                           "out_dir": d["out_dir"]})
    out = Path(first.out_dir).expanduser()
    refuse_a_dangling_run_folder(out, given_as)
    if not out.exists():
        raise nothing_to_resume(out)
    # Başka bir sürecin eğittiği klasör her öğütten önce söylenir (prepare_run_folder'daki
    # gibi): ilk denetim noktasını henüz yazmamış bir eğitimin klasörüne aşağıdaki denetim
    # "ilk kaydından önce durmuş, --overwrite ile yeniden başlatın" derdi, o komut da kilit
    # yüzünden reddedilirdi
    if out.is_dir():
        check_not_locked(out, given_as)
    # İlk denetim noktasından önce öldürülen bir eğitimin klasörü: bildirim okunmadan
    # (okuma "önce `train --out` ile eğitin" derdi) run_folder'ın --overwrite öğüdü verilir
    refuse_resuming_unsaved_run(out)
    man = ckpt.read_manifest(out)
    saved = man.get("train_config") or {}
    saved = {k: v for k, v in saved.items() if k != "out_dir"}
    man_path = ckpt.find_run_dir(out) / ckpt.MANIFEST
    if saved.get("init_from") and isinstance(man.get("model"), dict):
        # İnce ayarın modeli GPT-2 klasöründen geldi: eski sürümlerin kaydettiği ayarlar,
        # başlarken model ayarı verilmemişse hazır ayarın n_layer=3'ünü tutabilir (bugünkü sürüm
        # modelinkileri yazar). Yeniden verilen bir model ayarı bu
        # yüzden denetim noktasının modeliyle (gerçek mimariyle) karşılaştırılır; kaydedilen
        # değerlerin yerine de onunkiler geçer (sonraki kayıt gerçeği yazsın).
        saved = {**saved, **_the_fine_tunes_model(man["model"], d, given, out, saved,
                                                  origin)}
    if "init_from" in given and not _same_folder(d["init_from"], saved.get("init_from")):
        # init_from yeni bir eğitimi GPT-2 ağırlıklarıyla başlatır, devam ettirilen eğitim ise
        # kendi ağırlıklarıyla sürer. Bu yüzden --init-from'daki gibi, key=value ya da ayar
        # dosyasıyla verilen başka bir init_from da reddedilir; sessizce yok sayılmaz. Eğitimin
        # kendi init_from'u (ör. eğitimi başlatan ayar dosyası yeniden verildiğinde) geçerlidir.
        # Ayar dosyasından geldiyse ileti dosyayı adlandırır: kullanıcı neyi sileceğini bilsin
        why = "init_from starts a new run from a GPT-2 folder; "
        if origin is not None and "init_from" in origin.keys:
            why = (f"init_from={shown(d['init_from'])} in config file {origin.path} starts a new "
                   f"run from a GPT-2 folder; ")
        raise with_command_line_message(
            ValueError(why + "a resumed run continues the one in out_dir with its own weights "
                             "(give one or the other)"),
            why + "--resume continues the run in --out with its own weights (use one or the "
                  "other)")
    if not saved.get("lr_decay_iters") and "lr_decay_iters" not in given \
            and "max_iters" in saved:
        # Kosinüs, eğitimin ilk max_iters değerinde biter: max_iters büyütülerek sürdürülen bir
        # eğitimde öğrenme oranı geri sıçramaz, min_lr'de devam eder. Kaydedilen max_iters
        # bozuksa hata lr_decay_iters'ı değil, onu ve dosyayı söyler.
        try:
            saved_max = _convert("max_iters", saved["max_iters"], "int")
            if saved_max < 1:
                raise ValueError(f"max_iters must be >= 1, got {shown(saved_max)}")
        except ValueError as e:
            # Yalnızca lr_decay_iters=N vermek, max_iters verilmemişse yetmez: kaydedilen bozuk
            # max_iters bu kez eğitimin kendisi için okunur ve reddedilir ("give the setting
            # again"). Öğüt, komutu bir denemede düzelten ayarları söyler
            give = "lr_decay_iters=N" if "max_iters" in given else \
                "max_iters=N and lr_decay_iters=N"
            raise ValueError(f"{man_path}: the run's saved train_config is invalid: {e} (the "
                             f"resumed learning-rate schedule ends at the saved max_iters; "
                             f"correct it there, or give {give})") from None
        saved["lr_decay_iters"] = saved_max
    # Yeniden verilen ayarların kaydedilmiş değeri kullanılmaz (bozuk olsa da)
    types = _field_types()
    own = {k: v for k, v in saved.items() if k in given and k in types and _converts(k, v)}
    saved = {k: v for k, v in saved.items() if k not in given}
    try:
        cfg = _built(preset, config_file, overrides, saved, {**kwargs, "out_dir": first.out_dir},
                     saved_for_file=own)
    except ValueError as e:
        # Yalnızca kaydedilmiş ayarlar da aynı hatayı veriyorsa hata onlardadır (elle
        # düzenlenmiş checkpoint.json): dosya adıyla söylenir. Yeniden verilen ayarların
        # yerinde eğitimin kendi (türü tutan) değerleri durur, hazır ayarınkiler değil:
        # n_embd=14, n_head=7 ile eğitilmiş bir eğitime verilen n_head=4, hazır ayarın
        # n_head=4'üyle aynı hatayı verir ve hata dosyaya yüklenirdi
        try:
            make_config(preset, saved={**saved, **own})
        except ValueError as e_saved:
            if str(e_saved) == str(e):
                raise ValueError(f"{man_path}: the run's saved train_config is invalid: {e} "
                                 f"(correct it there, or give the setting again as "
                                 f"key=value)") from None
        raise
    _note_out_dir_given_as(cfg, given_as)
    return cfg


def _converts(name: str, value) -> bool:
    """Whether a saved value converts to its field's type (see _convert)."""
    try:
        _convert(name, value, _field_types()[name])
    except ValueError:
        return False
    return True


def _the_fine_tunes_model(model: dict, asked: dict, given: set, out,
                          recorded: dict | None = None,
                          origin: FileSettings | None = None) -> dict:
    """The FOLDER_FIXED settings of a fine-tune's checkpoint (`model`: its manifest's model
    config), with FOLDER_TOKENIZER's from the run's tokenizer when one of them is given; a
    setting in `given` whose value in `asked` differs is refused (for a tokenizer's pattern
    of its own, also the value an older version saved, in `recorded`, is accepted), naming the
    config file (`origin`) of those it gave. {} for a model config the loader will refuse (it
    names the fault)."""
    from .models.gpt import GPTConfig
    recorded = recorded or {}
    try:
        real = GPTConfig(**{k: v for k, v in model.items()
                            if k in {f.name for f in fields(GPTConfig)}})
    except (TypeError, ValueError):
        return {}
    keys = tuple(k for k in FOLDER_FIXED if k != "tokenizer")
    real = {k: getattr(real, k) for k in keys}
    if given & {"tokenizer", *FOLDER_TOKENIZER}:
        # Belirteçleyicinin türü, sözlük boyu ve bölme ifadesi eğitimin kendi
        # belirteçleyicisinden (klasörde kayıtlı) okunur: kaydedilen ayarlar eski bir sürümün
        # yazdığı değerleri tutabilir (bir karakter belirteçleyicisi için tokenizer='bpe')
        tok_real, tok_keys = tokenizer_settings(ckpt.load_run_tokenizer(out))
        real.update(tok_real)
        keys += tok_keys
    # Eski sürümler, kendine özgü bir ifadeyle bölen bir belirteçleyiciyle başlamış ince ayara
    # hazır ayarın bpe_pattern'ini (gpt2) kaydederdi: böyle bir klasörün checkpoint.json'ında
    # görülen bu değer yeniden verildiğinde de kabul edilir, eğitim yine kendi
    # belirteçleyicisiyle sürer (sonraki kayıt "custom" yazar)
    differ = [k for k in keys if k in given and asked[k] != real[k]
              and not (real[k] == OWN_PATTERN and asked[k] == recorded.get(k))]
    if differ:
        # Ayar dosyasından gelen ayarlar dosyanın adıyla söylenir (hepsi oradansa yalnızca dosya)
        in_file = [k for k in differ if origin is not None and k in origin.keys]
        where = "" if not in_file else \
            f" (in config file {origin.path})" if len(in_file) == len(differ) else \
            f" ({', '.join(in_file)} in config file {origin.path})"
        raise ValueError(f"cannot resume {out}: the checkpoint's model has "
                         f"{_held(real, differ)}, the config asks for "
                         + ", ".join(f"{k}={asked[k]!r}" for k in differ) + where
                         + "; a fine-tune keeps the pretrained model's architecture and "
                           "tokenizer " + _keep_advice(differ, "the checkpoint's"))
    return real


def _same_folder(a, b) -> bool:
    """Whether two init_from values name the same folder (both empty counts as the same)."""
    if not a or not b:
        return not a and not b
    try:
        return Path(str(a)).expanduser().resolve() == Path(str(b)).expanduser().resolve()
    except (OSError, RuntimeError):
        return False


def model_config(cfg: TrainConfig, vocab_size: int) -> dict:
    """The model settings of cfg as checkpoint.build_model takes them ({"model": ..., ...})."""
    if cfg.model == "bigram":
        return {"model": "bigram", "vocab_size": int(vocab_size)}
    return {"model": "gpt", "vocab_size": int(vocab_size), "block_size": cfg.block_size,
            "n_layer": cfg.n_layer, "n_head": cfg.n_head, "n_embd": cfg.n_embd,
            "dropout": cfg.dropout, "bias": cfg.bias, "tie_weights": cfg.tie_weights,
            "activation": cfg.activation, "positional": cfg.positional}
