"""
# Doğrusal katman (linear / tam bağlı katman)

## Ne yapar?
Her belirtecin vektörüne aynı afin dönüşümü uygular: bir matrisle çarpar, bir sapma (bias)
ekler. Belirteçler arasında bilgi taşımaz; her konum kendi başına işlenir.

## İleri geçiş
    out = x · W + b

Ağırlıklar GPT-2'nin `Conv1D` düzeninde **(giriş, çıkış)** biçiminde tutulur, yani
`x · W` yazılır (PyTorch'un `nn.Linear`'ı ise `(çıkış, giriş)` tutar ve `x · Wᵀ` hesaplar).
Böylece GPT-2 ağırlıkları dönüştürülmeden kopyalanabilir.

## Şekiller
| ad    | şekil            |
|-------|------------------|
| `x`   | (…, Cin)  — ör. (B, T, C) |
| `W`   | (Cin, Cout)      |
| `b`   | (Cout,) veya yok |
| `out` | (…, Cout)        |

Verimlilik: `(B, T, Cin)` girdisi önce `(B·T, Cin)` biçiminde düzleştirilir; tek bir büyük
matris çarpımı (BLAS `gemm`), B adet küçük çarpımdan çok daha hızlıdır.

## Geri yayılım (adım adım)
`N = B·T` satırlı `X (N, Cin)` ve `dOut (N, Cout)` için:
1. `out[n, j] = Σ_i X[n, i] W[i, j] + b[j]`.
2. `∂out[n,j]/∂X[n,i] = W[i,j]` → `dX = dOut · Wᵀ`          (N, Cout)·(Cout, Cin) = (N, Cin)
3. `∂out[n,j]/∂W[i,j] = X[n,i]`, her satır n katkı verir → `dW = Xᵀ · dOut`  (Cin, Cout)
4. `b[j]` her satıra eklendi → `db = Σ_n dOut[n]`             (Cout,)

Çarpımlar `matmul_t` ile yazılır: `matmul_t(X, W, trans_b=True)` = `X·Wᵀ`. `Wᵀ` bellekte
kopya olarak kurulmaz; devrik okuma BLAS/cuBLAS'a bir bayrakla bildirilir (bkz. backend.py).
Satırlar üzerindeki toplam `Σ_n dOut[n]`, birlerden oluşan bir vektörle çarpımdır: `1ᵀ·dOut`
(gemv); GPU'da önde gelen eksen boyunca indirgemeden çok daha hızlıdır.

Gradyan denetimi: `tests/test_layers.py::test_linear_gradcheck`.
PyTorch ile karşılaştırma (ileri ve geri geçiş):
`tests/test_layers_torch.py::test_linear`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from ..backend import get_array_module, matmul_t

# Boyutlar: N = B*T satır, Cin = giriş boyutu, Cout = çıkış boyutu


class LinearCache(NamedTuple):
    """What linear_forward keeps for linear_backward."""

    x2d: Any        # (N, Cin)
    w: Any          # (Cin, Cout)
    has_bias: bool
    x_shape: tuple


def linear_forward(x, w, b=None):
    """out = x @ w + b with w laid out (in, out). Returns (out, cache)."""
    Cin, Cout = w.shape
    if x.shape[-1] != Cin:
        raise ValueError(f"linear: input has {x.shape[-1]} features, weight expects {Cin}")
    x2d = x.reshape(-1, Cin)               # (…, Cin) -> (N, Cin)
    out = matmul_t(x2d, w)                 # (N, Cin) @ (Cin, Cout) -> (N, Cout)
    if b is not None:
        out += b
    out = out.reshape(*x.shape[:-1], Cout)  # (N, Cout) -> (…, Cout)
    return out, LinearCache(x2d, w, b is not None, x.shape)


def linear_backward(dout, cache: LinearCache):
    """Returns (dx, dw, db); db is None when the layer has no bias."""
    x2d, w = cache.x2d, cache.w
    dout2d = dout.reshape(-1, w.shape[1])   # (…, Cout) -> (N, Cout)
    # İleri geçişte: `out = X·W` → bu yüzden `dX = dOut·Wᵀ`
    dx = matmul_t(dout2d, w, trans_b=True).reshape(cache.x_shape)  # (N,Cout)@(Cout,Cin) -> (…,Cin)
    # İleri geçişte: `out = X·W` → bu yüzden `dW = Xᵀ·dOut` (her satırın katkısı toplanır)
    dw = matmul_t(x2d, dout2d, trans_a=True)  # (Cin, N)@(N, Cout) -> (Cin, Cout)
    # İleri geçişte: `out += b` (her satıra) → bu yüzden `db = Σ_n dOut[n] = 1ᵀ·dOut`
    db = None
    if cache.has_bias:
        xp = get_array_module(dout2d)
        ones = xp.ones((dout2d.shape[0],), dtype=dout2d.dtype)  # (N,)
        db = matmul_t(ones, dout2d)                             # (N,)@(N, Cout) -> (Cout,)
    return dx, dw, db
