"""
# İleri besleme ağı (feed-forward network, MLP)

## Ne yapar?
Dikkat, konumlar **arasında** bilgi taşır; ileri besleme ağı ise her konumun vektörünü
**kendi başına** işler (konum bazlı / position-wise). İki doğrusal katman ve aralarında bir
etkinleştirme fonksiyonundan oluşur. İlk katman boyutu 4 katına genişletir, ikincisi tekrar
`C`'ye indirir. Gömmeler dışındaki parametrelerin yaklaşık üçte ikisi buradadır (her
bloktaki 12C² ağırlığın 8C²'si; dikkatte 4C²); öğrenilen "bilginin" büyük kısmının bu
katmanlarda saklandığı düşünülür.

Not: Katman normalizasyonu ve artık bağlantı bu alt ağın **içinde değil**, onu saran
bloktadır (bkz. block.py).

## İleri geçiş
    h   = x · W_fc + b_fc               (C → 4C)
    a   = GELU(h)   (veya ReLU)
    out = dropout(a · W_proj + b_proj)  (4C → C)

## Şekiller
| ad        | şekil        |
|-----------|--------------|
| `x`, `out`| (B, T, C)    |
| `W_fc`    | (C, 4C)      |
| `h`, `a`  | (B, T, 4C)   |
| `W_proj`  | (4C, C)      |

## Geri yayılım (ileri geçişin tersi sırayla)
1. `out = dropout(a·W_proj + b_proj)` → aynı maskeyle `d(a·W_proj + b_proj) = dout ⊙ m/(1−p)`.
2. `out = a·W_proj + b_proj` → `da`, `dW_proj`, `db_proj` (bkz. linear.py).
3. `a = GELU(h)` → `dh = da ⊙ GELU'(h)` (bkz. gelu.py).
4. `h = x·W_fc + b_fc` → `dx`, `dW_fc`, `db_fc`.

## Bellek (CPU): GELU çıktısı saklanmaz, yeniden hesaplanır
Geri geçişte `dW_proj = aᵀ·dout` için `a = GELU(h)` gerekir. GELU önbelleği zaten `h`'yi ve
`s = σ(2u)`'yu tutar; `a = h·s` tek bir çarpımla yeniden elde edilir. Bu yüzden GELU
kullanıldığında `c_proj`'un önbelleği `a`'yı tutmaz (`x2d = None`); geri geçişte `a` yeniden
hesaplanır.
Kazanç, katman başına (B, T, 4C) boyutunda bir dizidir (shakespeare ayarında 100 MB); bedeli
tek bir çarpım geçişidir.

Etkinleştirme büyükse (`GELU_RECOMPUTE_MIN` = 4 M öğe ve üstü) bir adım daha atılır: GELU
önbelleğindeki `s` de bırakılır ve geri geçişte GELU'nun ileri geçişi `h`'den baştan
çalıştırılır (hem `a` hem `s` yeniden elde edilir). Shakespeare ayarında bu katman başına
100 MB daha, altı katmanda 600 MB eder; bedeli katman başına bir GELU ileri geçişidir (adım
süresinin ≈ %1'i). Küçük modellerde bellek sorun olmadığından `s` saklanır ve zaman kazanılır.
İkisi de yalnızca CPU'da yapılır: GPU'da bellek bol, yeniden hesaplama ise doğrudan adım
süresine eklenir (H200'de, shakespeare ayarında GELU'nun ileri geçişi katman başına 0,12 ms
ölçüldü); GPU'da `a` ve `s` saklanır.
Sonuç iki yolda da bit düzeyinde aynıdır (aynı işlemler aynı girdiyle yinelenir).

Gradyan denetimi: `tests/test_layers.py::test_mlp_gradcheck`.
PyTorch ile karşılaştırma (ileri ve geri geçiş):
`tests/test_layers_torch.py::test_composite_layers`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..backend import did_you_mean, get_array_module, shown

from .dropout import dropout_backward, dropout_forward
from .gelu import gelu_backward, gelu_forward, gelu_output
from .linear import linear_backward, linear_forward
from .relu import relu_backward, relu_forward

# Boyutlar: B = toplu iş, T = dizi uzunluğu, C = gömme boyutu, N = B·T satır

GELU_RECOMPUTE_MIN = 1 << 22   # h en az bu kadar öğe tutuyorsa GELU'nun s'si de saklanmaz

ACTIVATIONS = {
    "gelu": (gelu_forward, gelu_backward),
    "relu": (relu_forward, relu_backward),
}


def check_activation(name: str) -> None:
    """A ValueError for an activation other than those of ACTIVATIONS (gelu, relu)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {shown(name)}: expected one of "
                         f"{', '.join(ACTIVATIONS)}{did_you_mean(name, ACTIVATIONS)}")


class MLPCache(NamedTuple):
    """What mlp_forward keeps for mlp_backward."""

    c_fc: Any
    act: Any
    c_proj: Any
    drop: Any
    activation: str


def mlp_forward(x, p: dict, activation: str = "gelu", dropout: float = 0.0, rng=None,
                train: bool = True):
    """linear(C, 4C) -> activation -> linear(4C, C) -> dropout. Returns (out, cache)."""
    check_activation(activation)
    act_forward = ACTIVATIONS[activation][0]
    h, c_fc = linear_forward(x, p["c_fc.weight"], p.get("c_fc.bias"))        # (B,T,C) -> (B,T,4C)
    a, act = act_forward(h)                                                   # (B,T,4C)
    out, c_proj = linear_forward(a, p["c_proj.weight"], p.get("c_proj.bias"))  # (B,T,4C)->(B,T,C)
    if activation == "gelu" and get_array_module(h) is np:
        # CPU: a = h·s önbellekten yeniden hesaplanabilir: c_proj'un önbelleği a'yı tutmasın
        c_proj = c_proj._replace(x2d=None)
        if h.size >= GELU_RECOMPUTE_MIN:
            act = act._replace(s=None)        # büyük: s de geri geçişte hesaplanır
    del a
    out, drop = dropout_forward(out, dropout, rng, train)
    return out, MLPCache(c_fc, act, c_proj, drop, activation)


def mlp_backward(dout, cache: MLPCache):
    """Returns (dx, grads) with grads keyed like p."""
    act_backward = ACTIVATIONS[cache.activation][1]
    grads = {}
    # İleri geçişte: `out = dropout(·)` → bu yüzden `d(·) = dout ⊙ m/(1−p)` (aynı maske)
    dout = dropout_backward(dout, cache.drop)
    c_proj = cache.c_proj
    act = cache.act
    if c_proj.x2d is None:
        if act.s is None:
            # İleri geçişte: ne `a` ne `s` saklandı → GELU'nun ileri geçişi h'den baştan
            # çalıştırılır
            a, act = gelu_forward(act.x)                                        # (B,T,4C)
        else:
            # İleri geçişte: `a = GELU(h) = h·s` saklanmadı → aynı çarpımla yeniden hesaplanır
            a = gelu_output(act)                                                # (B,T,4C)
        c_proj = c_proj._replace(x2d=a.reshape(-1, a.shape[-1]))                # (N,4C)
    # İleri geçişte: `out = a·W_proj + b_proj` → `da = dout·W_projᵀ`, `dW_proj = aᵀ·dout`
    da, grads["c_proj.weight"], db = linear_backward(dout, c_proj)             # (B,T,4C)
    del c_proj
    if db is not None:
        grads["c_proj.bias"] = db
    # İleri geçişte: `a = GELU(h)` → `dh = da ⊙ GELU'(h)`
    dh = act_backward(da, act)                                                  # (B,T,4C)
    # İleri geçişte: `h = x·W_fc + b_fc` → `dx = dh·W_fcᵀ`, `dW_fc = xᵀ·dh`
    dx, grads["c_fc.weight"], db = linear_backward(dh, cache.c_fc)             # (B,T,C)
    if db is not None:
        grads["c_fc.bias"] = db
    return dx, grads
