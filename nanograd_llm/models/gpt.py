"""
# GPT: yalnızca kod çözücüden (decoder-only) oluşan Transformer

## Büyük resim
GPT, orijinal Transformer'ın yalnızca **kod çözücü** (decoder) yarısını kullanır ve
kodlayıcıdan (encoder) gelen çapraz dikkati (cross-attention) çıkarır. Geriye, nedensel
maskeli öz-dikkat ve ileri besleme ağından oluşan blokların bir yığını kalır. Model
**otoregresiftir**: her konumda yalnızca kendisine ve kendisinden önceki belirteçlere bakarak
bir sonraki belirteci tahmin eder. RNN'lerdeki gibi yinelemeli (recurrent) bir yapı yoktur:
eğitimde bütün konumlar tek bir ileri geçişte paralel hesaplanır; üretimde model, ürettiği
belirteci girdisine ekleyerek tekrar çağrılır.

## İleri geçiş
    x   = wte[idx] + wpe[0:T]             belirteç gömmesi + konum kodlaması
    x   = dropout(x)
    x   = blok_l(x)    l = 0 … n_layer−1  (her biri: x ← x + MHA(LN₁(x)), sonra x ← x + MLP(LN₂(x)))
    x   = LN_f(x)                           son katman normalizasyonu (pre-LN'de gerekir)
    logits = x · wteᵀ                       ağırlık bağlama (weight tying): çıkış katmanı
                                            giriş gömmesinin devriğini kullanır
    kayıp = çapraz_entropi(logits, hedefler)

**Ağırlık bağlama:** "Bir belirteci temsil eden vektör" ile "bir belirteci tahmin etmek için
kullanılan vektör" aynı matrisin satırlarıdır. Parametre sayısını azaltır (V·C kadar) ve
küçük verilerde genellemeye yardım eder. Bu durumda `wte` iki yerde kullanılır (fan-out),
gradyanı iki katkının toplamıdır: `dwte = dwte_gömme + dwte_çıkış`.

## Parametreler (GPT-2 adları ve düzeni)
| ad                              | şekil      |
|---------------------------------|------------|
| `wte.weight`                    | (V, C)     |
| `wpe.weight` (öğrenilen konum)  | (block_size, C) |
| `h.{i}.ln_1.weight/bias`        | (C,)       |
| `h.{i}.attn.c_attn.weight`      | (C, 3C)    |
| `h.{i}.attn.c_attn.bias`        | (3C,)      |
| `h.{i}.attn.c_proj.weight`      | (C, C)     |
| `h.{i}.attn.c_proj.bias`        | (C,)       |
| `h.{i}.ln_2.weight/bias`        | (C,)       |
| `h.{i}.mlp.c_fc.weight`         | (C, 4C)    |
| `h.{i}.mlp.c_fc.bias`           | (4C,)      |
| `h.{i}.mlp.c_proj.weight`       | (4C, C)    |
| `h.{i}.mlp.c_proj.bias`         | (C,)       |
| `ln_f.weight/bias`              | (C,)       |
| `lm_head.weight` (bağlanmamışsa)| (V, C)     |

`bias=False` ile `.bias` adlı parametreler (katman normalizasyonununkiler de) yoktur.

## Geri yayılım
İleri geçişin **tam tersi sırayla** yürünür: kayıp → çıkış katmanı → LN_f → bloklar
(sondan başa) → dropout → konum kodlaması → gömme. Her adımın türetimi kendi katman
dosyasındadır.

## Bellek
Bir eğitim adımının tepe belleği parametreler, gradyanlar, AdamW'nin iki momenti ve geri
geçişin gerçekten gerektirdiği etkinleştirmelerdir; fazlası tutulmaz:

* Geri geçiş ileri geçişin önbelleğini **tüketir**: dlogits olasılıkların belleğine yazılır,
  her bloğun önbelleği geçildikten hemen sonra bırakılır. Bu yüzden bir ileri geçişe tek bir
  geri geçiş düşer (PyTorch'taki gibi); ikincisi açık bir hatayla yeni bir ileri geçiş ister.
* Her gradyan, hesaplanır hesaplanmaz düz gradyan dizisine yazılır (biriktirmede eklenir);
  hepsi önce taze dizilerde toplanmaz.
* Veri paralelliğinde parçalar logits'lerini baştan ayrılmış tek bir (B,T,V) diziye yazar.
* Logitler istenmiyorsa (`return_logits=False`, eğitici) kayıp olasılıkları, geri geçiş de
  dlogits'i logitlerin belleğinde hesaplar: adım boyunca tek bir (B,T,V) dizi.
* Geri geçiş olmayacaksa (`keep_activations=False`, KV önbelleği, `last_only`) etkinleştirmeler
  biriktirilmez: değerlendirme ve üretim bir bloğunkinden fazlasını tutmaz.

## Veri paralelliği (CPU'da iki ya da daha çok çekirdek)
Eğitimde (hedefler verildiğinde) toplu iş, CPU'da en fazla iş parçacığı sayısı kadar
(varsayılan: kullanılabilir çekirdek sayısı; `backend.shard_count`) parçaya bölünebilir:
her parça ileri ve geri geçişin tamamını kendi iş parçacığında yapar (`backend.run_shards`),
BLAS o sırada tek iş parçacığıyla çalışır. Kayıp bütün konumların ortalaması olduğu için

    kayıp = Σ_i (n_i / N) · kayıp_i        (n_i: i. parçadaki geçerli hedef sayısı, N = Σ n_i)

ve her parametre bütün parçalarda kullanıldığından gradyanı parçaların gradyanlarının
ağırlıklı toplamıdır: `dW = Σ_i (n_i/N) · dW_i`. Her parçanın geri geçişi bu yüzden kaybın gradyanı
olarak 1 yerine `n_i/N` ile başlar. Sonuç, bölmeden yapılan hesapla yuvarlama farkı dışında
aynıdır (`tests/test_data_parallel.py`). Küçük işlerde, GPU'da, KV önbellekli üretimde ya da
`NANOGRAD_LLM_THREADS=1` ile bölme yapılmaz.

## İlklendirme (GPT-2 / nanoGPT)
Ağırlıklar N(0; 0,02²); artık yola yazan izdüşümler (`attn.c_proj`, `mlp.c_proj`)
N(0; (0,02/√(2·n_layer))²) — her blok artık yola iki kez eklediği için varyans derinlikle
büyümesin diye; sapmalar 0; katman normalizasyonu kazançları 1.

Gradyan denetimi: `tests/test_models.py` (sonlu farklar, PyTorch ile karşılaştırma).
"""
from __future__ import annotations

import math
import dataclasses
import sys
from dataclasses import asdict, dataclass, fields

import numpy as np

from ..backend import did_you_mean, is_integer, run_shards, shard_count, shown
from ..layers.block import block_backward, block_forward
from ..layers.cross_entropy import cross_entropy_backward, cross_entropy_forward
from ..layers.dropout import RowGenerators, dropout_backward, dropout_forward
from ..layers.embedding import embedding_backward, embedding_forward
from ..layers.kv_cache import KVCache
from ..layers.layernorm import layernorm_backward, layernorm_forward
from ..layers.linear import linear_backward, linear_forward
from ..layers.mlp import check_activation
from ..layers.positional import (learned_positional_backward, learned_positional_forward,
                                 sinusoidal_backward, sinusoidal_forward)
from .base import ParamModel, check_grad_shape, check_weights_fit, count_text

# Boyutlar: B = toplu iş, T = dizi uzunluğu, C = n_embd, V = vocab_size, L = n_layer

POSITIONAL = ("learned", "sinusoidal")


@dataclass
class GPTConfig:
    """The architecture of a GPT: GPT(GPTConfig(vocab_size=65, n_layer=4, ...)).

    vocab_size: rows of the token embedding (ids 0 … vocab_size-1); block_size: the longest
    context, positions 0 … block_size-1; n_layer Transformer blocks of n_head attention heads
    over n_embd channels (n_embd must be divisible by n_head); dropout: the rate in [0, 1) of
    every dropout (embeddings, attention weights, residual branches), active only in train
    mode; bias: biases in the linear layers and layer norms; tie_weights: the output layer
    reuses the token embedding (as GPT-2); activation: "gelu" (GPT-2's tanh approximation) or
    "relu"; positional: "learned" (a wpe table) or "sinusoidal" (fixed, no parameters);
    layer_norm_epsilon: the layer norms' eps; ignore_index: a target id that the loss leaves
    out (None: every position counts). Bad values are a ValueError at construction; a model
    keeps a read-only copy (change one with dataclasses.replace).
    """

    vocab_size: int = 65
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True
    tie_weights: bool = True
    activation: str = "gelu"
    positional: str = "learned"
    layer_norm_epsilon: float = 1e-5
    ignore_index: int | None = None

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            v = getattr(self, name)
            if not is_integer(v) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {shown(v)}")
            setattr(self, name, int(v))         # np.int64(65) → 65 (JSON'a yazılabilsin)
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={shown(self.n_embd)} must be divisible by "
                             f"n_head={shown(self.n_head)}")
        # Elle düzenlenmiş bir checkpoint.json'daki "yes", "0.1" gibi metinler sessizce kabul
        # edilmez: her alan JSON'daki türüyle gelmeli
        for name in ("bias", "tie_weights"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {shown(getattr(self, name))}")
        ig = self.ignore_index
        if ig is not None and not is_integer(ig):
            raise ValueError(f"ignore_index must be an integer or null, got {shown(ig)}")
        if ig is not None:
            self.ignore_index = int(ig)
        # NumPy sayıları da sayıdır: np.float32(0.1) (ör. bir NumPy dizisinden okunan değer)
        # "[0, 1) aralığında bir sayı olmalı" diye reddediliyordu, np.float64 ise olduğu gibi
        # kalıyordu; ikisi de Python float'una çevrilir (vocab_size'taki int() gibi)
        numbers = (int, float, np.integer, np.floating)
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, numbers) or \
                not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be a number in [0, 1), got {shown(self.dropout)}")
        self.dropout = float(self.dropout)
        eps = self.layer_norm_epsilon
        # float'a sığmayan bir tam sayı (10**400, elle düzenlenmiş bir checkpoint.json ya da
        # config.json) math.isfinite'te OverflowError hata izi verirdi; karşılaştırma her
        # büyüklükte tam sayıyla (NaN ile de) çalışır. NumPy sayıları önce Python sayısına
        # çevrilir: np.float32 ile float_info.max'ın karşılaştırılması, NumPy'ın sınırı
        # float32'ye çevirirken verdiği "overflow encountered in cast" uyarısını basardı
        if isinstance(eps, (np.integer, np.floating)):
            eps = eps.item()
        if isinstance(eps, bool) or not isinstance(eps, numbers) or not \
                0 < eps <= sys.float_info.max:
            raise ValueError(f"layer_norm_epsilon must be a finite number > 0, got {shown(eps)}")
        self.layer_norm_epsilon = float(eps)
        check_activation(self.activation)
        if self.positional not in POSITIONAL:
            raise ValueError(f"unknown positional encoding {shown(self.positional)}: "
                             f"expected one of {', '.join(POSITIONAL)}"
                             f"{did_you_mean(self.positional, POSITIONAL)}")

    # Kurulmuş bir modelin ayarı salt okunurdur (GPT.__init__ kendi kopyasını kilitler):
    # `model.config.n_head = 8` ağırlıklar aynı kalırken hesabı sessizce değiştirirdi (başka
    # sayıda baş, başka bir etkinleştirme), n_layer ya da vocab_size ise geri geçişte ya da
    # kimlik denetiminde anlaşılmaz hatalara yol açar, kaydedilen checkpoint.json da ağırlıklarla
    # uyuşmazdı. Kilit bir alan değildir: dataclasses.replace(model.config, ...) değiştirilebilir
    # yeni bir GPTConfig verir; deepcopy ve pickle kilidi korur.
    def __setattr__(self, name, value):
        if self.__dict__.get("_read_only"):
            self._refuse_change(name)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        if self.__dict__.get("_read_only"):
            self._refuse_change(name)
        object.__delattr__(self, name)

    @staticmethod
    def _refuse_change(name):
        raise dataclasses.FrozenInstanceError(
            f"model.config is read-only: the model was built with these settings and its "
            f"weights compute with them (changing {name} would silently change or break "
            f"the model); build another one, GPT(dataclasses.replace(model.config, "
            f"{name}=...)), and copy the weights with load_state_dict(model.state_dict()) "
            f"where their shapes fit")

    def to_dict(self) -> dict:
        """The fields as a plain, JSON-ready dict; from_dict reads it back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GPTConfig":
        """A GPTConfig from to_dict's dict; an unknown key is a ValueError, not ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown GPTConfig field(s): "
                             f"{shown(', '.join(map(str, unknown)), plain=True)}")
        return cls(**d)


def _normal(std):
    return lambda rng, shape: rng.standard_normal(shape) * std


def _zeros(rng, shape):
    import numpy as np
    return np.zeros(shape)


def _ones(rng, shape):
    import numpy as np
    return np.ones(shape)


def _check_fits(cfg: GPTConfig, dtype, device: str = "cpu", init_weights: bool = True) -> None:
    """MemoryError when the weights of a GPT(cfg) cannot fit in the machine's memory (see
    check_weights_fit)."""
    C, V = cfg.n_embd, cfg.vocab_size
    check_weights_fit(cfg.n_layer * 12 * C * C + V * C, dtype,
                      f"a GPT with n_layer={count_text(cfg.n_layer, False)}, "
                      f"n_embd={count_text(C, False)}, vocab_size={count_text(V, False)}",
                      device,
                      init_weights)


def _param_specs(cfg: GPTConfig) -> list:
    """(name, shape, init) of every parameter of a GPT, in the order of its params."""
    C, V = cfg.n_embd, cfg.vocab_size
    std = 0.02
    proj_std = 0.02 / math.sqrt(2 * cfg.n_layer)
    specs = [("wte.weight", (V, C), _normal(std))]
    if cfg.positional == "learned":
        specs.append(("wpe.weight", (cfg.block_size, C), _normal(std)))

    def lin(name, cin, cout, wstd):
        specs.append((name + ".weight", (cin, cout), _normal(wstd)))
        if cfg.bias:
            specs.append((name + ".bias", (cout,), _zeros))

    def ln(name):
        specs.append((name + ".weight", (C,), _ones))
        if cfg.bias:
            specs.append((name + ".bias", (C,), _zeros))

    for i in range(cfg.n_layer):
        ln(f"h.{i}.ln_1")
        lin(f"h.{i}.attn.c_attn", C, 3 * C, std)
        lin(f"h.{i}.attn.c_proj", C, C, proj_std)
        ln(f"h.{i}.ln_2")
        lin(f"h.{i}.mlp.c_fc", C, 4 * C, std)
        lin(f"h.{i}.mlp.c_proj", 4 * C, C, proj_std)
    ln("ln_f")
    if not cfg.tie_weights:
        specs.append(("lm_head.weight", (V, C), _normal(std)))
    return specs


class GPT(ParamModel):
    """A GPT-2 style decoder-only Transformer with hand-written forward and backward.

    GPT(config, seed=0, dtype="float32", device="cpu"): the weights are drawn from `seed`
    (GPT-2's initialisation); dtype "float32" or "float64"; device "cpu" or "cuda" (CuPy).
    A new model is in train mode (dropout active; model.eval() turns it off).
    forward(idx, targets) -> (logits, loss); backward() -> gradients; generate(idx, n) ->
    ids; GPT.load(run_dir), GPT.from_hf(folder) and save_hf(folder) load and save.
    """

    kind = "gpt"

    def __init__(self, config: GPTConfig, seed: int = 0, dtype="float32", device: str = "cpu",
                 *, init_weights: bool = True):
        """init_weights=False: zeros instead of drawn weights, for a loader that overwrites
        every one (see ParamModel)."""
        if not isinstance(config, GPTConfig):
            raise TypeError("GPT(config) expects a GPTConfig")
        # Model ayarın bir kopyasını tutar: aynı GPTConfig nesnesi bir sonraki model için
        # değiştirildiğinde (cfg.n_head = 8; GPT(cfg)) önceki model sessizce başka sayıda başla
        # ya da başka bir dropout'la hesaplamaya başlardı. Kopya __init__'ten geçer, yani
        # denetim yeniden yapılır: alanlar kurulumdan sonra değiştirilebilir (cfg.positional =
        # "learnt"), bilinmeyen bir değer sessizce başka bir modele (sinüzoidal) dönüşmesin.
        # Kopya sonra kilitlenir (yukarıda GPTConfig.__setattr__)
        self.config = cfg = dataclasses.replace(config)
        object.__setattr__(cfg, "_read_only", True)
        self.vocab_size = cfg.vocab_size
        self.block_size = cfg.block_size
        # Bellek denetimi: yalnızca n_layer blok (her biri 12·C² ağırlık), aşağıdaki döngü onları
        # kurmaya başlamadan önce
        _check_fits(cfg, dtype, device, init_weights)
        super().__init__(_param_specs(cfg), seed=seed, dtype=dtype, device=device,
                         init_weights=init_weights)
        self._cache = None
        self._kv_forward = False
        self._backward_done = False
        self._no_activations = False

    @staticmethod
    def param_shapes(config: GPTConfig, dtype=None, device: str = "cpu") -> dict:
        """name -> shape of the parameters a GPT(config) has, in the order of its params,
        without building it (MemoryError, as a loader's GPT(config, dtype=dtype,
        device=device, init_weights=False), when its weights cannot fit; the check assumes
        float32 without a dtype)."""
        # Adların listesi de katman sayısıyla büyür: n_layer=1e7 gibi bir değerde (ör. elle
        # düzenlenmiş bir config.json) bu liste, model kurulmadan belleği tüketirdi. Bu yüzden
        # önce GPT(config)'in bellek denetimi yapılır
        _check_fits(config, "float32" if dtype is None else dtype, device, init_weights=False)
        return {name: shape for name, shape, _ in _param_specs(config)}

    def config_dict(self) -> dict:
        """{"model": "gpt", **config.to_dict()}: what a checkpoint records to rebuild it."""
        return {"model": "gpt", **self.config.to_dict()}

    def _blocks(self) -> list[dict]:
        """Per-block parameter dicts with names relative to the block ('ln_1.weight', …)."""
        bp = [dict() for _ in range(self.config.n_layer)]
        for name, arr in self.params.items():
            if name.startswith("h."):
                _, i, rest = name.split(".", 2)
                bp[int(i)][rest] = arr
        return bp

    def _set_buffers(self, host_flat):
        super()._set_buffers(host_flat)
        self._block_params = self._blocks()

    def new_kv_cache(self, batch: int = 1) -> KVCache:
        """An empty cache for incremental decoding of up to block_size positions."""
        # batch=-1 ya da 2.5, NumPy'ın argümanı adlandırmayan bir hatasıyla düşerdi
        # ("negative dimensions are not allowed"); 0 satırlı bir önbellek hiçbir idx'e uymaz
        if not is_integer(batch) or batch < 1:
            raise ValueError(f"batch must be a positive integer, got {shown(batch)}")
        batch = int(batch)
        cfg = self.config
        return KVCache(cfg.n_layer, batch, cfg.n_head, cfg.block_size, cfg.n_embd // cfg.n_head,
                       self.xp, self.dtype)

    def _check_kv_cache(self, kv_cache: KVCache, idx) -> None:
        """Clear errors (instead of a broadcast error deep inside attention) for a cache that
        does not fit this model or these tokens."""
        cfg = self.config
        k0 = kv_cache.k[0] if kv_cache.k else None
        want = (cfg.n_head, cfg.block_size, cfg.n_embd // cfg.n_head)
        if len(kv_cache.k) != cfg.n_layer or k0 is None or tuple(k0.shape[1:]) != want:
            raise ValueError("kv_cache does not match this model: create it with "
                             "model.new_kv_cache(batch)")
        if k0.shape[0] != idx.shape[0]:
            raise ValueError(f"kv_cache was made for batch {k0.shape[0]}, idx has batch "
                             f"{idx.shape[0]}")
        if kv_cache.length + idx.shape[1] > cfg.block_size:
            raise ValueError(f"KV cache is full: it holds {kv_cache.length} positions and "
                             f"{idx.shape[1]} more would exceed block_size={cfg.block_size} "
                             f"(slide the window and rebuild the cache, as generate() does)")

    # -- forward -----------------------------------------------------------------------
    def forward(self, idx, targets=None, kv_cache: KVCache | None = None,
                last_only: bool = False, keep_activations: bool = True,
                return_logits: bool = True):
        """idx: (B, T) token ids. Returns (logits (B, T, V), loss or None).

        targets: (B, T) ids, the token that should follow each position (idx shifted by one);
        the loss is their mean cross-entropy (positions whose target is config.ignore_index
        left out), a 0-d value on the model's device (float(loss) reads it); None without
        targets.

        With `kv_cache`, idx holds only the new tokens; they are placed after the
        `kv_cache.length` cached positions (no backward is possible then).
        With `last_only` (generation), only the last position's logits are computed:
        (B, 1, V); no targets, no backward.
        With `keep_activations=False` (evaluation) nothing is kept for backward: each block's
        activations are freed as soon as the block has its output, and the batch runs in one
        piece; no backward then. A KV cache or last_only implies it.
        With `return_logits=False` (training: targets needed) the loss reuses the logits'
        memory for its probabilities and (None, loss) is returned: one (B, T, V) array less.
        """
        if last_only and targets is not None:
            raise ValueError("last_only=True computes no loss: pass targets=None")
        if not return_logits and targets is None:
            raise ValueError("return_logits=False returns only the loss: pass targets")
        cfg = self.config
        # Önceki adımın önbelleği (bütün ara tensörler) yenileri kurulmadan önce bırakılır;
        # yoksa bir an için iki adımın etkinleştirmeleri birden bellekte durur.
        self._cache = None
        # KV önbellekli ileri geçiş geri geçiş için bir şey saklamaz; backward() hedefler
        # verilmiş olsa da neden yapılamadığını söyleyebilsin diye işaretlenir
        self._kv_forward = kv_cache is not None
        self._backward_done = False
        # Geri geçiş olmayacaksa (KV önbelleği, last_only, değerlendirme) etkinleştirmeler hiç
        # biriktirilmez: her bloğunki, blok çıktısını verir vermez bırakılır
        keep = keep_activations and kv_cache is None and not last_only
        self._no_activations = not keep_activations
        start = 0 if kv_cache is None else kv_cache.length
        idx = self._check_idx(idx, cfg.vocab_size, cfg.block_size if kv_cache is None else None)
        if kv_cache is not None:
            self._check_kv_cache(kv_cache, idx)
        train = self.training and kv_cache is None
        drop_p = cfg.dropout if train else 0.0
        if targets is not None:
            targets = self._check_idx(targets, cfg.vocab_size, cfg.block_size, "targets",
                                      cfg.ignore_index)
            if targets.shape != idx.shape:
                raise ValueError(f"targets shape {tuple(targets.shape)} != idx shape "
                                 f"{tuple(idx.shape)}")
        # Üretece yalnızca dropout varken dokunulur: yoksa kurulmaz (set_dropout_seed)
        rng = self.rng if drop_p > 0.0 else None
        if drop_p > 0.0 and self.xp is np:
            # CPU: her satırın maskeleri kendi üretecinden gelir; toplu iş nasıl bölünürse
            # bölünsün (iş parçacığı sayısı ne olursa olsun) aynı maskeler çıkar
            rng = RowGenerators.spawn(self.rng, idx.shape[0])
        # Eğitimde CPU'da toplu iş parçalara bölünebilir (veri paralelliği, yukarıya bakın)
        bounds = self._part_bounds(idx, targets) if keep else None
        if bounds is not None:
            return self._forward_sharded(idx, targets, bounds, drop_p, train, rng,
                                         return_logits)
        logits, loss, cache = self._forward_one(idx, targets, kv_cache, last_only, drop_p,
                                                rng, train, start, keep=keep,
                                                reuse_logits=not return_logits)
        if kv_cache is not None:
            kv_cache.advance(idx.shape[1])
        self._cache = (cache,) if keep else None
        return logits, loss

    def _part_bounds(self, idx, targets):
        """Row boundaries of the data-parallel parts (backend.shard_count), or None to run the
        batch in one piece: no targets, one part, or a part with no target to predict."""
        if targets is None:
            return None
        B, T = idx.shape
        n = shard_count(B, B * T * self.config.n_embd, self.xp)
        if n == 1:
            return None
        bounds = np.linspace(0, B, n + 1).astype(int)                  # (n+1,) parça sınırları
        ignore = self.config.ignore_index
        if ignore is not None:
            # Hiç geçerli hedefi olmayan bir parça, kaybın ağırlıklı ortalamasını bozardı (0/0)
            valid = [int((targets[a:b] != ignore).sum()) for a, b in zip(bounds[:-1], bounds[1:])]
            if min(valid) == 0:
                return None
        return bounds

    def _forward_sharded(self, idx, targets, bounds, drop_p, train, rng, return_logits=True):
        """Data parallelism on the CPU: split the batch into n parts, run each part's forward
        on its own thread (backend.run_shards), combine logits and loss."""
        xp, n = self.xp, len(bounds) - 1
        # Veri paralelliği (bkz. backend.run_shards): toplu iş n parçaya bölünür, her parça
        # kendi iş parçacığında bütün modelden geçer. Dropout maskeleri satır satır, her
        # satırın kendi üretecinden gelir (RowGenerators): bir parça yalnızca kendi satırlarının
        # üreteçlerini kullanır, böylece maskeler bölünmemiş hesaptakilerle aynıdır ve iş
        # parçacığı sayısına bağlı değildir.
        def part_rng(sl):
            return rng.rows(sl) if drop_p > 0.0 else rng   # dropout yok: üreteç kullanılmaz

        # Bütün toplu işin logits'i baştan ayrılır; her parça kendi satırlarını oraya yazar ve
        # kaybını o satırlardan hesaplar. Parçaların logits'ini sonradan birleştirmek
        # (concatenate) bir an için iki tam (B,T,V) dizi (parçalar + birleşik) ile olasılıkları
        # birlikte tutardı; V = 50 257'de en büyük diziler bunlardır
        # (logits istenmiyorsa hiç ayrılmaz: her parça kaybını kendi logits'inin üstünde hesaplar)
        B, T = idx.shape
        logits = xp.empty((B, T, self.config.vocab_size), dtype=self.dtype) \
            if return_logits else None                                        # (B,T,V)

        def part(i):
            sl = slice(bounds[i], bounds[i + 1])
            return self._forward_one(idx[sl], targets[sl], None, False, drop_p, part_rng(sl),
                                     train, 0, logits_out=None if logits is None else logits[sl],
                                     reuse_logits=not return_logits)

        outs = run_shards(part, n)
        # Kayıp, bütün (yoksayılmayan) konumların ortalamasıdır: parçaların kayıpları, geçerli
        # hedef sayılarıyla ağırlıklandırılarak ortalanır. Aynı ağırlıklar geri geçişte her
        # parçanın kaybının gradyanıdır: ∂kayıp/∂kayıp_i = n_i / Σ n_j.
        counts = [o[2][-1].n_valid for o in outs]
        weights = [c / sum(counts) for c in counts]
        # Ağırlıklar kaybın veri türüne çevrilir: NumPy 1.x'te bir Python float'u ile float32
        # bir skalerin çarpımı float64 olurdu. Toplam da Python'un 0'ından değil, aynı türde
        # bir 0'dan başlar: NumPy 1.x'te 0 + float32 skaler de float64 verirdi.
        dt = outs[0][1].dtype.type
        loss = sum((dt(w) * o[1] for w, o in zip(weights, outs)), dt(0))
        self._cache = ([o[2] for o in outs], weights)
        return logits, loss

    def _forward_one(self, idx, targets, kv_cache, last_only, drop_p, rng, train, start,
                     logits_out=None, keep=True, reuse_logits=False):
        """The forward pass of one batch (or one data-parallel part): (logits, loss, cache).
        logits_out: an array (a part's rows of the whole batch's logits) the logits are copied
        into; the loss is computed from it and it is returned. keep=False: the blocks' caches
        are not collected (no backward will follow). reuse_logits: the loss overwrites the
        logits (they become its probabilities) and None is returned in their place."""
        cfg, p = self.config, self.params
        # 1) Belirteç gömmesi: (B, T) -> (B, T, C)
        x, c_emb = embedding_forward(idx, p["wte.weight"])
        # 2) Konum kodlaması: x + P[start:start+T]
        if cfg.positional == "learned":
            x, c_pos = learned_positional_forward(x, p["wpe.weight"], start)
        else:
            x, c_pos = sinusoidal_forward(x, start, cfg.block_size)
        # 3) Gömme dropout'u
        x, c_drop = dropout_forward(x, drop_p, rng, train)
        # 4) Blok yığını; geri geçiş olmayacaksa (keep=False) bloğun önbelleği listeye
        #    eklenmez ve blok çıktısını verir vermez bırakılır: sonraki blok çalışırken bellekte
        #    yalnızca onun kendi etkinleştirmeleri durur, iki bloğunki birden değil
        c_blocks = []
        for i, bp in enumerate(self._block_params):
            x, c = block_forward(x, bp, cfg.n_head, cfg.activation, drop_p, rng, train,
                                 kv_cache, i, cfg.layer_norm_epsilon)
            if keep:
                c_blocks.append(c)
            del c
        if last_only:
            # Üretimde yalnızca son konumun puanları gerekir: çıkış katmanının (T·C·V)
            # işi T kat azalır
            x = x[:, -1:, :]                                          # (B,T,C) -> (B,1,C)
        # 5) Son katman normalizasyonu
        x, c_lnf = layernorm_forward(x, p["ln_f.weight"], p.get("ln_f.bias"),
                                     cfg.layer_norm_epsilon)
        # 6) Çıkış katmanı: logits = x·wteᵀ (bağlı) ya da x·lm_headᵀ
        head = p["wte.weight"] if cfg.tie_weights else p["lm_head.weight"]
        logits, c_head = linear_forward(x, head.T)                    # (B,T,C)@(C,V) -> (B,T,V)
        if logits_out is not None:
            # Veri paralelliği: parçanın logits'i bütün toplu işin dizisindeki satırlarına
            # kopyalanır, kendi dizisi hemen bırakılır
            logits_out[...] = logits
            logits = logits_out
        # 7) Kayıp
        loss = c_ce = None
        if targets is not None:
            # Logitler istenmiyorsa (eğitim) kayıp onların belleğini olasılıklar için kullanır
            loss, c_ce = cross_entropy_forward(logits, targets, cfg.ignore_index,
                                               reuse_logits=reuse_logits)
            if reuse_logits:
                logits = None
        # Liste (demet değil): geri geçiş girdileri kullandıkça bırakır (bkz. _backward_one)
        return logits, loss, [c_emb, c_pos, c_drop, c_blocks, c_lnf, c_head, c_ce]

    # -- backward ----------------------------------------------------------------------
    def backward(self, accumulate: bool = False) -> dict:
        """Gradients of the last forward's loss: a dict with exactly the keys of params.

        The arrays are views into `grad_flat`, overwritten by the next backward (or added to
        with accumulate=True, for gradient accumulation over micro-batches).
        The backward pass frees the forward's activations as it goes (as PyTorch's does): one
        forward allows one backward.
        """
        if self._cache is None:
            if self._backward_done:
                raise RuntimeError(
                    "backward() was already called for the last forward: it frees the "
                    "activations as it uses them; call forward(idx, targets) again")
            if self._no_activations:
                raise RuntimeError(
                    "backward() is not possible after forward(..., keep_activations=False), "
                    "which keeps nothing for it; call forward(idx, targets) first")
            if self._kv_forward:
                raise RuntimeError(
                    "backward() is not possible after forward(..., kv_cache=...): a forward "
                    "with a KV cache is for generation and keeps no activations for backward "
                    "(even with targets); call forward(idx, targets) without kv_cache first")
            raise RuntimeError("backward() needs a forward(idx, targets) with targets first")
        if len(self._cache) == 1 and self._cache[0][-1] is None:
            raise RuntimeError("backward() needs a forward(idx, targets) with targets first")
        # Geri geçiş önbelleği tüketir: etkinleştirmeler kullanıldıkça bırakılır, olasılıkların
        # belleğine dlogits yazılır. Model önbelleği bırakır; ikinci bir backward() açık bir
        # hatayla yeni bir ileri geçiş ister (PyTorch'taki gibi)
        held, self._cache, self._backward_done = self._cache, None, True
        # Her gradyan, hesaplanır hesaplanmaz düz gradyan dizisine yazılır (biriktirmede
        # eklenir) ve bırakılır: hepsini önce taze dizilerde toplamak parametrelerin bir katı
        # kadar (GPT-2 small'da 0,5 GB) fazladan bellek isterdi
        put = self._grad_writer(accumulate)
        if len(held) == 1:
            self._backward_one(held[0], 1.0, put)
            return put.finish()
        # Veri paralelliği: her parçanın geri geçişi kendi iş parçacığında, kaybın o parçaya
        # düşen ağırlığıyla; parametreler bütün parçalarda ortak kullanıldığı için (fan-out)
        # gradyanları toplanır: ilk parçanınki yazılır (hesaplandıkça, yukarıdaki gibi),
        # ötekiler kendi dizilerinde toplanıp sonra sırayla üstüne eklenir.
        caches, weights = held
        del held
        grads = run_shards(lambda i: self._backward_one(caches[i], weights[i],
                                                        put if i == 0 else None), len(caches))
        put.finish()
        for g in grads[1:]:
            self._store_grads(g, True)
        return self.grads

    def _grad_writer(self, accumulate: bool):
        """put(name, g): write (or, accumulating, add) one fresh gradient into grad_flat;
        put.finish() zeroes what no put reached (without accumulate) and returns model.grads."""
        grads, reached = self.grads, set()

        def put(name, g):
            # _store_grads'ın yaptığının aynısı, bir gradyan için
            check_grad_shape(name, g, grads[name])
            if accumulate:
                grads[name] += g
            else:
                grads[name][...] = g
            reached.add(name)

        def finish():
            if not accumulate:
                for name, view in grads.items():
                    if name not in reached:
                        view.fill(0)
            return grads
        put.finish = finish
        return put

    def _backward_one(self, cache: list, dloss, put=None) -> dict:
        """Backward pass of one forward cache, the loss scaled by dloss; fresh arrays.
        Consumes the cache: the list is emptied and each entry freed once it is used.
        put(name, grad), if given, takes each gradient as soon as it is computed (the dict
        returned is then empty); without it they are collected in the dict."""
        cfg = self.config
        c_emb, c_pos, c_drop, c_blocks, c_lnf, c_head, c_ce = cache
        # Önbellek tüketilir: girdiler yalnızca buradaki adlarda kalır, her biri kullanıldıktan
        # sonra bırakılır (geri geçiş ilerledikçe bellek azalır, gradyanlar birikirken
        # etkinleştirmeler gider)
        cache.clear()
        g = {}
        if put is None:
            put = g.__setitem__
        # 7) İleri geçişte: `kayıp = CE(logits, hedefler)` → bu yüzden
        #    `dlogits = dloss · (softmax(logits) − onehot(hedefler)) / n_geçerli`;
        #    önbellek bir kez kullanıldığından dlogits olasılıkların belleğine yazılır
        dlogits = cross_entropy_backward(dloss, c_ce, reuse_probs=True)  # (B,T,V)
        del c_ce
        # 6) İleri geçişte: `logits = x·Wᵀ` (W = wte ya da lm_head) → bu yüzden
        #    `dx = dlogits·W` ve `d(Wᵀ) = xᵀ·dlogits` (linear bunu Wᵀ düzeninde, (C,V) verir);
        #    sonra (B,T,V) boyutundaki dlogits bırakılır
        dx, dhead_t, _ = linear_backward(dlogits, c_head)             # dhead_t: (C,V)
        del dlogits, c_head
        dhead = dhead_t.T                                             # (C,V) -> (V,C)
        # 5) İleri geçişte: `x = LN_f(x)` → dx ile son normalizasyonun kazanç ve sapma
        #    gradyanları (türetim: layers/layernorm.py)
        dx, dw, db = layernorm_backward(dx, c_lnf)
        del c_lnf
        put("ln_f.weight", dw)
        if db is not None:
            put("ln_f.bias", db)
        # 4) İleri geçişte: `x = blok_i(x)`, i = 0 … L−1 → geri geçiş sondan başa,
        #    i = L−1 … 0; her blok dx'i ve kendi parametrelerinin gradyanlarını döndürür,
        #    bloğun önbelleği hemen ardından bırakılır
        for i in reversed(range(cfg.n_layer)):
            dx, gb = block_backward(dx, c_blocks[i])
            c_blocks[i] = None
            for k, v in gb.items():
                put(f"h.{i}.{k}", v)
            del gb
        # 3) İleri geçişte: `x = dropout(x) = x ⊙ m/(1−p)` → bu yüzden `dx = dx ⊙ m/(1−p)`
        #    (aynı maske; dropout yoksa dx aynen geçer)
        dx = dropout_backward(dx, c_drop)
        # 2) İleri geçişte: `x = x + P[start:start+T]` → bu yüzden dx aynen geçer; öğrenilen
        #    konumda ayrıca `dwpe[start+t] = Σ_b dx[b, t]` (sinüzoidal tablo sabittir)
        if cfg.positional == "learned":
            dx, dwpe = learned_positional_backward(dx, c_pos)
            put("wpe.weight", dwpe)
        else:
            dx = sinusoidal_backward(dx, c_pos)
        # 1) İleri geçişte: `x = wte[idx]` → bu yüzden `dwte[idx[b,t]] += dx[b,t]`
        #    (tekrarlanan kimliklerin katkıları toplanır)
        dwte_embedding = embedding_backward(dx, c_emb)                # (V,C)
        if cfg.tie_weights:
            # wte iki yerde kullanıldı (gömme + çıkış) → gradyanlar toplanır:
            # dwte = dwte_gömme + dwte_çıkış. Toplam, gömme gradyanının (taze bir dizi)
            # üstüne yazılır: üçüncü bir (V,C) dizi ayrılmaz
            dwte = dwte_embedding
            dwte += dhead                                             # (V,C)
            put("wte.weight", dwte)
        else:
            put("wte.weight", dwte_embedding)
            put("lm_head.weight", dhead)
        return g

    # -- generation (implemented in generate.py, further down the import chain) ----------
    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0, top_k=None,
                 top_p=None, seed=None, use_cache: bool = True, stream=None,
                 vocab_limit=None):
        """Sample tokens after idx; see nanograd_llm.generate.generate."""
        from ..generate import generate
        return generate(self, idx, max_new_tokens, temperature=temperature, top_k=top_k,
                        top_p=top_p, seed=seed, use_cache=use_cache, stream=stream,
                        vocab_limit=vocab_limit)

    # -- persistence (implemented in the modules further down the import chain) --------
    @classmethod
    def load(cls, path, device: str = "cpu"):
        """Load a trained GPT from a run directory written by the trainer, in eval mode
        (checkpoint.load_model, which also loads a BigramLM; a run of one is a ValueError)."""
        from ..checkpoint import load_model
        model = load_model(path, device=device)
        if not isinstance(model, cls):
            raise ValueError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model

    @classmethod
    def from_hf(cls, path, dtype="float32", device: str = "cpu"):
        """Load a Hugging Face GPT-2 folder (config.json + model.safetensors), in eval mode;
        hf.load_hf also takes dropout and block_size, hf.init_from_hf gives the tokenizer too."""
        from ..hf import load_hf
        return load_hf(path, dtype=dtype, device=device)

    def save_hf(self, path) -> None:
        """Write config.json + model.safetensors in the Hugging Face GPT-2 layout."""
        from ..hf import save_hf
        save_hf(self, path)
