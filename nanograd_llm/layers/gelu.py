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
| `s` (önbellek) | `x` ile aynı                          |
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

float64 dizilerde NumPy'ın `exp`'i `tanh`'tan belirgin biçimde hızlıdır (AVX-512'li bir makinede,
NumPy 2.4 ile 1,5–3 kat); float32'de ikisi de vektör komutlarıyla hesaplanır ve hızları yakındır.
Dizi üzerinden geçiş sayısı iki biçimde de aynıdır (ileri geçişte sekiz). Geri geçiş de `s` ile
yazılır: `t = 2s − 1` olduğundan `1 − t² = 4·s·(1 − s)` ve

       dx = dout · [ s + x · s·(1 − s) · 2·√(2/π)·(1 + 0.134145·x²) ]

`out = x·s` tek bir çarpım olduğundan, ileri besleme ağı (mlp.py) CPU'da bellek tasarrufu
için `out`'u saklamaz, geri geçişte `gelu_output` ile yeniden hesaplar (GPU'da saklanır).
Etkinleştirme çok büyükse (`GELU_RECOMPUTE_MIN` öğe ve üstü) `s`'yi de bırakır ve geri geçişte
`gelu_forward`'u `x`'ten baştan çalıştırır.

Çok negatif `u` için `exp(−2u)` sonsuza taşar; `1/(1 + ∞) = 0` doğru sınır değeridir (çok
pozitif `u` için de `exp(−2u)` sıfıra iner ve `σ = 1` olur), bu yüzden taşma uyarıları bu
satırda susturulur.

Not: NumPy'da `x**3`, float32 dizilerde `x*x*x`'ten çok daha yavaştır; bu yüzden çarpım
olarak yazılır.

Gradyan denetimi: `tests/test_layers.py::test_gelu_gradcheck`.
PyTorch ile karşılaştırma (ileri ve geri geçiş):
`tests/test_layers_torch.py::test_activations`.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from ..backend import for_row_blocks, fused_kernels, get_array_module

# Boyutlar: işlem öğe düzeyindedir; `x` herhangi bir şekilde olabilir (ileri besleme ağında
# (B, T, 4C)). Satır blokları için dizi (satır, n) biçiminde görülür: n = son eksenin uzunluğu.

_K = math.sqrt(2.0 / math.pi)   # √(2/π)
_A = 0.044715


def _rows(a):
    """(…, n) -> (rows, n); a view for contiguous arrays (a copy otherwise, read-only use)."""
    return a.reshape(-1, a.shape[-1]) if a.ndim >= 2 else a.reshape(1, -1)


class GeluCache(NamedTuple):
    """What gelu_forward keeps for gelu_backward."""

    x: Any   # girdi
    s: Any   # σ(2u) = 0.5·(1 + tanh(u))


def gelu_forward(x):
    """GPT-2's tanh-approximate GELU. Returns (out, cache)."""
    xp = get_array_module(x)
    # Birleşik çekirdek (GPU'da cuda_kernels.py; CPU'da float32 için, Numba kuruluysa
    # cpu_kernels.py) aynı `out` ve `s`'yi tek geçişte hesaplar; aşağıdaki genel kod başvuru
    # (referans) uygulamasıdır ve çekirdek yokken (ör. float64) o çalışır.
    fused = fused_kernels(x)
    if fused is not None:
        out, s = fused.gelu_forward(x)
        return out, GeluCache(x, s)
    # Sonuç dizileri C düzeninde ayrılır; böylece (satır, n) biçimine getirmek kopya üretmez
    s = xp.empty(x.shape, dtype=x.dtype)
    out = xp.empty(x.shape, dtype=x.dtype)
    x2, s2, out2 = _rows(x), _rows(s), _rows(out)        # (…, n) -> (satır, n) görünümleri

    def block(r):
        # Aşağıdaki satırlar bir satır bloğu üzerinde çalışır (bkz. backend.for_row_blocks:
        # CPU'da bloklar iş parçacıklarına paylaştırılır ve önbellekte kalır; GPU'da tek blok).
        xb, sb = x2[r], s2[r]
        # −2u = −2·√(2/π)·x·(1 + 0.044715·x²) = x·(−2√(2/π) − 2√(2/π)·0.044715·x²)
        xp.multiply(xb, xb, out=sb)
        sb *= -2.0 * _K * _A
        sb += -2.0 * _K
        sb *= xb
        # e^(−2u) (yerinde); çok negatif u'da ∞'a taşması doğrudur: σ = 1/(1+∞) = 0
        # (çok pozitif u'da 0'a inmesi de: σ = 1)
        with np.errstate(over="ignore", under="ignore"):
            xp.exp(sb, out=sb)
        # s = σ(2u) = 1 / (1 + e^(−2u)) = 0.5·(1 + tanh(u))
        sb += 1.0
        xp.reciprocal(sb, out=sb)
        # out = x·σ(2u) = 0.5·x·(1 + tanh(u))
        xp.multiply(xb, sb, out=out2[r])

    for_row_blocks(block, x2.shape[0], x2.shape[1], xp)
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
    # dout, out'un şeklinde olmalı; birleşik çekirdeklerdeki gibi, o şekle yayınlanabilen
    # (broadcast) daha küçük bir dout da kabul edilir: satır bloklarına bölmeden önce tam
    # şekle yayınlanır
    dout = xp.broadcast_to(dout, x.shape) if dout.shape != x.shape else dout
    # Çekirdek bütün işlenenleri tek türde okur: dout ile önbellek farklı türdeyse (ör. float64
    # bir ileri geçişe float32 bir dout) genel yol çalışır (çekirdek TypeError verirdi)
    fused = fused_kernels(dout) if dout.dtype == x.dtype == s.dtype else None
    if fused is not None:   # GPU/Numba: aşağıdaki satırların tek çekirdekte birleşmiş hali
        return fused.gelu_backward(dout, x, s)
    g = xp.empty(s.shape, dtype=s.dtype)
    x2, s2, d2, g2 = _rows(x), _rows(s), _rows(dout), _rows(g)   # (…, n) -> (satır, n)

    def block(r):
        # Bir satır bloğu (bkz. gelu_forward); bloklar birbirinden bağımsızdır.
        xb, sb, gb = x2[r], s2[r], g2[r]
        # İleri geçişte: `s = σ(2u)`, `u = √(2/π)(x + 0.044715x³)`
        # → `d(2u)/dx = 2√(2/π)(1 + 3·0.044715·x²)`
        xp.multiply(xb, xb, out=gb)
        gb *= 2.0 * 3.0 * _A * _K
        gb += 2.0 * _K
        # → `ds/dx = s·(1 − s)·d(2u)/dx`; çarpım kuralının ikinci terimi `x·ds/dx`
        one_minus_s = xp.subtract(1.0, sb, dtype=sb.dtype)
        one_minus_s *= sb
        gb *= one_minus_s
        gb *= xb
        # İleri geçişte: `out = x·s` → çarpım kuralının ilk terimi `s`
        gb += sb
        # Zincir kuralı: dx = dout · d out/dx
        gb *= d2[r]

    for_row_blocks(block, g2.shape[0], g2.shape[1], xp)
    return g
