"""
# Katman normalizasyonu (layer normalization)

## Ne yapar?
Her belirtecin `C` boyutlu vektörünü kendi içinde standartlaştırır: ortalamasını 0,
varyansını 1 yapar; sonra öğrenilebilir bir kazanç (`w`, "gain") ve sapma (`b`, "bias") uygular.
Toplu iş (batch) üzerinden değil, **tek bir vektörün öznitelikleri** üzerinden
istatistik alır; bu yüzden toplu iş boyutundan bağımsızdır ve eğitimde de üretimde de
aynı çalışır. Derin ağlarda etkinleştirmelerin ölçeğini sabit tutarak eğitimi kararlı
hale getirir. (Bir kümeleme/"clustering" işlemi değildir.)

## İleri geçiş (son eksen üzerinde, ε = 1e-5)
    μ     = (1/C) Σ_c x_c                 (kodda K + (1/C) Σ_c (x_c − K), aşağıya bakın)
    σ²    = (1/C) Σ_c (x_c − μ)²
    rstd  = 1 / √(σ² + ε)
    x̂     = (x − μ) · rstd
    out   = x̂ ⊙ w + b

## Ortalamadan önce kaydırma (kayan nokta yuvarlaması)
Kayan noktalı sayılar eşit aralıklı değildir: bir sayının çevresinde gösterilebilen değerler,
o sayının büyüklüğüyle büyüyen bir adımla dizilir (ulp, "unit in the last place": son basamağın
birimi). float32'de 1000'in komşuları 1000 ± 6·10⁻⁵, 10⁶'nınkiler 10⁶ ± 0,0625'tir.
Ortalamayı doğrudan `(1/C) Σ x` diye almak toplamı ve sonucu bu adımlara yuvarlar; toplamın her
adımı yeniden yuvarlandığı için hesaplanan μ gerçek ortalamadan bir ya da birkaç ulp(μ) sapabilir
(ör. float32'de 384 öğelik sabit a = 1000 satırlarında, BLAS'ın matris-vektör çarpımıyla 6 ulp).
Sapma, x − μ farklarının yanında küçükken önemsizdir; ama:

* **Sabit satır** (her `x_c = a`): gerçekte μ = a, σ² = 0 ve x̂ = 0'dır. Hesaplanan μ = a + η
  ise (|η| bir ya da birkaç ulp) her öğede `x − μ = −η`, `σ² = η²` ve `x̂ = −η/√(η² + ε)` çıkar. |η|,
  √ε ≈ 0,003'ün yanında küçük değilse |x̂| 1'e yaklaşır (float32'de a = 10⁶ için ≈ 0,999) ve
  çıktı `b` yerine yaklaşık `±w + b` olur; float64'te de a = 10³⁰ gibi değerlerde aynısı olur.
* **Büyük bir ortak değerin çevresindeki satır** (1000 + N(0; 0,01²)): ulp(μ) ≈ 6·10⁻⁵'lik
  hata, hesaplamak istediğimiz ≈ 0,01'lik farkların binde altısıdır ve x̂'e σ'ya bölünerek
  geçer: float32'de x̂ ≈ 10⁻² kadar yanlış çıkar, oysa float32'nin göreli kesinliği
  ≈ 6·10⁻⁸'dir.

Çare: önce satırın bir **başvuru değeri** K (burada satırın ilk öğesi x₀) çıkarılır, ortalama
kaydırılmış veriden alınır:

    d_c     = x_c − K
    μ_d     = (1/C) Σ_c d_c                 (= μ − K)
    x_c − μ = d_c − μ_d

Sabit satırda her `d_c = a − a` tam 0'dır; dolayısıyla μ_d = 0, σ² = 0, x̂ = 0 ve çıktı tam
`b`'dir. x, K ile aynı işaretliyse ve ondan en çok iki kat büyük ya da en çok iki kat
küçükse `x − K` hiç yuvarlanmaz (Sterbenz önermesi). μ_d de satırın kendi yayılımı
ölçeğindedir (|μ_d| = |μ − x₀| ≤ max|x − μ|): büyük ortak değer hiçbir toplama girmez ve
yuvarlama hatası ulp(μ) değil, ulp(max|x − μ|) ölçeğinde kalır. İlk öğe satırın geri kalanından
çok uzak olsa bile hata kaydırmasız yoldakiyle aynı ölçekte kalır (ölçülen, float32: N(0; 1)
satırlarında x₀ = 8 iken x̂'in en büyük hatası kaydırmasız 1,0·10⁻⁶, kaydırmalı 1,5·10⁻⁶).

Kaydırma hesaplanan fonksiyonu değiştirmez: μ = K + μ_d her K için aynı sayıdır, yalnızca
yuvarlaması farklıdır; `x − μ = (x − K) − μ_d`'de K sadeleşir, K'nın x₀'a bağlı olması da bu
yüzden önemsizdir. Aşağıdaki geri yayılım türetimi olduğu gibi geçerlidir ve önbellek yine
yalnızca x̂ ile rstd'yi tutar. Ek iş: genel yolda tek bir öğe öğe geçiş; Numba çekirdeğinde öğe
başına bir çıkarma (fark x̂'in satırına yazılır, sonraki döngüler oradan okur), CUDA çekirdeğinde
satırın üç geçişinin her birinde öğe başına bir çıkarma (fark her geçişte yeniden hesaplanır).
(PyTorch'un CPU'da çalışan katman normalizasyonu çekirdeği aynı sorunu Welford yöntemiyle
çözer.)

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
   geri yayılım yapmaktan daha kısadır ve satır üzerinde daha az geçiş ister: ara bir dσ²
   terimi, dolayısıyla rstd³ de yoktur (llm.c'deki biçimle aynıdır).

## Çok büyük değerler: taşma
float32'nin en büyük değeri ≈ 3,4·10³⁸'dir. Bir satırda |x − μ| ≈ 1,8·10¹⁹'u aşınca
`(x − μ)²` (ya da C tanesinin toplamı) sonsuza taşar: σ² = ∞, rstd = 0 ve x̂ = 0 çıkar, yani
katman sessizce yalnızca `b`'yi döndürür (PyTorch 2.13 bu satırlarda 0 ya da NaN verir). Oysa x̂ ölçekten
bağımsızdır: her `x` yerine `x/s` konsa da aynı kalır (ε'un payı dışında). Bu yüzden σ²'si sonlu
çıkmayan satırlar, `s = 2^e ≤ max|x| < 2s` (ikinin kuvveti: bölme kesindir, yuvarlama yoktur)
ile `y = x/s` üzerinden yeniden hesaplanır:

    x̂    = (y − μ_y) / √(σ²_y + ε/s²)
    rstd = 1 / (s·√(σ²_y + ε/s²))           (= 1/√(σ² + ε), taşmadan)

Olağan satırlar bu dala hiç girmez, sonuçları bit düzeyinde aynıdır. Geri geçiş değişmez:
`x̂` ve `rstd` önbellekte zaten doğru değerleriyle durur. Satırda inf ya da NaN varsa sonuç
NaN'dır (PyTorch'taki gibi). Numba ve CUDA çekirdekleri aynı dalı aynı formüllerle izler
(y'nin ortalaması da önce y₀ çıkarılarak alınır).
Test: `tests/test_layers.py::test_layernorm_rows_whose_variance_overflows`.

## Çıktıyı yeniden hesaplamak
Önbellek `x̂`'i tuttuğu için çıktının kendisini saklamaya gerek yoktur: `layernorm_output`,
ileri geçişin son iki işlemini (`x̂⊙w`, sonra `+ b`) aynı sırayla yineler ve bit düzeyinde aynı
diziyi verir. Transformer bloğu bunu büyük etkinleştirmelerde belleği azaltmak için kullanır
(bkz. block.py).

Gradyan denetimi: `tests/test_layers.py::test_layernorm_gradcheck`.
PyTorch ile karşılaştırma (ileri ve geri geçiş):
`tests/test_layers_torch.py::test_layernorm`.
"""
from __future__ import annotations

import contextlib
from typing import Any, NamedTuple

import numpy as np

from ..backend import for_row_blocks, fused_kernels, get_array_module, matmul_t

# Boyutlar: B = toplu iş, T = dizi uzunluğu, C = gömme boyutu, N = B·T satır,
# n = bir satır bloğundaki satır sayısı


class LayerNormCache(NamedTuple):
    """What layernorm_forward keeps for layernorm_backward."""

    xhat: Any   # (B, T, C)
    rstd: Any   # (B, T, 1)
    w: Any      # (C,)
    b: Any      # (C,) ya da None (sapmasız katman)


def layernorm_forward(x, w, b=None, eps: float = 1e-5):
    """Normalise over the last axis, then scale by w and shift by b. Returns (out, cache)."""
    xp = get_array_module(x)
    fused = fused_kernels(x)
    if fused is not None:
        # Birleşik çekirdek (GPU'da cuda_kernels.py, CPU'da Numba ile cpu_kernels.py): satır
        # başına μ, rstd, x̂ ve out tek geçişte; aşağıdaki genel kod başvuru uygulamasıdır.
        out, xhat, rstd = fused.layernorm_forward(x, w, b, eps)
        return out, LayerNormCache(xhat, rstd, w, b)
    C = x.shape[-1]
    x2 = x.reshape(-1, C)                               # (B, T, C) -> (N, C)
    N = x2.shape[0]
    xhat = xp.empty((N, C), dtype=x.dtype)
    out = xp.empty((N, C), dtype=x.dtype)
    rstd = xp.empty((N, 1), dtype=x.dtype)

    rstd1 = rstd.reshape(N)                             # (N, 1) -> (N,) görünüm
    # Satır ortalamaları bir matris-vektör çarpımıdır: `x·(1/C, …, 1/C)` (BLAS gemv). Kısa
    # satırlarda (C = 128) NumPy'ın son eksen boyunca indirgemesinden (`mean`, `add.reduce`)
    # birkaç kat hızlıdır. Satır blokları yalnızca dizinin şekline bağlı olduğundan sonuç
    # iş parçacığı sayısından bağımsızdır (bkz. backend.for_row_blocks).
    avg = xp.full((C,), 1.0 / C, dtype=x.dtype)         # (C,)

    def block(r):
        with _overflow_quiet(xp):   # taşan satırlar aşağıda yeniden hesaplanır; uyarı gerekmez
            _block(r)

    def _block(r):
        # Bir satır bloğu; satırlar birbirinden bağımsızdır (bkz. backend.for_row_blocks)
        xb, xc, rs, ob = x2[r], xhat[r], rstd1[r], out[r]
        # Kaydırma (modül belgesindeki "Ortalamadan önce kaydırma"): önce her satırdan kendi ilk
        # öğesi K = x₀ çıkarılır, ortalama sonra alınır. μ'yü doğrudan (1/C) Σ x diye almak onu
        # |μ| ölçeğindeki float adımına, ulp(μ)'ye yuvarlar. Sabit bir satırda (her x_c = a)
        # hesaplanan μ sık sık a + η çıkar (|η| bir ya da birkaç ulp); o zaman her öğede
        # x − μ = −η, σ² = η² ve x̂ = −η/√(η² + ε) olur: 0 olması gerekirken |η|, √ε ≈ 0,003'e
        # yaklaşıp onu aştıkça |x̂| 1'e gider (float32'de a = 1000 için |η| bir ulp iken ≈ 0,02,
        # altı ulp iken ≈ 0,12; a = 10⁶ için ≈ 0,999).
        # x − K farkları bu hatayı taşımaz: sabit satırda hepsi tam 0'dır (a − a = 0); K'ya
        # yakın değerlerde fark yuvarlamasızdır (Sterbenz: y/2 ≤ x ≤ 2y ise x − y kesin) ve
        # ortalamaları satırın yayılımı ölçeğinde küçük bir sayı olduğundan yuvarlama hatası da
        # o ölçektedir.
        # μ = K + (1/C) Σ (x − K) her K için aynı sayıdır: x − μ = (x − K) − μ_d, yani çıktı ve
        # geri geçiş aynı fonksiyona aittir. Bedeli tek bir ek öğe öğe geçiştir
        # (aşağıdaki `xc -= …`; K'nın çıkarılması eskiden `x − μ`'nün yaptığı geçişin yerindedir).
        xp.subtract(xb, xb[:, :1], out=xc)              # xc = x − K           (n, C)
        # Kaydırılmış ortalama ve merkezleme: μ_d = (1/C) Σ_c (x_c − K) = μ − K ;
        # xc = (x − K) − μ_d = x − μ
        mu_d = matmul_t(xc, avg)                        # (n, C)@(C,) -> (n,)
        xc -= mu_d[:, None]
        # Varyans: σ² = (1/C) Σ_c (x_c − μ)²  (kareler geçici olarak `out`'un satırlarında)
        xp.multiply(xc, xc, out=ob)
        rs[...] = matmul_t(ob, avg)                     # (n, C)@(C,) -> (n,)
        # Taşma denetimi: σ² sonlu değilse (float32'de |x − μ| ≳ 1,8·10¹⁹ iken kareler ya da
        # toplamları taşar) o satırlar aşağıda ölçeklenerek yeniden hesaplanır. (CuPy'da
        # `bool(...)` GPU'yu bekler; GPU'da eğitimi bu başvuru kodu değil, çekirdek yapar.)
        finite = xp.isfinite(rs)                        # (n,)
        over = None if bool(finite.all()) else xp.flatnonzero(~finite)
        # Ters standart sapma: rstd = 1/√(σ² + ε)  (yerinde, rstd'nin kendi belleğinde)
        rs += eps
        xp.sqrt(rs, out=rs)
        xp.reciprocal(rs, out=rs)
        # Standartlaştırılmış girdi: x̂ = (x − μ)·rstd (xc'nin belleği yeniden kullanılır)
        xc *= rs[:, None]
        if over is not None:
            xc[over], rs[over] = _rescaled_rows(xb[over], eps, xp)
        # Kazanç ve sapma: out = x̂ ⊙ w + b
        xp.multiply(xc, w, out=ob)
        if b is not None:
            ob += b

    for_row_blocks(block, N, C, xp)
    shape1 = x.shape[:-1] + (1,)
    # (N, C) -> (B, T, C) ve (N, 1) -> (B, T, 1)
    xhat, out, rstd = xhat.reshape(x.shape), out.reshape(x.shape), rstd.reshape(shape1)
    return out, LayerNormCache(xhat, rstd, w, b)


def _overflow_quiet(xp):
    """NumPy: no RuntimeWarning for the overflow (and inf·0) of rows that are then recomputed."""
    return np.errstate(over="ignore", invalid="ignore") if xp is np else contextlib.nullcontext()


def _rescaled_rows(x, eps: float, xp):
    """(x̂, rstd) of rows x (n, C) whose variance overflows the dtype, computed on x/s.

    s = 2^e is the power of two at or below each row's max |x|, so x/s is exact and
    1 ≤ max |x/s| < 2; μ, σ² and x̂ of x/s cannot overflow. As in the ordinary rows, the mean is
    taken after subtracting the row's first element. The CPU (Numba) and GPU kernels take the same
    branch with the same formulas."""
    # Ölçek: satırın en büyük |x|'inin ikinin kuvveti olan tabanı, s = 2^e. frexp m·2^k verir
    # (0.5 ≤ m < 1), dolayısıyla s = 2^(k−1) ≤ max|x| < 2s; x/s bölmesi kesindir (yalnızca üs
    # değişir, yuvarlama yok)
    _, k = xp.frexp(xp.abs(x).max(axis=-1, keepdims=True))          # (n, 1)
    s = xp.ldexp(xp.ones_like(x[:, :1]), k - 1)                     # (n, 1)
    y = x / s                                                       # (n, C), |y| < 2
    # y üzerinde olağan istatistikler: μ_y = μ/s, σ²_y = σ²/s². Olağan yoldaki gibi önce satırın
    # ilk öğesi çıkarılır (|y − y₀| < 4, taşmaz), ortalama kaydırılmış veriden alınır
    yc = y - y[:, :1]                                               # (n, C)
    yc -= yc.mean(axis=-1, keepdims=True)                           # y − μ_y
    var = (yc * yc).mean(axis=-1, keepdims=True)                    # (n, 1)
    # x̂ ölçekten bağımsızdır: x̂ = (y − μ_y)/√(σ²_y + ε/s²). rstd = 1/√(σ² + ε) = r_y/s
    r_y = 1.0 / xp.sqrt(var + eps / s / s)                          # (n, 1)
    return (yc * r_y).astype(x.dtype), (r_y / s).astype(x.dtype).reshape(-1)


def layernorm_output(cache: LayerNormCache):
    """Recompute the forward output x̂⊙w + b from the cache (two element-wise passes).

    Lets a caller (the Transformer block) drop the linear layer's reference to the output after
    the forward pass and rebuild it in the backward pass, instead of keeping a (B, T, C) array.
    The operations are the generic (CPU) forward's last two lines in the same order, so the
    bits are equal; the block uses it on the CPU only.
    """
    xp = get_array_module(cache.xhat)
    # İleri geçişin son iki satırı, aynı sırayla: `out = x̂⊙w`, sonra `out += b`
    out = xp.multiply(cache.xhat, cache.w)                # (B, T, C)
    if cache.b is not None:
        out += cache.b
    return out


def layernorm_backward(dout, cache: LayerNormCache):
    """Returns (dx, dw, db); db is None without a bias."""
    xp = get_array_module(dout)
    xhat, rstd, w = cache.xhat, cache.rstd, cache.w
    C = xhat.shape[-1]
    # dout, out'un şeklinde olmalı; birleşik çekirdeklerdeki gibi, o şekle yayınlanabilen
    # (broadcast) daha küçük bir dout da kabul edilir: satırlara ayırmadan önce tam şekle
    # yayınlanır
    dout = xp.broadcast_to(dout, xhat.shape) if dout.shape != xhat.shape else dout
    d2 = dout.reshape(-1, C)                               # (B, T, C) -> (N, C)
    xhat2, rstd2 = xhat.reshape(-1, C), rstd.reshape(-1, 1)  # (N, C), (N, 1)
    N = d2.shape[0]
    # İleri geçişte: `out = x̂⊙w + b` (her satıra aynı w ve b) → bu yüzden `db = Σ_n dout[n]`.
    # Satırlar üzerindeki toplam, birlerden oluşan bir vektörle çarpımdır: `1ᵀ·dout` (gemv).
    # Önde gelen eksenler boyunca indirgeme hem NumPy'da hem CuPy'da bundan yavaştır.
    ones = xp.ones((N,), dtype=dout.dtype)                 # (N,)
    db = matmul_t(ones, d2) if cache.b is not None else None  # (N,)@(N, C) -> (C,)
    # Aynı satırdan: `dw = Σ_n dout[n]⊙x̂[n]`
    prod = d2 * xhat2                                      # (N, C)
    dw = matmul_t(ones, prod)                              # (N,)@(N, C) -> (C,)
    # Çekirdek dout, x̂ ve rstd'yi tek türde okur: türleri farklıysa (ör. float64 bir ileri
    # geçişe float32 bir dout) genel yol çalışır (çekirdek TypeError verirdi)
    fused = fused_kernels(dout) if dout.dtype == xhat.dtype == rstd.dtype else None
    if fused is not None:   # GPU/Numba: dx'in aşağıdaki satırları tek çekirdekte
        return fused.layernorm_backward_dx(dout, xhat, rstd, w), dw, db
    avg = xp.full((C,), 1.0 / C, dtype=dout.dtype)         # (C,)
    dx = xp.empty(d2.shape, dtype=d2.dtype)

    def block(r):
        # Bir satır bloğu (bkz. layernorm_forward)
        xh, dxb, pb = xhat2[r], dx[r], prod[r]
        # Aynı satırdan: `dx̂ = dout⊙w`
        xp.multiply(d2[r], w, out=dxb)                     # (n, C)
        # İleri geçişte: `x̂ = (x − μ)·rstd` (μ ve rstd x'e bağlı)
        # → bu yüzden `dx = rstd·(dx̂ − mean(dx̂) − x̂⊙mean(dx̂⊙x̂))`
        m1 = matmul_t(dxb, avg)                            # (n, C)@(C,) -> (n,)
        xp.multiply(dxb, xh, out=pb)                       # `prod`'un belleği yeniden kullanılır
        m2 = matmul_t(pb, avg)                             # (n,)
        xp.multiply(xh, m2[:, None], out=pb)               # pb = x̂⊙mean(dx̂⊙x̂)
        dxb -= m1[:, None]
        dxb -= pb
        dxb *= rstd2[r]

    for_row_blocks(block, N, C, xp)
    dx = dx.reshape(dout.shape)                             # (N, C) -> (B, T, C)
    return dx, dw, db
