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

`t` ileri geçişte hesaplandığı için önbellekte (cache) saklanır; geri geçişte tanh yeniden
hesaplanmaz.

Not: NumPy'da `x**3`, float32 dizilerde `x*x*x`'ten çok daha yavaştır; bu yüzden çarpım
olarak yazılır.

Gradyan denetimi: `tests/test_layers.py::test_gelu_gradcheck`.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

from ..backend import get_array_module

_K = math.sqrt(2.0 / math.pi)   # √(2/π)
_A = 0.044715


class GeluCache(NamedTuple):
    x: Any   # girdi
    t: Any   # tanh(u)


def gelu_forward(x):
    """GPT-2's tanh-approximate GELU. Returns (out, cache)."""
    xp = get_array_module(x)
    # u = √(2/π)·(x + 0.044715·x³) = √(2/π)·x·(1 + 0.044715·x²)
    t = x * x
    t *= _A
    t += 1.0
    t *= x
    t *= _K
    # t = tanh(u) (yerinde, ek bellek ayırmadan)
    xp.tanh(t, out=t)
    # out = 0.5·x·(1 + t)
    out = t + 1.0
    out *= x
    out *= 0.5
    return out, GeluCache(x, t)


def gelu_backward(dout, cache: GeluCache):
    """Returns dx."""
    x, t = cache.x, cache.t
    # İleri geçişte: `t = tanh(u)`, `u = √(2/π)(x + 0.044715x³)`
    # → `du/dx = √(2/π)(1 + 3·0.044715·x²)`
    dudx = x * x
    dudx *= 3.0 * _A * _K
    dudx += _K
    # → `dt/dx = (1 − t²)·du/dx`, sonra `0.5·x·dt/dx`
    sech2 = t * t
    xp = get_array_module(x)
    xp.subtract(1.0, sech2, out=sech2)
    dudx *= sech2
    dudx *= x
    dudx *= 0.5
    # İleri geçişte: `out = 0.5·x·(1 + t)` → çarpım kuralının ilk terimi `0.5·(1 + t)`
    dudx += 0.5
    dudx += 0.5 * t
    # Zincir kuralı: dx = dout · d out/dx
    dudx *= dout
    return dudx
