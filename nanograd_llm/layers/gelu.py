"""
# GELU etkinleştirme fonksiyonu (tanh yaklaşımı, GPT-2'deki gibi)

## Ne yapar?
Doğrusal katmanlar üst üste konsa da tek bir doğrusal dönüşüme eşittir; ağın doğrusal
olmayan ilişkileri öğrenebilmesi için araya bir **etkinleştirme (aktivasyon) fonksiyonu**
gerekir. GELU (Gaussian Error Linear Unit), girdiyi "ne kadar büyükse o kadar geçir"
mantığıyla yumuşakça ağırlıklandırır: `GELU(x) = x · Φ(x)`, Φ standart normal dağılımın
birikimli dağılım fonksiyonudur. ReLU'nun aksine 0 civarında türevlenebilir ve negatif
girdiler için küçük, sıfırdan farklı çıktılar verir. GPT-2 şu tanh yaklaşımını kullanır:

## İleri geçiş
    u   = √(2/π) · (x + 0.044715·x³)
    out = 0.5 · x · (1 + tanh(u))

## Şekiller
| ad           | şekil                                   |
|--------------|-----------------------------------------|
| `x`          | herhangi; ileri besleme ağında (B, T, 4C) |
| `t` (önbellek) | `x` ile aynı                          |
| `out`        | `x` ile aynı                            |

## Geri yayılım (adım adım)
1. Çarpım kuralı: `out = 0.5·x·(1 + t)`, `t = tanh(u)`:
   `d out/dx = 0.5·(1 + t) + 0.5·x · dt/dx`.
2. `d tanh(u)/du = 1 − t²`, `du/dx = √(2/π)·(1 + 3·0.044715·x²)`.
3. Hepsi birlikte:

       dx = dout · [ 0.5·(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 0.134145·x²) ]

`t` (kodda onun yerine aşağıdaki `s = 0.5·(1 + t)`) ileri geçişte hesaplandığı için
önbellekte (cache) saklanır; geri geçişte yeniden hesaplanmaz.

## Hızlı ama aynı formül: tanh yerine sigmoid
`0.5·(1 + tanh(u)) = σ(2u) = 1 / (1 + e^(−2u))` özdeşliği tam (yaklaşım değil) bir
eşitliktir. Bu yüzden kod şunu hesaplar:

    s   = σ(2u) = 1 / (1 + exp(−2u))        ( = 0.5·(1 + tanh(u)) )
    out = x · s

NumPy'da `exp`, `tanh`'tan belirgin biçimde hızlıdır (vektör komutlarıyla hesaplanır) ve
dizi üzerinden geçiş sayısı azalır. Geri geçiş de `s` ile yazılır: `t = 2s − 1` olduğundan
`1 − t² = 4·s·(1 − s)` ve

       dx = dout · [ s + x · s·(1 − s) · 2·√(2/π)·(1 + 0.134145·x²) ]

`out = x·s` tek bir çarpım olduğundan, ileri besleme ağı (mlp.py) bellek tasarrufu için
`out`'u saklamaz, geri geçişte `gelu_output` ile yeniden hesaplar.

Çok negatif `u` için `exp(−2u)` sonsuza taşar; `1/(1 + ∞) = 0` doğru sınır değeridir (çok
pozitif `u` için de `exp(−2u)` sıfıra iner ve `σ = 1` olur), bu yüzden taşma uyarıları bu
satırda susturulur.

Not: NumPy'da `x**3`, float32 dizilerde `x*x*x`'ten çok daha yavaştır; bu yüzden çarpım
olarak yazılır.

Gradyan denetimi: `tests/test_layers.py::test_gelu_gradcheck`.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from ..backend import fused_kernels, get_array_module

_K = math.sqrt(2.0 / math.pi)   # √(2/π)
_A = 0.044715


class GeluCache(NamedTuple):
    x: Any   # girdi
    s: Any   # σ(2u) = 0.5·(1 + tanh(u))


def gelu_forward(x):
    """GPT-2's tanh-approximate GELU. Returns (out, cache)."""
    xp = get_array_module(x)
    # GPU'da birleşik çekirdek (cuda_kernels.py) aynı `out` ve `s`'yi tek geçişte hesaplar;
    # aşağıdaki genel kod başvuru (referans) uygulamasıdır ve CPU'da her zaman o çalışır.
    fused = fused_kernels(x)
    if fused is not None:
        out, s = fused.gelu_forward(x)
        return out, GeluCache(x, s)
    # −2u = −2·√(2/π)·x·(1 + 0.044715·x²) = x·(−2√(2/π) − 2√(2/π)·0.044715·x²)
    s = x * x
    s *= -2.0 * _K * _A
    s += -2.0 * _K
    s *= x
    # e^(−2u) (yerinde); çok negatif u'da ∞'a taşması doğrudur: σ = 1/(1+∞) = 0
    # (çok pozitif u'da 0'a inmesi de: σ = 1)
    with np.errstate(over="ignore", under="ignore"):
        xp.exp(s, out=s)
    # s = σ(2u) = 1 / (1 + e^(−2u)) = 0.5·(1 + tanh(u))
    s += 1.0
    xp.reciprocal(s, out=s)
    # out = x·σ(2u) = 0.5·x·(1 + tanh(u))
    out = x * s
    return out, GeluCache(x, s)


def gelu_output(cache: GeluCache):
    """Recompute the forward output x·s from the cache (one multiplication).

    Lets a caller (the MLP) drop its reference to the output after the forward pass and
    rebuild it in the backward pass, instead of keeping a (B, T, 4C) array alive.
    """
    # out = x·σ(2u): ileri geçişin son satırının aynısı
    return cache.x * cache.s


def gelu_backward(dout, cache: GeluCache):
    """Returns dx."""
    xp = get_array_module(dout)
    x, s = cache.x, cache.s
    fused = fused_kernels(dout)
    if fused is not None:   # GPU: aşağıdaki satırların tek çekirdekte birleşmiş hali
        return fused.gelu_backward(dout, x, s)
    # İleri geçişte: `s = σ(2u)`, `u = √(2/π)(x + 0.044715x³)`
    # → `d(2u)/dx = 2√(2/π)(1 + 3·0.044715·x²)`
    g = x * x
    g *= 2.0 * 3.0 * _A * _K
    g += 2.0 * _K
    # → `ds/dx = s·(1 − s)·d(2u)/dx`; çarpım kuralının ikinci terimi `x·ds/dx`
    one_minus_s = xp.subtract(1.0, s, dtype=s.dtype)
    one_minus_s *= s
    g *= one_minus_s
    g *= x
    # İleri geçişte: `out = x·s` → çarpım kuralının ilk terimi `s`
    g += s
    # Zincir kuralı: dx = dout · d out/dx
    g *= dout
    return g
