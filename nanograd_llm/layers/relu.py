"""
# ReLU etkinleştirme fonksiyonu

## Ne yapar?
`ReLU(x) = max(0, x)`: pozitif değerleri aynen geçirir, negatifleri sıfırlar. Orijinal
Transformer ve video dersindeki ilk modeller ileri besleme ağında ReLU kullanır; GPT-2 ise GELU
kullanır. Bu projede `activation="relu"` ile seçilebilir.

## İleri geçiş
    out = max(0, x)

## Şekiller
| ad              | şekil                                   |
|-----------------|-----------------------------------------|
| `x`             | herhangi; ileri besleme ağında (B, T, 4C) |
| maske `[x > 0]` | `x` ile aynı (bool)                     |
| `out`           | `x` ile aynı                            |

## Geri yayılım
1. `x > 0` iken `out = x` → türev 1; `x < 0` iken `out = 0` → türev 0.
2. `x = 0` noktasında türev tanımsızdır; geleneksel olarak 0 alınır.
3. Bu yüzden `dx = dout ⊙ [x > 0]`: ileri geçişte saklanan maske yeterlidir.

Gradyan denetimi: `tests/test_layers.py::test_relu_gradcheck`.
PyTorch ile karşılaştırma (ileri ve geri geçiş):
`tests/test_layers_torch.py::test_activations`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from ..backend import get_array_module

# Boyutlar: işlem öğe düzeyindedir; `x` herhangi bir şekilde olabilir. İleri besleme ağında
# (B, T, 4C): B = toplu iş, T = dizi uzunluğu, C = gömme boyutu. Maske `x` ile aynı şekildedir.


class ReluCache(NamedTuple):
    """What relu_forward keeps for relu_backward."""

    mask: Any   # x > 0 (bool)


def relu_forward(x):
    """max(0, x). Returns (out, cache)."""
    xp = get_array_module(x)
    mask = x > 0
    out = xp.maximum(x, 0)
    return out, ReluCache(mask)


def relu_backward(dout, cache: ReluCache):
    """Returns dx."""
    # İleri geçişte: `out = max(0, x)` → bu yüzden `dx = dout ⊙ [x > 0]`
    return dout * cache.mask
