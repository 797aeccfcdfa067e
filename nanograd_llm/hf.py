"""
# GPT-2 denetim noktaları (Hugging Face düzeni): okuma ve yazma

## Neden?
Bu projedeki GPT, GPT-2 ile **aynı mimariye** ve aynı parametre adlarına sahiptir: ön
normalizasyonlu bloklar, birleşik `c_attn` izdüşümü, tanh yaklaşımlı GELU, öğrenilen konum
gömmesi ve bağlı (tied) çıkış katmanı. Bu yüzden OpenAI'ın eğittiği gerçek GPT-2 ağırlıkları
(124M parametreli `gpt2` ve büyük kardeşleri) hiçbir dönüştürme hesabı yapmadan NumPy
motorumuza yüklenebilir; orada çalıştırılabilir, örneklenebilir ve ince ayar (fine-tuning)
yapılabilir. Tersine, bizim eğittiğimiz bir model de `transformers` kütüphanesinin
okuyabileceği biçimde yazılabilir.

## Klasör düzeni (`save_pretrained` çıktısı)
| dosya               | içerik |
|---------------------|--------|
| `config.json`       | mimari: `n_layer`, `n_head`, `n_embd`, `n_positions` (= block_size), `vocab_size`, `layer_norm_epsilon`, `activation_function`, `tie_word_embeddings` … |
| `model.safetensors` | adlandırılmış tensörler (ya da `model.safetensors.index.json` + parçalar) |
| `vocab.json`, `merges.txt` | bayt düzeyinde BPE belirteçleyicisi (bkz. `tokenizers/bpe.py`) |

**safetensors** basit ve güvenli bir biçimdir: bir JSON başlığı (ad → veri türü, şekil,
bayt aralığı) ve ardından ham baytlar. `pickle` kullanmadığı için dosyayı açmak kod
çalıştırmaz. Dosyayı kendimiz ayrıştırmak yerine `safetensors` paketini kullanırız
(isteğe bağlı `hf` eki): `safe_open` ile tensörler tek tek okunur, `safetensors.numpy.save_file`
ile yazılır. Yüklerken önce bütün dosyaların başlıkları denetlenir (adlar, türler, şekiller),
model ancak sonra kurulur ve her tensör modele kopyalanırken okunup bırakılır: ağırlıklar
bellekte bir an bile iki kez durmaz.

Tek istisna **bfloat16**'dır: NumPy'da böyle bir veri türü yoktur, bu yüzden paketin NumPy
arayüzü bfloat16 tensör içeren bir dosyayı hiç okuyamaz. Oysa `transformers`, bellekte
bfloat16 olan bir modeli bu türde kaydeder; Hugging Face'teki pek çok model de böyle
yayımlanır. bfloat16, float32'nin **üst 16 bitidir** (aynı işaret biti, aynı 8 bitlik üs,
mantisin ilk 7 biti). Bu yüzden float32'ye dönüşüm tam ve kayıpsızdır: 16 bitlik desen 32
bitlik bir tam sayıya genişletilip 16 bit sola kaydırılır (alt 16 bit sıfır olur), aynı bitler
de float32 olarak okunur. Böyle bir dosyanın başlığını ve baytlarını `_open_file_with_bf16`
kendisi okur; dosyadaki öteki tensörler kendi türlerinde kalır.

## Ad ve şekil eşlemesi
* Hugging Face adları `transformer.` önekiyle başlar (`transformer.h.0.attn.c_attn.weight`);
  önek atılınca adlar bizimkilerle birebir aynıdır. OpenAI'dan dönüştürülmüş eski dosyalarda
  önek hiç yoktur; iki durum da kabul edilir.
* GPT-2 doğrusal katmanlarını `Conv1D` sınıfıyla yazar; ağırlığı **(giriş, çıkış)**
  düzenindedir, yani `y = x·W + b`. Bizim `linear` katmanımız da aynı düzeni kullanır, bu
  yüzden devrik (transpose) almak gerekmez. `wte` (V, C), `wpe` (n_positions, C) ve
  `lm_head.weight` (V, C) de aynı şekillerdedir.
* Eski dosyalar her katmanda `attn.bias` ve `attn.masked_bias` adlı **tamponlar** taşır:
  bunlar öğrenilen parametre değil, nedensel maskenin önceden hesaplanmış hâli (`attn.bias`,
  alt üçgen matris) ve maskelenen puanlara yazılan sabittir (`attn.masked_bias`). Bizim dikkat
  katmanımız maskeyi kendisi kurduğu için yok sayılırlar.
* **Bağlı çıkış katmanı:** `tie_word_embeddings` doğruysa çıkış katmanı `wte`'yi kullanır;
  `transformers` bu durumda `lm_head.weight`'i çoğu zaman hiç yazmaz. Dosyada varsa ve
  `config.json` bağlı diyorsa, `transformers` gibi `wte` kullanılır. `config.json` bağlı değil
  diyorsa `lm_head.weight` ayrı bir parametre olarak yüklenir (`tie_weights=False`).
* Etkinleştirme: `gelu_new` (ve aynı fonksiyon olan `gelu_pytorch_tanh`, `gelu_fast`) bizim tanh
  yaklaşımlı GELU'muzdur; `relu` da desteklenir. Kesin (erf'li) `gelu` gibi başkaları
  farklı sayılar üreteceği için açık bir hatayla reddedilir.

Sinüzoidal konum kodlamalı ya da sapmasız (`bias=False`) modellerin GPT-2 karşılığı yoktur;
bunlar GPT-2 biçiminde kaydedilemez.

Doğrulama: `tests/test_hf.py` küçük, rastgele bir `GPT2LMHeadModel` ile logitlerin (float32'de
1e-4 mutlak, float64'te 1e-9 göreli) ve kayıp gradyanlarının PyTorch ile aynı olduğunu denetler.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .atomic import (MixedFiles, atomic_write_files, load_json, shell_note, shell_quote,
                     text_writer)
from .backend import is_integer, is_unicode, shown, to_numpy
from .models.base import DeferredArray, advice_when_too_large, check_state_dict
from .models.gpt import GPT, GPTConfig

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
PREFIX = "transformer."
_HF_EXTRA = 'pip install safetensors (in a source checkout: pip install -e ".[hf]")'

# Hugging Face etkinleştirme adı -> bizimki (aynı matematik)
_ACTIVATIONS_IN = {"gelu_new": "gelu", "gelu_pytorch_tanh": "gelu", "gelu_fast": "gelu",
                   "relu": "relu"}
_ACTIVATIONS_OUT = {"gelu": "gelu_new", "relu": "relu"}


def _safetensors_numpy():
    try:
        import safetensors.numpy as stn
    except ImportError:
        raise RuntimeError("reading/writing GPT-2 checkpoints needs the 'safetensors' package: "
                           + _HF_EXTRA) from None
    return stn


# -- config.json ----------------------------------------------------------------------------
def read_hf_config(path) -> dict:
    """The parsed config.json of a Hugging Face model folder (clear errors if absent/bad)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Hugging Face model folder not found: {path}")
    if not path.is_dir():
        raise ValueError(f"{path} is not a directory (expected a Hugging Face GPT-2 folder "
                         f"with {CONFIG_FILE} and {WEIGHTS_FILE})")
    f = path / CONFIG_FILE
    if (path / "checkpoint.json").is_file():
        raise ValueError(f"{path} is a nanograd_llm training run, not a Hugging Face GPT-2 "
                         f"folder: sample, chat or eval with --ckpt {shell_quote(path)}, continue "
                         f"training with `nanograd-llm train --out {shell_quote(path)} --resume`"
                         f"{shell_note(path)}")
    if not f.is_file():
        raise ValueError(f"{f} not found: not a Hugging Face model folder")
    try:
        cfg = load_json(f.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{f} is not valid JSON: {e}") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"{f} must hold a JSON object")
    return cfg


def config_from_hf(hf: dict, dropout: float = 0.0, source: str = CONFIG_FILE) -> GPTConfig:
    """Map a GPT-2 config.json dict to a GPTConfig; reject what our GPT cannot represent."""
    model_type = hf.get("model_type", "gpt2")
    if model_type != "gpt2":
        raise ValueError(f"{source}: model_type {shown(model_type)} is not supported "
                         f"(only 'gpt2')")

    def need(key, *alts):
        for k in (key, *alts):
            if hf.get(k) is not None:
                v = hf[k]
                if not is_integer(v) or v < 1:
                    raise ValueError(f"{source}: {k} must be a positive integer, "
                                     f"got {shown(v)}")
                return v
        raise ValueError(f"{source} lacks {key!r}")

    n_embd = need("n_embd")
    act_hf = hf.get("activation_function", "gelu_new")
    if not isinstance(act_hf, str) or act_hf not in _ACTIVATIONS_IN:
        raise ValueError(f"{source}: activation_function {shown(act_hf)} is not supported "
                         f"(supported: {', '.join(sorted(_ACTIVATIONS_IN))})")
    n_inner = hf.get("n_inner")
    if n_inner is not None and not is_integer(n_inner):
        raise ValueError(f"{source}: n_inner must be an integer or null, "
                         f"got {shown(n_inner)}")
    if n_inner is not None and n_inner != 4 * n_embd:
        raise ValueError(f"{source}: n_inner={shown(n_inner)} is not supported (the MLP width "
                         f"must be 4*n_embd={4 * n_embd})")
    for key, ok in (("add_cross_attention", False), ("scale_attn_weights", True),
                    ("scale_attn_by_inverse_layer_idx", False)):
        if key in hf and bool(hf[key]) != ok:
            raise ValueError(f"{source}: {key}={shown(hf[key])} is not supported")
    tie = hf.get("tie_word_embeddings", True)
    if not isinstance(tie, bool):
        raise ValueError(f"{source}: tie_word_embeddings must be true or false, "
                         f"got {shown(tie)}")
    eps = hf.get("layer_norm_epsilon", 1e-5)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise ValueError(f"{source}: layer_norm_epsilon must be a positive number, "
                         f"got {shown(eps)}")
    # need() hatasında dosyayı kendisi adlandırır: try'ın içinde çağrılsaydı yol iletide iki
    # kez yazılırdı
    sizes = dict(vocab_size=need("vocab_size"), block_size=need("n_positions", "n_ctx"),
                 n_layer=need("n_layer"), n_head=need("n_head"))
    try:
        cfg = GPTConfig(**sizes, n_embd=n_embd, dropout=0.0, bias=True,
                        tie_weights=tie,
                        activation=_ACTIVATIONS_IN[act_hf], positional="learned",
                        layer_norm_epsilon=eps)
    except ValueError as e:
        # GPTConfig'in kendi denetimlerinin reddettiği değerler (n_head'e bölünmeyen bir
        # n_embd, sonsuz bir epsilon) de dosyanındır: ileti dosyayı adlandırır. dropout ise
        # çağıranın argümanıdır: aşağıda ayrıca verilir, hatası dosyaya yüklenmez
        raise ValueError(f"{source}: {e}") from None
    return dataclasses.replace(cfg, dropout=dropout)


def config_to_hf(cfg: GPTConfig, dtype=None) -> dict:
    """The config.json dict for our GPTConfig (raises ValueError if GPT-2 cannot express it)."""
    if cfg.positional != "learned":
        raise ValueError(f"a model with {cfg.positional!r} positions cannot be saved as GPT-2 "
                         f"(GPT-2 has learned positions)")
    if not cfg.bias:
        raise ValueError("a model without biases (bias=False) cannot be saved as GPT-2")
    if cfg.activation not in _ACTIVATIONS_OUT:
        raise ValueError(f"activation {cfg.activation!r} cannot be saved as GPT-2")
    V = cfg.vocab_size
    eot = 50256 if V > 50256 else None          # GPT-2'nin <|endoftext|> belirteci
    out = {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "activation_function": _ACTIVATIONS_OUT[cfg.activation],
        "vocab_size": V,
        "n_positions": cfg.block_size,
        "n_ctx": cfg.block_size,
        "n_embd": cfg.n_embd,
        "n_layer": cfg.n_layer,
        "n_head": cfg.n_head,
        "n_inner": None,
        "layer_norm_epsilon": cfg.layer_norm_epsilon,
        "resid_pdrop": cfg.dropout,
        "embd_pdrop": cfg.dropout,
        "attn_pdrop": cfg.dropout,
        "initializer_range": 0.02,
        "scale_attn_weights": True,
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "add_cross_attention": False,
        "tie_word_embeddings": bool(cfg.tie_weights),
        "use_cache": True,
        "bos_token_id": eot,
        "eos_token_id": eot,
    }
    if dtype is not None:
        out["dtype"] = out["torch_dtype"] = str(np.dtype(dtype))
    return out


# -- tensors --------------------------------------------------------------------------------
# Tensörler önce yalnızca başlıklarından tanınır (ad, tür, şekil; `DeferredArray`), değerleri
# modele kopyalanırken tek tek okunur: bütün dosyayı önce okumak, modelin yanında
# ağırlıkların bir kopyasını daha tutardı. Dosyalar okuma bitene kadar açık kalır (`stack`).

# safetensors'ın NumPy arayüzünün, başlığa bakarak okunmadan kabul edilen türleri; ötekiler
# (tam sayılar, paketin NumPy'da okuyamadığı türler) hemen okunur: ya eskisi gibi okunamaz
# ("cannot read") ya da aşağıda "expected floats" ile reddedilir (ya da bir maske tamponudur)
_ST_FLOATS = {"F64": "<f8", "F32": "<f4", "F16": "<f2"}


def _open_file(f: Path, stack) -> dict:
    """name -> DeferredArray of a safetensors file, in the order load_file gives them; the
    file stays open (on stack) for the reads. Whatever load_file refuses is refused here."""
    if _has_bf16(f):
        return _open_file_with_bf16(f, stack)
    _safetensors_numpy()                 # the package, or how to install it
    from safetensors import safe_open
    try:
        handle = stack.enter_context(safe_open(str(f), framework="np"))
        # load_file (safetensors >= 0.7: get_tensors) gives them in the order of their bytes
        names = handle.offset_keys() if hasattr(handle, "offset_keys") else handle.keys()
        h = _header(f)
        out = {}
        for name in names:
            info = h[0].get(name) if h is not None else None
            kind = info.get("dtype") if isinstance(info, dict) else None
            if kind in _ST_FLOATS:
                shape, dtype = tuple(int(d) for d in info["shape"]), np.dtype(_ST_FLOATS[kind])
                out[name] = DeferredArray(shape, dtype,
                                          _tensor_reader(handle, f, name, shape, dtype))
            else:
                out[name] = DeferredArray.of(handle.get_tensor(name))
        return out
    except Exception as e:   # safetensors raises its own error types
        raise ValueError(f"cannot read {f}: {e}") from None


def _tensor_reader(handle, f: Path, name: str, shape: tuple, dtype):
    def read():
        try:
            arr = handle.get_tensor(name)
        except Exception as e:
            raise ValueError(f"cannot read {f}: {e}") from None
        # Başlık ayrıca okundu: dosya bu arada değiştiyse tensör denetlenenle aynı olmayabilir
        if arr.shape != shape or arr.dtype != dtype:
            raise ValueError(f"cannot read {f}: tensor {name!r} changed while it was read")
        return arr
    return read


def _header(f: Path):
    """(JSON header, byte offset of the data) of a safetensors file; None if it has none."""
    try:
        with open(f, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            if not 0 < n <= 100_000_000:
                return None
            header = load_json(fh.read(n).decode("utf-8"))
    except (OSError, ValueError):
        return None
    return (header, 8 + n) if isinstance(header, dict) else None


def _has_bf16(f: Path) -> bool:
    """Whether a safetensors file's JSON header lists a bfloat16 tensor."""
    h = _header(f)
    return h is not None and any(
        isinstance(v, dict) and v.get("dtype") == "BF16" for v in h[0].values())


# safetensors tür adları → NumPy (küçük uçlu, dosyada olduğu gibi)
_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
              "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


def _open_file_with_bf16(f: Path, stack) -> dict:
    """name -> DeferredArray of a safetensors file that holds bfloat16 tensors (read as
    float32); every tensor's dtype and byte range is checked here, before any is read."""
    header, start = _header(f)
    fh = stack.enter_context(open(f, "rb"))
    size = os.fstat(fh.fileno()).st_size
    out = {}
    try:
        for name, info in header.items():
            if name == "__metadata__":
                continue
            lo, hi = (int(o) for o in info["data_offsets"])
            shape = tuple(int(d) for d in info["shape"])
            kind = info["dtype"]
            if kind != "BF16" and kind not in _ST_DTYPES:
                raise ValueError(f"tensor {name!r} has dtype {kind}, which is not supported")
            item = 2 if kind == "BF16" else np.dtype(_ST_DTYPES[kind]).itemsize
            if not 0 <= lo <= hi <= size - start or hi - lo != item * math.prod(shape):
                raise ValueError(f"tensor {name!r}: its byte range does not match its shape")
            dtype = np.float32 if kind == "BF16" else \
                np.dtype(_ST_DTYPES[kind]).newbyteorder("=")
            out[name] = DeferredArray(shape, dtype,
                                      _bf16_file_reader(fh, f, name, start + lo, hi - lo, kind,
                                                        shape))
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as e:
        # OverflowError: başlıkta sonsuz bir sayı (1e999), int() onu tam sayıya çeviremez
        raise ValueError(f"cannot read {f}: {e}") from None
    return out


def _bf16_file_reader(fh, f: Path, name: str, at: int, n: int, kind: str, shape: tuple):
    def read():
        raw = np.empty(n, dtype=np.uint8)
        fh.seek(at)
        if fh.readinto(raw) != n:
            raise ValueError(f"cannot read {f}: tensor {name!r} is cut short (the file "
                             f"changed while it was read)")
        if kind == "BF16":
            # bfloat16 = float32'nin üst 16 biti: 32 bite genişletilip 16 bit sola
            # kaydırılır (yerinde), aynı bitler float32 olarak okunur
            wide = raw.view("<u2").astype(np.uint32)
            del raw
            wide <<= 16
            arr = wide.view(np.float32)
        else:
            dt = np.dtype(_ST_DTYPES[kind])
            arr = raw.view(dt).astype(dt.newbyteorder("="))             # kopya
        return arr.reshape(shape)
    return read


def _open_tensors(path, stack) -> dict:
    """name -> DeferredArray of every tensor of the folder (model.safetensors, or the shards
    listed in the index), every file checked before any tensor is read."""
    path = Path(path)
    single = path / WEIGHTS_FILE
    index = path / INDEX_FILE
    if single.is_file():
        return _open_file(single, stack)
    if index.is_file():
        # Bozuk JSON (ör. yarıda kesilmiş bir indirme) "weight_map yok" diye değil, config.json
        # gibi JSON hatasıyla bildirilir: dosyada weight_map'i gören kullanıcıyı yanıltmasın
        try:
            weight_map = _read_json_file(index)["weight_map"]
        except (KeyError, TypeError):
            raise ValueError(f"{index} is not a valid safetensors index (no 'weight_map')") \
                from None
        if not isinstance(weight_map, dict) or not weight_map or not all(
                isinstance(v, str) and v for v in weight_map.values()):
            raise ValueError(f"{index}: 'weight_map' must be a non-empty JSON object mapping "
                             f"tensor names to shard file names")
        tensors = {}
        for shard in sorted(set(weight_map.values())):
            shard_path = path / shard
            if not shard_path.is_file():
                raise ValueError(f"{shard_path} (listed in {index.name}) not found")
            tensors.update(_open_file(shard_path, stack))
        return tensors
    hint = ""
    if (path / "pytorch_model.bin").exists():
        hint = (" (pytorch_model.bin is not read: it is a pickle; re-save the model with "
                "save_pretrained(..., safe_serialization=True))")
    raise ValueError(f"{single} not found{hint}")


def read_hf_tensors(path) -> dict:
    """All tensors of the folder (model.safetensors, or the shards listed in the index)."""
    with contextlib.ExitStack() as stack:
        return {name: t.read() for name, t in _open_tensors(path, stack).items()}


def _is_mask_buffer(name: str) -> bool:
    # Eski dosyalardaki nedensel maske tamponları: h.{i}.attn.bias / h.{i}.attn.masked_bias
    parts = name.split(".")
    return (len(parts) == 4 and parts[0] == "h" and parts[2] == "attn"
            and parts[3] in ("bias", "masked_bias"))


def _is_float64(dtype) -> bool:
    """Whether dtype names float64 (False for anything GPT() would refuse)."""
    try:
        return np.dtype(dtype) == np.float64
    except TypeError:
        return False


def load_hf(path, dtype="float32", device: str = "cpu", dropout: float = 0.0,
            block_size: int | None = None) -> GPT:
    """Build a GPT from a Hugging Face GPT-2 folder (config.json + model.safetensors).

    dtype: "float32" or "float64" (the tensors are converted); device: "cpu" or "cuda";
    dropout: the model's dropout rate (GPT-2's files give none: 0.0 for sampling, a rate for
    fine-tuning). block_size, if smaller than the checkpoint's n_positions, keeps only the
    first block_size position embeddings (shorter contexts: cheaper fine-tuning; the model is
    otherwise the same). The model is returned in eval mode.
    """
    path = Path(path)
    hf_cfg = read_hf_config(path)
    cfg = config_from_hf(hf_cfg, dropout=dropout, source=str(path / CONFIG_FILE))
    n_positions = cfg.block_size
    if block_size is not None:
        if not is_integer(block_size) \
                or not 1 <= block_size <= n_positions:
            raise ValueError(f"block_size must be an integer in [1, {n_positions}] (the "
                             f"checkpoint's n_positions), got {block_size!r}")
        cfg.block_size = block_size
    with contextlib.ExitStack() as stack:
        # Önce bütün dosyalar ve adlar, türler, şekiller (başlıklardan) denetlenir; model
        # ancak hepsi uyuyorsa kurulur ve tensörler ona kopyalanırken tek tek okunur
        raw = _open_tensors(path, stack)
        source = str(path / WEIGHTS_FILE)
        # Önek atılır, maske tamponları yok sayılır
        tensors = {}
        for name, arr in raw.items():
            short = name[len(PREFIX):] if name.startswith(PREFIX) else name
            if _is_mask_buffer(short):
                continue
            if short in tensors:
                raise ValueError(f"{source}: tensor {short!r} appears twice")
            tensors[short] = arr
        del raw
        for name, arr in tensors.items():
            if arr.dtype.kind != "f":
                raise ValueError(f"{source}: tensor {name!r} has dtype {arr.dtype}, expected "
                                 f"floats")
        # Bağlı çıkış katmanı: config.json bağlı diyorsa lm_head.weight (varsa) kullanılmaz
        lm = tensors.pop("lm_head.weight", None)
        if not cfg.tie_weights:
            if lm is None:
                raise ValueError(f"{source}: tensor 'lm_head.weight' is missing "
                                 f"(config.json says tie_word_embeddings=false)")
            tensors["lm_head.weight"] = lm
        wpe = tensors.get("wpe.weight")
        if wpe is not None and cfg.block_size < n_positions and wpe.shape[0] == n_positions:
            # Konum gömmesi kırpılır: ilk block_size konum (nedensel modelde sonrakiler
            # kullanılmaz)
            tensors["wpe.weight"] = wpe.rows(cfg.block_size)
        # Eksik / fazla / yanlış şekilli tensörler: adlarıyla açık hata (load_state_dict'inki),
        # model kurulmadan önce
        advice = (f"{'this GPU' if device == 'cuda' else 'this machine'} cannot hold the "
                  f"model's weights: use one with more memory")
        if _is_float64(dtype):
            advice += ", or load it in float32 (the default; half the memory)"
        with advice_when_too_large(advice):
            shapes = GPT.param_shapes(cfg, dtype, device)
        check_state_dict(shapes, tensors, source)
        # Ağırlıklar üretilmez (sıfır): adlar ve şekiller yukarıda denetlendi, hepsinin üzerine
        # hemen dosyadakiler yazılır (yarıda kalan bir okuma bu modeli döndürmez). Model
        # doğrudan istenen aygıtta kurulur ve her tensör okunur okunmaz oraya kopyalanır:
        # CPU'da kurup sonra `.to(device)` ile taşımak, GPU'ya yüklerken ana bellekte
        # ağırlıkların bütün bir kopyasını (GPT-2 small'da 0,5 GB) tutardı; böylece ana bellekte
        # bir anda yalnızca bir tensör durur
        with advice_when_too_large(advice):
            model = GPT(cfg, seed=0, dtype=dtype, device=device, init_weights=False)
        model.load_state_dict(tensors, source=source)
    return model.eval()


def save_hf(model, path) -> None:
    """Write config.json + model.safetensors in the layout transformers' GPT2LMHeadModel reads.

    The two files are written as a unit (atomic.atomic_write_files): a new folder appears with
    both or not at all; in an existing one a failed write leaves both old files (where a
    failed rename leaves one new file that cannot be undone, the error says which is which).
    """
    if not isinstance(model, GPT):
        raise ValueError(f"only a GPT can be saved as GPT-2, not a {type(model).__name__}")
    hf_cfg = config_to_hf(model.config, dtype=model.dtype)
    stn = _safetensors_numpy()
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} exists and is not a directory")
    if (path / "checkpoint.json").is_file():
        # Bir eğitim klasörü de config.json yazar: üstüne yazmak o eğitimi bozardı
        raise ValueError(f"{path} is a nanograd_llm training run (it has checkpoint.json and "
                         f"its own config.json): save the Hugging Face copy to another folder")
    tensors = {}
    # Ağırlıklar kopyalanmadan yazılır (copy=False: CPU'da düz dizinin görünümleri); 0.8'den
    # eski safetensors yine de her tensörü yazmadan önce bytes'a çevirir: ağırlıkların bir
    # kopyası, paketin kendisinin
    for name, arr in model.state_dict(copy=False).items():
        key = name if name == "lm_head.weight" else PREFIX + name
        tensors[key] = np.ascontiguousarray(to_numpy(arr))
    text = json.dumps(hf_cfg, indent=2, sort_keys=True) + "\n"
    # Ağırlıklar ve ayarlar bir çifttir: ikisi birlikte yazılır (bkz. atomic.atomic_write_files);
    # yarıda kalan bir yazma, yeni ağırlıkların yanında eski config.json bırakmaz
    kept = ("its old files are kept" if (path / WEIGHTS_FILE).exists()
            or (path / CONFIG_FILE).exists() else "nothing was written there")
    try:
        atomic_write_files(path, {
            WEIGHTS_FILE: lambda tmp: stn.save_file(tensors, tmp, metadata={"format": "pt"}),
            CONFIG_FILE: text_writer(text),           # UTF-8, "\n" satır sonları (Windows'ta da)
        })
    except MixedFiles as e:
        # Ad değişikliklerinden biri başarısız oldu ve eski dosya geri konamadı: klasörde
        # yeni ve eski dosyalar yan yana; "eskileri kaldı" demek yanlış olurdu
        raise OSError(f"could not save the GPT-2 copy to {path} ({e.reason}); {e.which()}: "
                      f"the folder holds a mismatched pair, save it again") from None
    except OSError as e:
        # Disk dolu, izin yok…: hata, yazılamayan klasörü ve orada neyin kaldığını söyler
        raise OSError(f"could not save the GPT-2 copy to {path} ({e.strerror or e}); "
                      f"{kept}") from None
    except Exception as e:
        # safetensors kendi hatasını verir (SafetensorError, OSError değil); "…I/O error: No
        # space left on device (os error 28)" gibi bir metnin asıl nedeni alınır
        if type(e).__name__ != "SafetensorError":
            raise
        reason = str(e).split("I/O error:", 1)[-1].strip()
        raise OSError(f"could not save the GPT-2 copy to {path} ({reason}); {kept}") from None


# -- tokenizer + model, for sampling and fine-tuning -----------------------------------------
# ## Belirteçleyici: transformers'ın GPT2Tokenizer'ıyla aynı kimlikler
# Bir GPT-2 klasöründeki belirteçleyici birkaç dosyaya dağılmıştır: BPE'nin kendisi
# (`vocab.json` + `merges.txt`, ya da ikisini birlikte tutan `tokenizer.json`; ikisi de varsa
# `transformers` yalnızca `tokenizer.json`'ı okur, biz de öyle yaparız), sözlüğe sonradan
# eklenmiş belirteçler (`added_tokens.json`, `tokenizer_config.json`'ın
# `added_tokens_decoder`'ı, `tokenizer.json`'ın `added_tokens`'ı) ve özel belirteçlerin adları
# (`special_tokens_map.json` ile `tokenizer_config.json`'daki `bos_token`, `eos_token`,
# `unk_token`, `pad_token`… ve ek özel belirteç listeleri). Eklenmiş ve adı verilmiş her
# belirteç metinde bütün olarak aranır ve bölünmeden tek kimlik olur. bos, eos ya da unk için
# hiçbir dosya bir belirteç vermiyorsa GPT2Tokenizer onun yerine `<|endoftext|>`'i kullanır.
#
# Adı verilen bir belirteç sözlükte de eklenmiş belirteçlerde de yoksa `transformers` onu
# sözlüğün sonuna yeni bir kimlikle ekler. Tek bir belirteç eklenecekse kimliği bellidir
# (sözlüğün son kimliğinden bir fazlası): biz de aynı kimliği veririz. Birden çok belirteç
# eklenecekse kimlikler `transformers`'ın iç sırasına bağlıdır; bu sırayı kopyalamak yerine
# klasör, ilgili dosyaları ve çözümü söyleyen bir hatayla reddedilir. İki dosya aynı görev için
# (ör. eos_token) farklı belirteçler verirse de öyle: hangisinin geçerli olduğunu tahmin
# etmeyiz.
_NAMED_TOKENS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                 "mask_token")
_GPT2_DEFAULT_TOKEN = "<|endoftext|>"       # GPT2Tokenizer's bos, eos and unk unless named
_EXTRA_TOKENS = ("extra_special_tokens", "additional_special_tokens")


def load_hf_tokenizer(path):
    """The folder's tokenizer: one saved by this package (tokenizer_meta.json: its special
    tokens and pattern are kept), else GPT-2's byte-level BPE from tokenizer.json (as recent
    `transformers` versions write; where vocab.json and merges.txt are there too, transformers
    reads tokenizer.json and so do we), or from vocab.json + merges.txt; with the added
    tokens and special tokens `transformers` reads beside them (added_tokens.json,
    tokenizer_config.json, special_tokens_map.json), so that a text gets the ids
    transformers' GPT2Tokenizer gives it. Where those ids cannot be told for sure (several
    special tokens it would append to the vocabulary, or two files naming different tokens),
    the folder is refused with the files and the fix."""
    path = Path(path)
    if (path / "tokenizer_meta.json").is_file():
        from .tokenizers import load_tokenizer
        return load_tokenizer(path)
    vocab_f, merges_f, tj = path / "vocab.json", path / "merges.txt", path / "tokenizer.json"
    if tj.is_file():
        # transformers, tokenizer.json varsa BPE'yi ondan okur; yanındaki vocab.json ve
        # merges.txt'e bakmaz. İkisi birbirini tutmuyorsa (eski bir kopya, elle düzenlenmiş bir
        # dosya) vocab.json'ı okumak aynı metni sessizce başka kimliklere kodlardı.
        base, merge_lines = _split_tokenizer_json(tj)
        # Sözlük ve birleştirmeler bellekte kalır (BPETokenizer.from_vocab): geçici dosya yok.
        # Hata, kullanıcının dosyasını adlandırır: "tokenizer.json: its model.merges:3: …"
        return _with_added_tokens(
            path, base, "#version: 0.2\n" + "\n".join(merge_lines) + "\n", tj,
            f"{tj}'s model.vocab", "tokenizer.json's model.vocab",
            "tokenizer.json's added_tokens",
            names=("its model.vocab", "its model.merges", f"{tj}: "))
    if vocab_f.is_file() and merges_f.is_file():
        try:
            base = load_json(vocab_f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            base = None
        if not isinstance(base, dict):
            return _bpe_class().from_files(vocab_f, merges_f)   # it names what is wrong
        return _with_added_tokens(path, base, merges_f, vocab_f, str(vocab_f), vocab_f.name,
                                  "added_tokens.json")
    missing = vocab_f if not vocab_f.is_file() else merges_f
    raise ValueError(f"{missing} not found: the GPT-2 tokenizer needs vocab.json and "
                     f"merges.txt (or tokenizer.json) in {path}")


def _with_added_tokens(path: Path, base: dict, merges, source: Path, vocab_is: str,
                       vocab_name: str, add_where: str, names=None):
    """_gpt2_tokenizer for the BPE vocabulary `base` (vocab.json's, or tokenizer.json's
    model.vocab) with the folder's added tokens put in, as transformers numbers them.
    merges: the merges.txt file, or its text (tokenizer.json's model.merges)."""
    added = _added_tokens(path)
    vocab = dict(base)
    for tok, i in added.items():
        if vocab.setdefault(tok, i) != i:
            raise ValueError(f"added token {tok!r} has id {i} but {vocab_is} gives it "
                             f"{vocab[tok]}")
    # Önce BPE'nin kendisi kurulur: bozuk bir sözlüğün ya da birleştirmenin hatası (asıl
    # neden) kimlik numaralamasından önce söylenir
    tok = _gpt2_tokenizer(path, vocab, merges, list(added), source, add_where,
                          unchanged=vocab == base and source.name == "vocab.json",
                          names=names)
    # `transformers`, BPE sözlüğünde olmayan eklenmiş belirteçlere dosyadaki kimliği değil,
    # sözlüğün sonundan başlayarak, dosyadaki kimliklerin sırasıyla yeni kimlik verir;
    # ikisi ayrışırsa (elle düzenlenmiş bir dosya) aynı metin iki tarafta başka kimliklere
    # kodlanırdı
    new = sorted((i, t) for t, i in added.items() if t not in base)
    for k, (i, t) in enumerate(new):
        if i != len(base) + k:
            raise ValueError(f"{path}: added token {t!r} has id {i}, but transformers "
                             f"numbers the added tokens {vocab_name} lacks from "
                             f"{len(base)} (its size) on, in the order of their ids, so it "
                             f"gets {len(base) + k}; renumber the added tokens from "
                             f"{len(base)} on")
    return tok


def _gpt2_tokenizer(path: Path, vocab: dict, merges, added: list, source: Path,
                    add_where: str, unchanged: bool = False, names=None):
    """The BPETokenizer transformers' GPT2Tokenizer amounts to: `vocab` (added tokens
    included), `added` and the named special tokens matched whole, a named token the vocabulary
    lacks appended as transformers appends it (or the folder refused where its id is unsure).
    merges: the merges.txt file or its text; names: (vocab, merges, prefix) for the messages
    where they are not files (default: '{source} (with its added tokens)', the merges file)."""
    for tok, i in vocab.items():
        if not is_integer(i) or i < 0:
            raise ValueError(f"{source}: id of token {tok!r} must be a non-negative integer, "
                             f"got {i!r}")
    files = _token_files(path)
    _check_encode_options(files)
    files = _skip_unread_map(files, added)
    # Adı verilen bir özel belirtecin bayrakları, yalnızca belirteç eklenmiş belirteçler
    # arasında yoksa geçerlidir (varsa transformers eklenmiş belirtecin kendi nesnesini kullanır)
    for f, data in files:
        for key in (*_NAMED_TOKENS, *_EXTRA_TOKENS, *_model_token_keys([(f, data)])):
            v = data.get(key)
            items = (v if isinstance(v, list) else list(v.values()) if isinstance(v, dict)
                     and key in _EXTRA_TOKENS else [v])
            for t in items:
                if isinstance(t, dict) and t.get("content") not in added:
                    _refuse_token_flags(f, key, t)
    whole = list(dict.fromkeys(added))
    appended = []
    for tok, why in _named_special_tokens(files):
        if tok in vocab:
            # Sözlükteki bir belirteç (ör. <s>, ya da bir bayt olan unk_token "!") de metinde
            # bütün olarak aranır; birleştirmelerin parçasıysa BPE'de de kalır (from_files)
            if tok not in whole:
                whole.append(tok)
        elif tok not in (t for t, _ in appended):
            appended.append((tok, why))
    n = len(vocab)
    if appended:
        one = len(appended) == 1
        listing = ", ".join(f"{tok!r} ({why})" for tok, why in appended)
        says = (f"{path}: transformers appends {listing} to the vocabulary, as "
                f"{'it is' if one else 'they are'} in neither {source.name} nor the folder's "
                f"added tokens")
        fix = (f"list {'it' if one else 'each'} with its id in {add_where}, or have "
               f"special_tokens_map.json and tokenizer_config.json name tokens the vocabulary "
               f"holds (null for none)")
        if not one:
            raise ValueError(f"{says}; their ids (from {n} on) follow an order of its own, "
                             f"which the model may not have: {fix}")
        ids = set(vocab.values())
        if len(ids) == n and ids != set(range(n)):
            raise ValueError(f"{says}; the ids of {source.name} leave gaps, so which id it "
                             f"gets cannot be told: {fix}")
        if len(ids) == n:                # else two tokens share an id: from_files says so
            tok = appended[0][0]
            vocab = {**vocab, tok: n}
            whole.append(tok)
            unchanged = False
    _refuse_overlaps_across_passes(path, whole)
    bpe = _bpe_class()
    # Dosyadaki sözlük olduğu gibi kullanılıyorsa (unchanged) iletiler yalnızca dosyayı
    # adlandırır. Sözlük her iki durumda da bellekte olandır: vocab.json (GPT-2'de 1 MB) eskiden
    # from_files ile bir kez daha okunup ayrıştırılırdı
    vocab_is, merges_is, prefix = names or (
        source if unchanged else f"{source} (with its added tokens)", merges, "")
    # Sözlük (eklenmiş belirteçleriyle) bellekte kurulur, diske yazılmaz: sistemin geçici
    # klasörüne yazılan bir vocab.json, o klasör dolu ya da yazılamaz olduğunda `sample --hf`
    # komutunu yalnızca "[Errno 28]" diyen bir hatayla durdururdu
    try:
        return bpe.from_vocab(vocab, merges, special_tokens=whole, vocab_json=vocab_is,
                              merges_txt=merges_is)
    except ValueError as e:
        raise ValueError(f"{prefix}{e}") from None


def _read_json_file(f: Path):
    """The JSON in f, or None when there is no such file."""
    if not f.is_file():
        return None
    try:
        return load_json(f.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{f} is not valid JSON: {e}") from None


def _added_tokens(path: Path) -> dict:
    """Tokens `transformers` keeps outside the BPE vocabulary (content -> id), from the files it
    reads: tokenizer_config.json's added_tokens_decoder where it has one, else added_tokens.json
    and tokenizer.json's added_tokens. A token that a file it skips lists otherwise is refused."""
    # transformers 5, tokenizer_config.json'da added_tokens_decoder varsa eklenmiş belirteçleri
    # yalnızca oradan okur: added_tokens.json'a ve tokenizer.json'ın added_tokens'ına bakmaz
    # (special_tokens_map.json'a da: bkz. _skip_unread_map). O dosyalardaki bir belirteci biz
    # okusaydık metin iki tarafta başka kimliklere kodlanırdı; yok saysaydık dosyayı elle
    # düzenleyen kullanıcı, düzenlemesinin neden işe yaramadığını anlamazdı. Bu yüzden öteki
    # dosyalar added_tokens_decoder'la aynı şeyi söylemiyorsa klasör reddedilir.
    lists = []          # (file, key, [(content, id)]) of each file that lists added tokens

    def check(f, key, content, i):
        where = f"{f}: {key}" if key else str(f)
        if not (isinstance(content, str) and content and isinstance(i, int)
                and not isinstance(i, bool) and i >= 0):
            raise ValueError(f"{where}: an added token must be a non-empty string with a "
                             f"non-negative integer id, got {shown(content)}: {shown(i)}")
        if not is_unicode(content):
            raise ValueError(f"{where}: added token {shown(content)} holds a lone surrogate, "
                             f"which is not valid Unicode (UTF-8 cannot encode it)")
        return content, i

    f = path / "added_tokens.json"
    data = _read_json_file(f)
    if data is not None:
        if not isinstance(data, dict):
            raise ValueError(f"{f} must hold a JSON object token -> id")
        lists.append((f, None, [check(f, None, c, i) for c, i in data.items()]))
    objects = []        # (file, key, token object) of the files that give each token's flags
    f = path / "tokenizer_config.json"
    data = _read_json_file(f)
    dec = data.get("added_tokens_decoder") if isinstance(data, dict) else None
    if dec is not None:
        if not isinstance(dec, dict) or not all(isinstance(v, dict) for v in dec.values()):
            raise ValueError(f"{f}: added_tokens_decoder must map ids to token objects")
        lists.append((f, "added_tokens_decoder", [
            check(f, "added_tokens_decoder", t.get("content"),
                  int(i) if str(i).isdigit() else i) for i, t in dec.items()]))
        objects = [(f, "added_tokens_decoder", t) for t in dec.values()]
    f = path / "tokenizer.json"
    data = _read_json_file(f)
    added = data.get("added_tokens") if isinstance(data, dict) else None
    if added is not None:
        if not isinstance(added, list) or not all(isinstance(t, dict) for t in added):
            raise ValueError(f"{f}: added_tokens must be a list of token objects")
        lists.append((f, "added_tokens", [check(f, "added_tokens", t.get("content"), t.get("id"))
                                          for t in added]))
        if dec is None:
            objects = [(f, "added_tokens", t) for t in added]
    for f, key, t in objects:
        _refuse_token_flags(f, f"{key}: added token", t)
    read = [x for x in lists if x[1] == "added_tokens_decoder"] or lists
    found: dict = {}
    for f, _, tokens in read:
        for content, i in tokens:
            if found.setdefault(content, i) != i:
                raise ValueError(f"{f}: added token {content!r} has id {i}, another file gives "
                                 f"it {found[content]}")
    for f, key, tokens in lists:
        if (f, key, tokens) in read:
            continue
        for content, i in tokens:
            if found.get(content) != i:
                says = (f"gives it id {found[content]}" if content in found else
                        "does not list it")
                raise ValueError(
                    f"{f}{': ' + key if key else ''} lists the added token {content!r} (id "
                    f"{i}), but transformers reads only the added_tokens_decoder of "
                    f"tokenizer_config.json, which {says}; list it there with that id, or "
                    f"remove it from {f.name}")
    return found


# Eklenmiş bir belirtecin (AddedToken) transformers'ın uyguladığı, bizim BPE'mizin ise
# taklit etmediği bayrakları: metindeki eşleşmeyi değiştirirler. `normalized` burada etkisizdir
# (GPT2Tokenizer metni normalleştirmez), `special` da kimlikleri değiştirmez.
_TOKEN_FLAGS = {
    "lstrip": "takes the whitespace before it into the token (' <|x|>' is one token)",
    "rstrip": "takes the whitespace after it into the token ('<|x|> ' is one token)",
    "single_word": "matches it only where it is not part of a word ('a<|x|>b' is split as "
                   "ordinary text)",
}


def _refuse_token_flags(f: Path, what: str, t) -> None:
    """Refuse a token object whose lstrip, rstrip or single_word is set: transformers honours
    them when it matches the token in a text; our BPETokenizer matches it as written."""
    # Bu kurallar taklit edilebilirdi, ama ayrıntıları (hangi karakterin boşluk, hangisinin
    # sözcük harfi sayıldığı, özel ve sıradan eklenmiş belirteçlerin hangi sırayla arandığı)
    # `tokenizers` kütüphanesinin Rust koduna bağlıdır; ayrıca eğitim klasörüne kaydedilen
    # belirteçleyici bu bayrakları taşımaz. Yarım bir taklit sessizce başka kimlikler
    # verirdi: böyle bir belirteç açık bir hatayla reddedilir.
    if not isinstance(t, dict):
        return
    for flag, does in _TOKEN_FLAGS.items():
        if t.get(flag):
            raise ValueError(f"{f}: {what} {shown(t.get('content'))} has {flag} true: "
                             f"transformers then {does}; nanograd_llm's GPT-2 tokenizer "
                             f"matches added and special tokens exactly as written, so set "
                             f"{flag} to false")


def _token_string(f: Path, key: str, v):
    """A special token as special_tokens_map.json / tokenizer_config.json write it: a string,
    an object with its 'content' (AddedToken), or null/"" for none."""
    if isinstance(v, dict):
        v = v.get("content")
    if v is None or v == "":
        return None
    if not isinstance(v, str):
        raise ValueError(f"{f}: {key} must be a token (a string, or an object with its "
                         f"'content'), got {type(v).__name__}")
    if not is_unicode(v):
        raise ValueError(f"{f}: {key} {shown(v)} holds a lone surrogate, which is not valid "
                         f"Unicode (UTF-8 cannot encode it)")
    return v


def _token_files(path: Path) -> list:
    """[(file, its JSON object)] for the folder's special_tokens_map.json and
    tokenizer_config.json, those that exist."""
    files = []
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        f = path / name
        data = _read_json_file(f)
        if data is not None and not isinstance(data, dict):
            raise ValueError(f"{f} must hold a JSON object")
        if data is not None:
            files.append((f, data))
    return files


def _skip_unread_map(files: list, added: list) -> list:
    """`files` less special_tokens_map.json where transformers does not read it: when
    tokenizer_config.json has an added_tokens_decoder. A special token named only there, and
    not an added token, is refused (transformers would split it where we would not)."""
    # Böyle bir klasörde special_tokens_map.json'ın adlandırdığı belirteç transformers için
    # özel değildir: eklenmiş bir belirteç de değilse BPE'yle parçalara bölünür
    names = {f.name: (f, data) for f, data in files}
    cfg = names.get("tokenizer_config.json")
    stm = names.get("special_tokens_map.json")
    if cfg is None or stm is None or cfg[1].get("added_tokens_decoder") is None:
        return files
    read = {tok for tok, _ in _named_special_tokens([cfg])}
    for tok, why in _named_special_tokens([stm]):
        if stm[0].name in why and tok not in read and tok not in added:
            raise ValueError(f"{stm[0]} names {tok!r} ({why}), but transformers does not read "
                             f"special_tokens_map.json when tokenizer_config.json has an "
                             f"added_tokens_decoder, and reads {tok!r} in a text as "
                             f"ordinary text; "
                             f"name it in tokenizer_config.json too, or remove it from "
                             f"special_tokens_map.json")
    return [cfg]


# tokenizer_config.json'ın, GPT2Tokenizer'ın metni kodlama biçimini değiştiren ayarları
_ENCODE_OPTIONS = {
    "add_prefix_space": "reads every text with a space before it ('Hi' as ' Hi')",
    "add_bos_token": "puts its bos_token before every text it encodes (write it into the "
                     "text where it belongs instead)",
    "add_eos_token": "puts its eos_token after every text it encodes (write it into the "
                     "text where it belongs instead)",
    "split_special_tokens": "encodes the special tokens in a text as ordinary text ('<|x|>' "
                            "as byte pieces, not its one id)",
}


def _check_encode_options(files: list) -> None:
    """Refuse tokenizer_config.json settings under which transformers encodes a text to other
    ids than GPT-2's BPE does (tokenizer.json's own settings: _check_tokenizer_json_options)."""
    # Bu ayarlar açıkken `transformers` aynı metni başka kimliklere kodlar (başa boşluk, başa ya
    # da sona bir özel belirteç ekleyerek ya da özel belirteçleri sıradan metin gibi bölerek);
    # yok sayılsalardı örnekleme ve ince ayar, modelin
    # eğitimde gördüğünden farklı girdiler alırdı
    for f, data in files:
        for key, does in _ENCODE_OPTIONS.items():
            if data.get(key) is True:
                raise ValueError(f"{f}: {key} is true: transformers then {does}; "
                                 f"nanograd_llm's GPT-2 tokenizer does not, so set it to false")


def _named_special_tokens(files: list) -> list:
    """(token, where it is named) for each special token GPT2Tokenizer has in this folder:
    bos, eos, unk, sep, pad, cls, mask (special_tokens_map.json or tokenizer_config.json;
    <|endoftext|> for bos, eos and unk that neither names), a model's own named tokens
    (image_token…), then the extra special tokens."""
    out: list = []

    def put(tok, why):
        if tok is not None and tok not in (t for t, _ in out):
            out.append((tok, why))

    for key in (*_NAMED_TOKENS, *_model_token_keys(files)):
        given = {f: _token_string(f, key, data[key]) for f, data in files
                 if key in data and (key in _NAMED_TOKENS or _names_a_token(f, data[key]))}
        if len(set(given.values())) > 1:
            (fa, a), (fb, b) = given.items()
            raise ValueError(f"{fa} and {fb.name} name different tokens as {key} ({a!r} and "
                             f"{b!r}); make them agree")
        if given:
            f, tok = next(iter(given.items()))
            put(tok, f"{key} in {f.name}")
        elif key in ("bos_token", "eos_token", "unk_token"):
            put(_GPT2_DEFAULT_TOKEN, "GPT2Tokenizer's default bos/eos/unk token")
    lists = {}
    for f, data in files:
        for key in _EXTRA_TOKENS:
            if key not in data:
                continue
            v = data[key]
            items = (list(v.values()) if isinstance(v, dict) else v if isinstance(v, list)
                     else [] if v is None else None)
            if items is None:
                raise ValueError(f"{f}: {key} must be a list of tokens, got "
                                 f"{type(v).__name__}")
            lists[(f, key)] = [t for t in (_token_string(f, key, x) for x in items) if t]
    if len({frozenset(v) for v in lists.values()}) > 1:
        ((fa, ka), a), ((fb, kb), b) = list(lists.items())[:2]
        if set(a) == set(b):
            ((fb, kb), b) = next(item for item in lists.items() if set(item[1]) != set(a))
        raise ValueError(f"{fa}'s {ka} and {fb.name}'s {kb} list different special tokens "
                         f"({a!r} and {b!r}); make them agree")
    for (f, key), toks in lists.items():
        for tok in toks:
            put(tok, f"{key} in {f.name}")
    return out


# ## Eklenmiş belirteçler iki geçişte aranır
# transformers 5'in GPT2Tokenizer'ı (arkasındaki `tokenizers` kütüphanesi) eklenmiş ve özel
# belirteçleri metinde iki geçişte arar: önce `normalized` bayrağı false olanları, ardından
# kalan parçalarda true olanları. Biz hepsini tek geçişte, en soldaki en uzun eşleşmeyle ararız.
# İki yol çoğu zaman aynı bölmeyi verir: ilk geçişin bir belirteci (E) ile ikinci geçişin bir
# belirteci (S) bir metinde örtüştüğünde E, S'den önce başlıyorsa ya da aynı yerde başlayıp
# daha uzunsa iki yol da E'yi seçer (S, E'nin içinde geçer ya da E'nin sonu S'nin başıdır).
# Ayrıştıkları iki durum kalır: E, S'nin içinde geçer, ya da S'nin sonu E'nin başıdır (ve o
# yerde S'den uzun bir belirteç başlamaz); o zaman S önce başlar, tek geçiş onu, transformers
# ise E'yi seçer. `<a>` (normalized false) ve `x<a`
# (true) için `x<a>` metninde transformers önce `<a>`'yı bulur (`x` + `<a>`), biz `x<a` + `>`
# deriz. Bayrağın son değerini transformers birkaç dosyadan, kendi sırasıyla
# kurar (added_tokens.json'daki bir belirteç özel değilse normalized olur; adı verilen bir
# belirteç özel sayılınca, bayrağı belirtilmemişse false olur…); `_transformers_normalized`
# bu yolu adım adım izler. Ayrışan iki belirteci taşıyan klasör açık bir hatayla reddedilir.
class _Added(NamedTuple):
    """An AddedToken as transformers holds it; normalized None: not set (then `not special`)."""
    content: object
    special: bool
    normalized: object


def _added(d: dict, special=None) -> _Added:
    """AddedToken(**d), or AddedToken(**d, special=True) where special is True."""
    return _Added(d.get("content"), bool(d.get("special", False)) if special is None else special,
                  d.get("normalized"))


def _as_text(v):
    """str(v) as transformers compares it with a token's text: a string or an AddedToken's
    content (a JSON object it has not made an AddedToken matches nothing)."""
    return v.content if isinstance(v, _Added) else v if isinstance(v, str) else None


def _converted(v):
    """transformers' convert_added_tokens: objects marked "__type": "AddedToken" become
    AddedTokens, in lists and objects too."""
    if isinstance(v, dict) and v.get("__type") == "AddedToken":
        return _added(v)
    if isinstance(v, list):
        return [_converted(x) for x in v]
    if isinstance(v, dict):
        return {k: _converted(x) for k, x in v.items()}
    return v


def _transformers_normalized(path: Path) -> dict:
    """token -> its normalized flag in transformers 5's GPT2Tokenizer, for each added and
    special token it holds: the steps of its from_pretrained and TokenizersBackend.__init__."""
    tc = _read_json_file(path / "tokenizer_config.json")
    kw = dict(tc) if isinstance(tc, dict) else {}
    if "additional_special_tokens" in kw and not kw.get("extra_special_tokens"):
        kw["extra_special_tokens"] = kw.pop("additional_special_tokens")
    own = {k: kw.pop(k) for k in list(kw) if isinstance(k, str) and k.endswith("_token")
           and k not in _NAMED_TOKENS and isinstance(kw[k], str)}
    if isinstance(kw.get("extra_special_tokens"), dict):
        own.update(kw.pop("extra_special_tokens"))
    decoder: dict = {}
    if isinstance(kw.get("added_tokens_decoder"), dict):
        for i, t in kw.pop("added_tokens_decoder").items():
            decoder[int(i)] = _added(t)
    else:
        kw.pop("added_tokens_decoder", None)
        stm = _read_json_file(path / "special_tokens_map.json")
        for key, v in (stm.items() if isinstance(stm, dict) else ()):
            if isinstance(v, dict) and key != "extra_special_tokens":
                v = _added(v, special=True)
            elif key == "extra_special_tokens" and isinstance(v, list):
                have = list(kw.get("extra_special_tokens") or [])
                for t in v:
                    t = _added(t, special=True) if isinstance(t, dict) else t
                    if t not in have:
                        have.append(t)
                v = have
            kw[key] = v
        if isinstance(kw.get("extra_special_tokens"), dict):
            own.update(kw.pop("extra_special_tokens"))
        atj = _read_json_file(path / "added_tokens.json")
        if isinstance(atj, dict):
            named = {_as_text(kw[k]) for k in _NAMED_TOKENS if kw.get(k)}
            named |= {_as_text(t) for t in kw.get("extra_special_tokens") or []}
            for tok, i in atj.items():
                decoder[i] = _Added(tok, tok in named, tok not in named)
        tj = _read_json_file(path / "tokenizer.json")
        for t in (tj.get("added_tokens") or [] if isinstance(tj, dict) else []):
            decoder[t.get("id")] = _added(t)
    kw = _converted(kw)
    # Bir modelin kendi adlı belirteçleri (extra_special_tokens nesnesinden ya da *_token
    # anahtarlarından) de AddedToken'a çevrilir: bayrakları (normalized) korunur
    own = _converted(own)
    if "additional_special_tokens" in kw and "extra_special_tokens" not in kw:
        kw["extra_special_tokens"] = kw.pop("additional_special_tokens")
    extra = kw.get("extra_special_tokens")
    if isinstance(extra, dict):
        own = {**extra, **own}
    extra = extra if isinstance(extra, list) else []
    # GPT2Tokenizer's named tokens (bos, eos, unk default to <|endoftext|>), then a model's own
    own = {**{k: v for k, v in kw.items() if isinstance(k, str) and k.endswith("_token")
              and k not in _NAMED_TOKENS and isinstance(v, (str, _Added))}, **own}
    named = [kw.get(k, _GPT2_DEFAULT_TOKEN if k in ("bos_token", "eos_token", "unk_token")
                    else None) for k in _NAMED_TOKENS] + list(own.values())
    add = [decoder[i] for i in sorted(decoder)]
    have = [t.content for t in add]
    for v in named + extra:
        if v is not None and _as_text(v) not in have and v not in add:
            add.append(v)
    names = {_as_text(v) for v in named if v}
    flags = {}
    for t in add:       # each one added in turn: a later one sets the flags of the same text
        if isinstance(t, str):
            t = _Added(t, True, None)
        elif not isinstance(t, _Added) or not isinstance(t.content, str):
            continue
        special = t.special or t.content in names
        flags[t.content] = bool(t.normalized) if t.normalized is not None else not special
    return flags


def _refuse_overlaps_across_passes(path: Path, whole: list) -> None:
    """Refuse two of the tokens matched whole that transformers looks for in different passes
    (normalized false first, then true) where that gives other ids than one pass: see above."""
    if len(whole) < 2:
        return
    flags = _transformers_normalized(path)
    first = [t for t in whole if not flags.get(t, False)]
    later = [t for t in whole if flags.get(t, False)]
    if not first or not later:
        return
    found = _an_overlap(first, later)
    if found:
        a, b, text = found
        raise ValueError(
            f"{path}: the tokens {a!r} and {b!r} overlap in a text such as {text!r}, and "
            f"transformers looks for them in two passes, first those with normalized false "
            f"({a!r}), then in what is left those with normalized true ({b!r}), whichever "
            f"comes first in the text; nanograd_llm's GPT-2 tokenizer takes the longest token "
            f"that starts first, so the ids would differ: give both the same normalized flag "
            f"(false for a special token; a token only added_tokens.json lists is normalized "
            f"unless a file names it as a special token), or remove one")


def _an_overlap(first: list, later: list):
    """(a, b, a text where they give other ids) for a token a of `first` and b of `later`
    whose matches in two passes differ from one pass's in some text: a inside b (the text b),
    or b ending where a starts (the text b + the rest of a), where no token longer than b starts
    that text. (Not b inside a, nor a ending where b starts: there a starts first, or at the
    same place and longer, and both ways take it.)"""
    # Tek geçişle iki geçişin ilk ayrıştığı yerde tek geçiş, ikinci geçişin bir S belirtecini
    # seçmiştir (o yerde başlayan en uzun belirteç), transformers ise S'yle örtüşen bir E'yi:
    # E ya S'nin içindedir ya da S'nin sonu E'nin başıdır. O yerden E'nin sonuna kadarki metin
    # de ayrışır; bu yüzden yalnızca bu kısa metinler denenir
    for b in later:
        for a in first:
            if a in b:
                return a, b, b
    starts: dict = {}                       # a'ların başları (önekleri) -> o a'lar
    for a in first:
        for k in range(1, len(a)):
            starts.setdefault(a[:k], []).append(a)
    tokens = first + later
    for b in later:
        for k in range(1, len(b)):
            for a in starts.get(b[k:], ()):
                text = b + a[len(b) - k:]
                if not any(len(t) > len(b) and text.startswith(t) for t in tokens):
                    return a, b, text
    return None


def _names_a_token(f: Path, v) -> bool:
    """Whether a model's own *_token key of `f` names a token transformers makes special: a
    string, or a token object (in tokenizer_config.json only one marked "__type": "AddedToken",
    as transformers reads no other object there)."""
    return isinstance(v, str) or (isinstance(v, dict) and (
        f.name == "special_tokens_map.json" or v.get("__type") == "AddedToken"))


def _model_token_keys(files: list) -> list:
    """The keys ending in _token, besides bos_token … mask_token, with which these files name
    a token: transformers 5 makes each such token special, as it does a pad_token."""
    # transformers 5, tokenizer_config.json ve special_tokens_map.json'daki `_token` ile biten
    # her anahtarı (ör. çok kipli modellerin image_token'ı) adlandırılmış bir özel belirteç
    # sayar: metinde bütün olarak aranır, sözlükte yoksa sona eklenir
    keys: list = []
    for f, data in files:
        for key, v in data.items():
            if (isinstance(key, str) and key.endswith("_token") and key not in _NAMED_TOKENS
                    and key not in keys and _names_a_token(f, v)):
                keys.append(key)
    return keys


def _bpe_class():
    try:
        from .tokenizers.bpe import BPETokenizer
    except ImportError as e:
        raise RuntimeError("the GPT-2 tokenizer needs nanograd_llm.tokenizers.bpe and its "
                           'extra (pip install regex; in a source checkout: '
                           'pip install -e ".[bpe]"): ' + str(e)) from None
    return BPETokenizer


def _split_tokenizer_json(f: Path):
    """The vocabulary of the BPE model (its added tokens are read by _added_tokens) and the
    merges ("a b" lines) of a `tokenizers` tokenizer.json."""
    data = _read_json_file(f)             # bozuk JSON, dizindeki gibi kendi iletisiyle
    try:
        model = data["model"]
        vocab, merges = model["vocab"], model["merges"]
    except (KeyError, TypeError):
        raise ValueError(f"{f} is not a tokenizer.json with a BPE model") from None
    if model.get("type", "BPE") != "BPE" or not isinstance(vocab, dict):
        raise ValueError(f"{f} does not hold a BPE model")
    _check_tokenizer_json_options(f, data, model)
    # Birleştirmeler "a b" dizeleri ya da [a, b] çiftleri olarak saklanabilir
    if not isinstance(merges, list) or not all(
            isinstance(m, str) or (isinstance(m, list) and len(m) == 2
                                   and all(isinstance(t, str) for t in m)) for m in merges):
        raise ValueError(f"{f}: model.merges must be a list of \"a b\" strings or [a, b] "
                         f"pairs of strings")
    lines = [m if isinstance(m, str) else " ".join(m) for m in merges]
    return vocab, lines


def _check_tokenizer_json_options(f: Path, data: dict, model: dict) -> None:
    """Refuse a tokenizer.json whose settings our GPT-2 BPE cannot reproduce."""
    # Bizim BPE'miz GPT-2'ninkidir: metin değiştirilmeden (normalleştirici yok), GPT-2'nin
    # düzenli ifadesiyle ve başına boşluk eklenmeden bölünür; her parçaya birleştirmeler
    # öğrenildikleri sırayla uygulanır. Metni değiştiren bir normalleştirici (ör. küçük harfe
    # çevirme), `add_prefix_space: true`, başka bir ön belirteçleyici, metnin başına ya da
    # sonuna belirteç koyan bir son işlemci (post_processor) ya da BPE modelinin dropout, sözcük
    # içi parça öneki, sözcük sonu eki ve ignore_merges ayarları yok sayılsaydı aynı metin
    # sessizce başka kimliklere kodlanırdı; bu yüzden böyle bir dosya açık bir
    # hatayla reddedilir.
    norm = data.get("normalizer")
    if norm is not None and not (isinstance(norm, dict) and norm.get("type") == "Sequence"
                                 and norm.get("normalizers") == []):
        kind = norm.get("type") if isinstance(norm, dict) else norm
        raise ValueError(f"{f}: normalizer {kind!r} is not supported (GPT-2's byte-level BPE "
                         f"reads the text unchanged)")
    pre = data.get("pre_tokenizer")
    if not (isinstance(pre, dict) and pre.get("type") == "ByteLevel"
            and pre.get("add_prefix_space") is False and pre.get("use_regex", True) is True):
        raise ValueError(f"{f}: pre_tokenizer {pre!r} is not supported (only GPT-2's: "
                         f"ByteLevel with add_prefix_space false and use_regex true)")
    post = data.get("post_processor")
    if not _adds_no_tokens(post):
        kind = post.get("type") if isinstance(post, dict) else post
        raise ValueError(f"{f}: post_processor {shown(kind)} is not supported: transformers puts "
                         f"the tokens it names around every text it encodes; nanograd_llm's "
                         f"GPT-2 tokenizer does not, so remove it (or keep a ByteLevel one, or a "
                         f"TemplateProcessing whose single template is $A alone)")
    dropout = model.get("dropout")
    bad = {}
    if dropout is not None and (isinstance(dropout, bool) or dropout != 0):
        bad["dropout"] = dropout
    for key in ("continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(key) not in (None, ""):
            bad[key] = model[key]
    if model.get("ignore_merges", False) is not False:
        bad["ignore_merges"] = model["ignore_merges"]
    if bad:
        key, v = next(iter(bad.items()))
        raise ValueError(f"{f}: model.{key}={v!r} is not supported (GPT-2's BPE has no "
                         f"dropout, no subword prefix or suffix and applies every merge)")


def _adds_no_tokens(post) -> bool:
    """Whether a tokenizer.json post_processor leaves the ids of a text as they are: none,
    ByteLevel (it only moves offsets), a TemplateProcessing whose single template is $A alone
    (as transformers 5 writes it), or a Sequence of these."""
    # Bert/RobertaProcessing ve belirteç içeren bir TemplateProcessing, transformers'ın
    # kodladığı her metnin başına ya da sonuna özel belirteçler koyar (ör. "<|endoftext|> $A")
    if post is None:
        return True
    if not isinstance(post, dict):
        return False
    kind = post.get("type")
    if kind == "ByteLevel":
        return True
    if kind == "TemplateProcessing":
        single = post.get("single")
        return (isinstance(single, list) and len(single) == 1 and isinstance(single[0], dict)
                and isinstance(single[0].get("Sequence"), dict)
                and single[0]["Sequence"].get("id") == "A")
    if kind == "Sequence":
        steps = post.get("processors")
        return isinstance(steps, list) and all(_adds_no_tokens(x) for x in steps)
    return False


def _numbered_tokens(path: Path) -> set:
    """The tokens whose ids the folder's files give (the BPE vocabulary and the added tokens),
    as opposed to the special tokens transformers appends itself."""
    try:
        tj = path / "tokenizer.json"
        vocab = _split_tokenizer_json(tj)[0] if tj.is_file() else \
            _read_json_file(path / "vocab.json")
        return set(vocab if isinstance(vocab, dict) else ()) | set(_added_tokens(path))
    except (OSError, ValueError):
        return set()


def init_from_hf(path, dtype="float32", device: str = "cpu", dropout: float = 0.0,
                 block_size: int | None = None):
    """(model, tokenizer) from a Hugging Face GPT-2 folder: the starting point for sampling
    (`sample --hf DIR`) and fine-tuning (`train --init-from DIR`). The model is returned in
    eval mode; call model.train() before training. block_size: see load_hf."""
    model = load_hf(path, dtype=dtype, device=device, dropout=dropout, block_size=block_size)
    tok = load_hf_tokenizer(path)
    n_tok = getattr(tok, "vocab_size", None)
    if n_tok is None:
        try:
            n_tok = len(tok)
        except TypeError:
            n_tok = None
    if n_tok is not None and n_tok > model.vocab_size:
        msg = f"the tokenizer in {path} has {n_tok} tokens but the model only {model.vocab_size}"
        extra = sorted((i, t) for t, i in getattr(tok, "special_tokens", {}).items()
                       if i >= model.vocab_size)
        if extra and not (Path(path) / "tokenizer_meta.json").is_file():
            # Fazlalığın iki kaynağı vardır. (1) Klasörün dosyaları belirtece kendileri bir
            # kimlik verir (sözlük ya da eklenmiş belirteçler): belirteçleyiciye sonradan
            # belirteç eklenmiş, modelin gömme tablosu büyütülmeden kaydedilmiştir (transformers'ta
            # resize_token_embeddings unutulmuş). (2) transformers, sözlükte olmayan bir özel
            # belirteci (ör. varsayılan <|endoftext|>) kendisi sona ekler
            listed = _numbered_tokens(Path(path))
            numbered = [(i, t) for i, t in extra if t in listed]
            appended = [(i, t) for i, t in extra if t not in listed]
            # İkisi bir arada da olabilir (eklenmiş bir belirteç ve transformers'ın eklediği
            # <|endoftext|>): ileti ikisini de söyler, yoksa önerilen düzeltme yetmezdi
            if numbered:
                shown = ", ".join(f"{t!r} (id {i})" for i, t in numbered)
                msg += (f": the model has no row for {shown}, which the folder's tokenizer "
                        f"files number themselves: tokens added to the tokenizer after the "
                        f"model was saved (in transformers, "
                        f"model.resize_token_embeddings(len(tokenizer)) before save_pretrained "
                        f"gives them rows); use a model with a row for each, or remove "
                        f"{'it' if len(numbered) == 1 else 'them'} from the tokenizer files")
            if appended:
                shown = ", ".join(f"{t!r} (id {i})" for i, t in appended)
                lead = "; it has no row either" if numbered else ": the model has no row"
                msg += (f"{lead} for {shown}, a special token the vocabulary lacks that "
                        f"transformers' GPT2Tokenizer appends too; have "
                        f"special_tokens_map.json and tokenizer_config.json name tokens the "
                        f"vocabulary holds (null for none: bos_token, eos_token and unk_token "
                        f"default to '<|endoftext|>'), or give the model a row for each")
        raise ValueError(msg)
    return model, tok
