"""
# Katman normalizasyonu (layer normalization)

## Ne yapar?
Her belirtecin `C` boyutlu vektörünü kendi içinde standartlaştırır: ortalamasını 0,
varyansını 1 yapar; sonra öğrenilebilir bir ölçek (`w`, "gain") ve kayma (`b`) uygular.
Toplu iş (batch) üzerinden değil, **tek bir vektörün öznitelikleri** üzerinden
istatistik alır; bu yüzden toplu iş boyutundan bağımsızdır ve eğitimde de üretimde de
aynı çalışır. Derin ağlarda aktivasyonların ölçeğini sabit tutarak eğitimi kararlı
hale getirir. (Bir kümeleme/"clustering" işlemi değildir.)

## İleri geçiş (son eksen üzerinde, ε = 1e-5)
    μ     = (1/C) Σ_c x_c
    σ²    = (1/C) Σ_c (x_c − μ)²
    rstd  = 1 / √(σ² + ε)
    x̂     = (x − μ) · rstd
    out   = x̂ ⊙ w + b

## Şekiller
| ad           | şekil      |
|--------------|------------|
| `x`, `out`   | (B, T, C)  |
| `w`, `b`     | (C,)       |
| `μ`, `rstd`  | (B, T, 1)  |
| `x̂`          | (B, T, C)  |

## Geri yayılım (adım adım)
1. `out = x̂ ⊙ w + b` → `db = Σ_{b,t} dout`, `dw = Σ_{b,t} dout ⊙ x̂`, `dx̂ = dout ⊙ w`.
2. `x̂ = (x − μ)·rstd`, burada μ ve rstd de x'e bağlıdır. x̂'in tanımından
   `∂x̂_i/∂x_j = rstd · (δ_ij − 1/C − x̂_i x̂_j / C)` elde edilir (μ'nün türevi 1/C,
   rstd'nin türevi `−rstd³ (x_j − μ)/C` = `−rstd² x̂_j / C`).
3. Zincir kuralı ile toplayınca:

       dx = rstd · ( dx̂ − mean(dx̂) − x̂ ⊙ mean(dx̂ ⊙ x̂) )

   Buradaki `mean`, son eksen (C) üzerindedir. Bu kapalı form, μ ve σ² için ayrı ayrı
   geri yayılım yapmaktan hem daha kısa hem daha kararlıdır (llm.c'deki biçimle aynıdır).

Gradyan denetimi: `tests/test_layers.py::test_layernorm_gradcheck`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from ..backend import for_row_blocks, fused_kernels, get_array_module

# Boyutlar: B = toplu iş, T = dizi uzunluğu, C = gömme boyutu


class LayerNormCache(NamedTuple):
    xhat: Any   # (B, T, C)
    rstd: Any   # (B, T, 1)
    w: Any      # (C,)
    has_bias: bool


def layernorm_forward(x, w, b=None, eps: float = 1e-5):
    """Normalise over the last axis, then scale by w and shift by b. Returns (out, cache)."""
    xp = get_array_module(x)
    fused = fused_kernels(x)
    if fused is not None:
        # GPU: satır başına bir blokta μ, rstd, x̂ ve out tek çekirdekte (cuda_kernels.py);
        # aşağıdaki genel kod başvuru uygulamasıdır.
        out, xhat, rstd = fused.layernorm_forward(x, w, b, eps)
        return out, LayerNormCache(xhat, rstd, w, b is not None)
    C = x.shape[-1]
    x2 = x.reshape(-1, C)                               # (B, T, C) -> (N, C)
    N = x2.shape[0]
    xhat = xp.empty((N, C), dtype=x.dtype)
    out = xp.empty((N, C), dtype=x.dtype)
    rstd = xp.empty((N, 1), dtype=x.dtype)

    def block(r):
        # Bir satır bloğu; satırlar birbirinden bağımsızdır (bkz. backend.for_row_blocks)
        xb, xc = x2[r], xhat[r]
        # Ortalama ve merkezleme: xc = x − μ
        mu = xb.mean(axis=-1, keepdims=True)            # (n, C) -> (n, 1)
        xp.subtract(xb, mu, out=xc)
        # Varyans ve ters standart sapma: rstd = 1/√(σ² + ε)
        var = (xc * xc).mean(axis=-1, keepdims=True)    # (n, C) -> (n, 1)
        rstd[r] = 1.0 / xp.sqrt(var + eps)
        # Standartlaştırılmış girdi: x̂ = (x − μ)·rstd (xc'nin belleği yeniden kullanılır)
        xc *= rstd[r]
        # Ölçek ve kayma: out = x̂ ⊙ w + b
        ob = out[r]
        xp.multiply(xc, w, out=ob)
        if b is not None:
            ob += b

    for_row_blocks(block, N, C, xp)
    shape1 = x.shape[:-1] + (1,)
    xhat, out, rstd = xhat.reshape(x.shape), out.reshape(x.shape), rstd.reshape(shape1)
    return out, LayerNormCache(xhat, rstd, w, b is not None)


def layernorm_backward(dout, cache: LayerNormCache):
    """Returns (dx, dw, db); db is None without a bias."""
    xp = get_array_module(dout)
    xhat, rstd, w = cache.xhat, cache.rstd, cache.w
    C = xhat.shape[-1]
    red = tuple(range(dout.ndim - 1))  # son eksen dışındaki tüm eksenler
    # İleri geçişte: `out = x̂⊙w + b` → bu yüzden `db = Σ dout`
    db = dout.sum(axis=red) if cache.has_bias else None    # (B, T, C) -> (C,)
    # Aynı satırdan: `dw = Σ dout⊙x̂`
    dw = (dout * xhat).sum(axis=red)                       # (B, T, C) -> (C,)
    fused = fused_kernels(dout)
    if fused is not None:   # GPU: dx'in aşağıdaki dört satırı tek çekirdekte
        return fused.layernorm_backward_dx(dout, xhat, rstd, w), dw, db
    d2 = dout.reshape(-1, C)                               # (B, T, C) -> (N, C)
    xhat2, rstd2 = xhat.reshape(-1, C), rstd.reshape(-1, 1)
    dx = xp.empty(d2.shape, dtype=d2.dtype)

    def block(r):
        # Bir satır bloğu (bkz. layernorm_forward)
        xh, dxb = xhat2[r], dx[r]
        # Aynı satırdan: `dx̂ = dout⊙w`
        xp.multiply(d2[r], w, out=dxb)                     # (n, C)
        # İleri geçişte: `x̂ = (x − μ)·rstd` (μ ve rstd x'e bağlı)
        # → bu yüzden `dx = rstd·(dx̂ − mean(dx̂) − x̂⊙mean(dx̂⊙x̂))`
        m1 = dxb.mean(axis=-1, keepdims=True)              # (n, 1)
        m2 = (dxb * xh).sum(axis=-1, keepdims=True)        # (n, 1)
        m2 *= 1.0 / C
        dxb -= m1
        dxb -= xh * m2
        dxb *= rstd2[r]

    for_row_blocks(block, d2.shape[0], C, xp)
    dx = dx.reshape(dout.shape)
    return dx, dw, db
