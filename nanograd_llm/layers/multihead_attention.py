"""
# Çok kafalı dikkat (multi-head attention)

## Ne yapar?
Tek bir dikkat işlemi her konum için tek bir ağırlık dağılımı üretir. Çok kafalı dikkat,
`C` boyutlu vektörü `nh` tane `hs = C/nh` boyutlu parçaya böler ve her parça ("kafa")
üzerinde **bağımsız** bir dikkat uygular. Böylece bir kafa önceki harfe, bir başkası
sözcüğün başına, bir diğeri tırnak işaretine bakmayı öğrenebilir. Kafaların çıktıları
yan yana birleştirilir ve bir çıkış izdüşümünden (`c_proj`) geçirilir.

## İleri geçiş (GPT-2 düzeni)
    qkv = x · W_attn + b_attn                   (tek birleşik izdüşüm: q, k, v birlikte)
    q, k, v = qkv'yi son eksende üçe böl
    q, k, v → kafalara ayır: (B, T, C) → (B, nh, T, hs)
    y_h = nedensel_dikkat(q_h, k_h, v_h)         (her kafa için, bkz. attention.py)
    y   = kafaları birleştir: (B, nh, T, hs) → (B, T, C)
    out = dropout(y · W_proj + b_proj)

## Şekiller
| ad         | şekil            |
|------------|------------------|
| `x`, `out` | (B, T, C)        |
| `W_attn`   | (C, 3C)          |
| `qkv`      | (B, T, 3C)       |
| `q, k, v`  | (B, nh, T, hs)   |
| `W_proj`   | (C, C)           |

## Geri yayılım (adım adım, ileri geçişin tersi sırayla)
1. `out = dropout(y·W_proj + b_proj)` → dropout ve doğrusal katmanın geri geçişi:
   `dy`, `dW_proj`, `db_proj`.
2. `y = birleştir(y_h)` bir yeniden şekillendirmedir (reshape/transpose); geri geçişi ters
   yeniden şekillendirmedir: `dy_h = ayır(dy)`.
3. Dikkatin geri geçişi: `dq, dk, dv` (bkz. attention.py; CPU'da T ≥ 128 iken aynı hesap
   maskeli üçgeni atlayarak yapılır, bkz. causal_tiles.py).
4. Kafalara ayırma da bir yeniden şekillendirmedir; `dq, dk, dv` tekrar (B, T, C)'ye
   döndürülür ve son eksende yan yana konarak `dqkv (B, T, 3C)` elde edilir
   (bölmenin geri geçişi birleştirmedir).
5. `qkv = x·W_attn + b_attn` → doğrusal katmanın geri geçişi: `dx`, `dW_attn`, `db_attn`.

## Bellek düzeni
`qkv`'yi kafalara ayırmak yalnızca bir görünümdür (reshape + transpose): `(B, T, 3, nh, hs)`
diye okunan `qkv`'nin eksenleri `(3, B, nh, T, hs)` sırasına çevrilir; veri yerinden
oynamaz. Bu görünümde bir kafanın ardışık iki konumu bellekte `3C` öğe aralıkla durur
(bir satırın `hs` öğesi ise bitişiktir).

* **CPU'da** q, k, v bu görünümlerin kendisidir, kopya yoktur. NumPy'ın `matmul`'u böyle bir
  matrisi BLAS'a satır aralığıyla (`lda = 3C`) verir; BLAS zaten her çarpımda işlenenlerini
  kendi tamponuna paketlediği için aralıklı satırlar onu yavaşlatmaz. Dikkatin çıktısı da
  doğrudan `(B, T, nh, hs)` düzenindeki bir dizinin görünümüne yazılır, böylece kafaları
  birleştirmek bedava bir `reshape` olur; geri geçişte `dy`'nin kafaları yine bir görünümdür
  ve `dq, dk, dv` doğrudan `dqkv (B, T, 3C)`'nin görünümüne yazılır. Kazanç bellektedir:
  geri geçişte katman başına bir `(B, T, 3C)` ve bir `(B, T, C)` geçici dizi daha az (iki
  `shakespeare` adımının tepe belleği 2858–2916 MiB yerine 2802–2889 MiB, ikişer ölçüm).
  Hız ölçülebilir biçimde değişmedi (tek iş parçacığı, bu katmanın ileri+geri geçişi, eski
  dört kopyalı düzene oranla, 24 turun ortancası: `shakespeare` parçası 1,02 ve 0,99, `baby`
  parçası 0,98 ve 0,98); sonuçlar bit bit aynı.
* **GPU'da** cuBLAS'ın toplu (strided-batched) çarpımı bütün (B, nh) matrisleri için tek bir
  adım (stride) ister; görünümde B ve nh eksenlerinin adımları farklıdır. Bu yüzden orada
  `qkv` bir kez, tek kopyayla `(3, B, nh, T, hs)` düzenine getirilir (q, k, v bu dizinin
  bitişik dilimleri olur) ve geri geçişte `dq, dk, dv` aynı düzende bir diziye yazılıp
  `dqkv`'ye tek kopyayla döner.

Gradyan denetimi: `tests/test_layers.py::test_mha_gradcheck`.
PyTorch ile karşılaştırma (ileri ve geri geçiş):
`tests/test_layers_torch.py::test_composite_layers`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..backend import get_array_module
from .attention import attention_backward, attention_forward
from .causal_tiles import (TiledAttentionCache, tiled_attention_backward,
                           tiled_attention_forward, use_causal_tiles)
from .dropout import dropout_backward, dropout_forward
from .linear import linear_backward, linear_forward

# Boyutlar: B = toplu iş, T = dizi uzunluğu, C = gömme boyutu, nh = kafa sayısı,
# hs = C // nh = kafa boyutu, Tk = KV önbelleğiyle birlikte anahtar sayısı (önbelleksiz Tk = T)


class MHACache(NamedTuple):
    """What mha_forward keeps for mha_backward."""

    c_attn: Any
    attn: Any
    c_proj: Any
    drop: Any
    n_head: int


def _split_heads(t, n_head):
    B, T, C = t.shape
    return t.reshape(B, T, n_head, C // n_head).transpose(0, 2, 1, 3)  # (B,T,C) -> (B,nh,T,hs)


def _merge_heads(t):
    B, nh, T, hs = t.shape
    return t.transpose(0, 2, 1, 3).reshape(B, T, nh * hs)  # (B,nh,T,hs) -> (B,T,C)


def mha_forward(x, p: dict, n_head: int, dropout: float = 0.0, rng=None, train: bool = True,
                kv_cache=None, layer: int = 0):
    """Multi-head causal self-attention.

    p holds 'c_attn.weight' (C, 3C), 'c_proj.weight' (C, C) and, with bias, 'c_attn.bias',
    'c_proj.bias'. With `kv_cache`, new keys/values are appended to layer `layer` of the cache
    and the queries attend to everything cached so far. Returns (out, cache).
    """
    B, T, C = x.shape
    if C % n_head:
        raise ValueError(f"n_embd={C} is not divisible by n_head={n_head}")
    # Birleşik q, k, v izdüşümü
    qkv, c_attn = linear_forward(x, p["c_attn.weight"], p.get("c_attn.bias"))  # (B,T,C)->(B,T,3C)
    xp = get_array_module(x)
    hs = C // n_head
    # Kafalara ayır: (B,T,3C) → (B,T,3,nh,hs) görünümü → eksen sırası (3,B,nh,T,hs)
    # (bkz. "Bellek düzeni": CPU'da görünüm kalır, GPU'da tek kopyayla bitişik olur)
    qkvh = qkv.reshape(B, T, 3, n_head, hs).transpose(2, 0, 3, 1, 4)          # (3,B,nh,T,hs)
    y_bthd = None
    if xp is np:
        # CPU: çıktı doğrudan (B,T,nh,hs) düzenine yazılır; dikkat onun görünümünü görür
        y_bthd = xp.empty((B, T, n_head, hs), dtype=qkv.dtype)                # (B,T,nh,hs)
        y_out = y_bthd.transpose(0, 2, 1, 3)                                  # (B,nh,T,hs) görünüm
    else:
        qkvh = xp.ascontiguousarray(qkvh)                                     # (3,B,nh,T,hs)
        y_out = None
    q, k, v = qkvh[0], qkvh[1], qkvh[2]                                       # 3 × (B,nh,T,hs)
    if kv_cache is not None:
        # Önbellekli üretim: yeni k, v eklenir, sorgular önbellekteki tüm konumlara bakar
        k, v = kv_cache.append(layer, k, v)                                   # (B,nh,Tk,hs)
    if kv_cache is None and use_causal_tiles(T, T, xp):
        # CPU, T ≥ 128: maskeli üst üçgen hiç hesaplanmaz (bkz. causal_tiles.py)
        y, attn = tiled_attention_forward(q, k, v, dropout, rng, train, out=y_out)  # (B,nh,T,hs)
    else:
        y, attn = attention_forward(q, k, v, dropout, rng, train, out=y_out)  # (B,nh,T,hs)
    if y_bthd is not None:
        # (B,T,nh,hs) -> (B,T,C), görünüm: kafaları birleştirmek kopya gerektirmez
        y = y_bthd.reshape(B, T, C)
    else:
        y = _merge_heads(y)                                    # (B,nh,T,hs) -> (B,T,C)
    out, c_proj = linear_forward(y, p["c_proj.weight"], p.get("c_proj.bias"))  # (B,T,C)
    out, drop = dropout_forward(out, dropout, rng, train)
    return out, MHACache(c_attn, attn, c_proj, drop, n_head)


def mha_backward(dout, cache: MHACache):
    """Returns (dx, grads) with grads keyed like p."""
    xp = get_array_module(dout)
    grads = {}
    # İleri geçişte: `out = dropout(·)` → bu yüzden `d(·) = dout ⊙ m/(1−p)` (aynı maske)
    dout = dropout_backward(dout, cache.drop)
    # İleri geçişte: `out = y·W_proj + b_proj` → doğrusal katmanın geri geçişi
    dy, grads["c_proj.weight"], db = linear_backward(dout, cache.c_proj)     # (B,T,C)
    if db is not None:
        grads["c_proj.bias"] = db
    B, T, C = dy.shape
    nh = cache.n_head
    # İleri geçişte: `y = birleştir(y_h)` → bu yüzden `dy_h = ayır(dy)` (CPU'da bir görünüm;
    # GPU'da bitişik bir kopya, bkz. "Bellek düzeni")
    dyh = _split_heads(dy, nh)                                     # (B,T,C) -> (B,nh,T,hs)
    if xp is np:
        # İleri geçişte: `q, k, v = ayır(qkv)` (görünümler) → dq, dk, dv doğrudan dqkv'nin
        # aynı görünümüne yazılır; birleştirme kopyası gerekmez
        dqkv = xp.empty((B, T, 3 * C), dtype=dout.dtype)                      # (B,T,3C)
        dqkvh = dqkv.reshape(B, T, 3, nh, C // nh).transpose(2, 0, 3, 1, 4)  # (3,B,nh,T,hs)
    else:
        dyh = xp.ascontiguousarray(dyh)                                       # (B,nh,T,hs)
        dqkvh = xp.empty((3, B, nh, T, C // nh), dtype=dout.dtype)            # (3,B,nh,T,hs)
    # İleri geçişte: `y_h = dikkat(q, k, v)` → dikkatin geri geçişi
    if isinstance(cache.attn, TiledAttentionCache):
        tiled_attention_backward(dyh, cache.attn, out=dqkvh)
    else:
        attention_backward(dyh, cache.attn, out=dqkvh)
    if xp is not np:
        # İleri geçişte: `(3,B,nh,T,hs) = ayır(qkv)` → bu yüzden tek kopyayla geri birleştir
        dqkv = dqkvh.transpose(1, 3, 0, 2, 4).reshape(B, T, 3 * C)  # (3,B,nh,T,hs) -> (B,T,3C)
    # İleri geçişte: `qkv = x·W_attn + b_attn` → doğrusal katmanın geri geçişi
    dx, grads["c_attn.weight"], db = linear_backward(dqkv, cache.c_attn)     # (B,T,C)
    if db is not None:
        grads["c_attn.bias"] = db
    return dx, grads
