"""
# CPU'ya özel birleşik (fused) çekirdekler — isteğe bağlı, Numba ile

Katmanların genel `xp` kodu **başvuru (referans)** uygulamadır ve yalnızca NumPy ister. NumPy'da
her işlem (`xp.multiply`, `xp.exp`, `+=` …) ayrı bir C döngüsüdür: diziyi baştan sona bir kez
okur, bir kez yazar, sonra Python'a döner. GELU'nun ileri geçişi böyle sekiz işlemdir; aynı
veri sekiz kez bellekten (en iyi durumda ikinci düzey önbellekten) geçer ve her işlemin çağrı
maliyeti ayrıca ödenir. Üstelik NumPy'ın float32 `exp`'i bu makinede öğe başına 1,6–3 ns
sürer; bir çarpma 0,15 ns. Yani GELU'nun ve softmax'ın süresini `exp` ve bellek geçişleri
belirler, aritmetik değil (ölçümler: benchmarks/RESULTS.md, "Session 6").

Bu modül aynı formülleri **tek döngüde** yazar: her öğe bir kez okunur, bütün adımlar
yazmaçlarda (register) yapılır, sonuç bir kez yazılır. Döngüleri Numba (LLVM) makine koduna
çevirir ve AVX2 ile sekiz float32'yi birden işleyecek biçimde vektörleştirir. Numba yalnızca
bu modülün isteğe bağlı bağımlılığıdır (`pip install -e ".[fast]"`); kurulu değilse ya da
`NANOGRAD_LLM_FUSED=0` verilmişse katmanlar genel NumPy koduna döner. Çekirdekler yalnızca
**float32** dizilerde devreye girer; float64 (gradyan denetimleri) her zaman başvuru yolundan
geçer.

Genel kodun bellek üzerinden kaç geçiş yaptığı (her NumPy çağrısı bir geçiş; satır toplamları
BLAS ile alınan matris-vektör çarpımlarıdır) ve çekirdeğin yaptığı:

| katman (genel kodun yeri) | NumPy geçişleri | çekirdekte |
|---|---:|---:|
| GELU ileri / geri (gelu.py) | 8 / 9 | 1 / 1 |
| nedensel softmax ileri / geri (attention.py) | 6 / 4 | satır başına 3 / 2 |
| katman normalizasyonu ileri / geri-dx (layernorm.py) | 13 / 8 | satır başına 3 / 2 |
| AdamW (optim.py) | 13 (+1 ağırlık azaltma) | 1 |

Satır başına geçişler (ör. softmax'ta önce maksimum, sonra üs ve toplam, sonra bölme) tek bir
satırın üzerindedir; bir satır (softmax'ta Tk, normalizasyonda C float32: birkaç KB) birinci
düzey önbellekte kalır ve bellekten bir kez okunur.

Kurallar (GPU çekirdekleriyle, cuda_kernels.py, aynı):
* Her çekirdek genel yolla **aynı önbelleği** üretir ve aynı imzayla çağrılır; katman kodu
  yalnızca `backend.fused_kernels(x)`'e sorar.
* `tests/test_cpu_kernels.py` her çekirdeği genel yolla karşılaştırır (float32 doğruluğunda)
  ve bütün bir GPT adımının gradyanlarını çekirdekli ve çekirdeksiz yollarda karşılaştırır.
* Çekirdekler satır satır bağımsızdır ve GIL'i bırakır (`nogil`): veri paralelliğinin iki iş
  parçacığı onları gerçekten aynı anda çalıştırır; büyük diziler yine `for_row_blocks` ile
  bloklara bölünür. Sonuç, iş parçacığı sayısından bağımsız olarak bit düzeyinde aynıdır.

## `exp`: float32 için kendi üstel fonksiyonumuz
LLVM, `math.exp` çağrısını vektörleştiremez (Intel'in SVML kütüphanesi olmadan her öğe için
ayrı bir libm çağrısı yapar; bu da NumPy'dan yavaştır). Bu yüzden eˣ'i kendimiz hesaplarız:

1. **Aralık indirgeme.** `x = k·ln2 + z` yazılır: `k = ⌊x·log₂e + ½⌋` bir tam sayı,
   `|z| ≤ ln2/2 ≈ 0,347`. O zaman `eˣ = 2ᵏ · eᶻ`. `z = x − k·ln2` hesabında ln2 iki parçaya
   bölünür (`C1 = 0,693359375` yalnızca birkaç anlamlı bit taşır, `k·C1` tam hesaplanır;
   `C2` kalanıdır): yoksa `k·ln2`'nin yuvarlama hatası z'nin kendisi kadar büyüyebilirdi.
2. **Polinom.** Küçük z'de `eᶻ ≈ 1 + z + z²·P(z)`, P beşinci dereceden bir polinom (Cephes
   kütüphanesinin float32 katsayıları; Taylor katsayılarına yakındır ama bütün aralıktaki en
   büyük hatayı en aza indirecek biçimde seçilmiştir).
3. **2ᵏ bit düzeyinde.** float32'nin üs alanı 23. bitten başlar ve 127 kaydırmalıdır: tam sayı
   `(k + 127) << 23`'ün bitleri, float32 olarak okunduğunda tam olarak 2ᵏ'dir. Bu "okuma"
   (`_i32_as_f32`) bir LLVM `bitcast`'ıdır; hiçbir işlem yapmaz.
4. **Sınırlar.** x, [−87, 88] aralığına kırpılır: 2ᵏ'nın üs alanı taşmasın (e⁸⁸ ≈ 1,65·10³⁸,
   float32'nin en büyüğü 3,4·10³⁸). Softmax'ta `x − max ≤ 0` olduğundan üst sınıra hiç
   ulaşılmaz; alt sınırdaki değer (e⁻⁸⁷ ≈ 1,6·10⁻³⁸) satır toplamının (≥ 1) yanında sıfırdır.
   GELU'da üs 88'i aşarsa σ = 1/(1 + e^(−2u)) doğrudan 0 yazılır: genel yolda da e^(−2u)
   float32'de üs ≈ 88,72'yi aşınca ∞'a taşar ve σ tam 0 olur (arada, 88 < üs ≤ 88,72'de genel
   yolun σ'sı 3·10⁻³⁹ ile 6·10⁻³⁹ arasında bir alt normal sayıdır).

Göreli hata ≤ 1e-6 (birkaç float32 birimi; testte float64 `exp` ile ölçülür). NumPy'ın
`exp`'i de tam olarak doğru yuvarlanmış değildir; iki yolun sonuçları bu yüzden son birkaç bitte
ayrılır, bu da float32 eğitimin gürültüsünün çok altındadır.

## Hızlı matematik bayrakları (fastmath)
Numba'nın `fastmath` seçeneği LLVM'e IEEE kurallarından bazılarını gevşetme izni verir. Burada
yalnızca üçü açıktır: `reassoc` (toplama sırası değişebilir: satır toplamları ve maksimumlar
sekizer sekizer vektörleşir), `nsz` (sıfırın işareti önemsenmez) ve `contract` (`a·b + c` tek
yuvarlamalı bir FMA komutu olabilir). `fastmath=True`'nun açacağı ötekiler bilerek kapalıdır:
`arcp` ile `1/(1 + e)` yaklaşık bir ters alma komutuyla hesaplandı ve GELU'nun σ'sı 1 yerine
0,99999994 çıktı, gradyanı x = 30'da 3,5·10⁻⁴ saptı (ölçülen); `nnan`/`ninf` ise NaN'ın
yayılmasını güvenceye almaz (eğitim, NaN bir kayıp görünce durur; test: bir NaN girdi her
çekirdekte NaN kalır). Katman normalizasyonu çekirdekleri `contract` iznini de almaz: blok, geri
geçişte LN çıktısını NumPy'la `x̂⊙w + b` diye (önce çarpma, sonra toplama, iki yuvarlama) yeniden
kurar (`layernorm_output`) ve bu, ileri geçişin çıktısıyla bit düzeyinde aynı olmalıdır; FMA tek
yuvarlamayla başka bir sonuç verirdi.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from .backend import for_row_blocks

# Boyutlar: N = satır sayısı (B·T ya da B·nh·Tq), C = gömme boyutu, Tq/Tk = sorgu/anahtar sayısı

_F = np.float32
# Bütün çekirdekler: GIL bırakılır, derlenen kod diske yazılır (sonraki süreçler yeniden
# derlemez), sıfıra bölme Python istisnası yerine IEEE sonucu verir (vektörleşmenin koşulu),
# indeks denetimi yok (döngü sınırları zaten dizinin içinde).
_BASE = dict(nogil=True, cache=True, error_model="numpy", boundscheck=False)
# Gevşetilen kurallar: yalnızca reassoc, nsz, contract (yukarıdaki "fastmath" bölümü)
_FAST = dict(_BASE, fastmath={"nsz", "reassoc", "contract"})
# Katman normalizasyonu: FMA birleştirmesi (`contract`) yok (yukarıdaki bölüme bakın)
_FAST_NO_FMA = dict(_BASE, fastmath={"nsz", "reassoc"})

_LOG2E = _F(1.4426950408889634)
_LN2_HI = _F(0.693359375)           # ln2'nin yüksek parçası (k·C1 tam hesaplanır)
_LN2_LO = _F(-2.12194440e-4)        # ln2 − C1
_P0, _P1, _P2 = _F(1.9875691500e-4), _F(1.3981999507e-3), _F(8.3334519073e-3)
_P3, _P4, _P5 = _F(4.1665795894e-2), _F(1.6666665459e-1), _F(5.0000001201e-1)
_EXP_LO, _EXP_HI = _F(-87.0), _F(88.0)

_K = math.sqrt(2.0 / math.pi)       # √(2/π)
_A = 0.044715
_M2K = _F(-2.0 * _K)                # −2√(2/π)
_M2KA = _F(-2.0 * _K * _A)          # −2√(2/π)·0.044715
_D2K = _F(2.0 * _K)                 # d(2u)/dx'in sabit terimi
_D6KA = _F(2.0 * 3.0 * _A * _K)     # … ve x²'li terimi
_ONE, _ZERO, _NAN = _F(1.0), _F(0.0), _F(np.nan)


@intrinsic
def _i32_as_f32(typingctx, bits):
    """The bits of an int32 read as a float32 (an LLVM bitcast: no arithmetic)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return sig, codegen


@njit(inline="always", **_FAST)
def _exp(x):
    """float32 eˣ (relative error below 1e-6), x clamped to [−87, 88]; vectorises."""
    x = min(max(x, _EXP_LO), _EXP_HI)
    # 1) Aralık indirgeme: x = k·ln2 + z, |z| ≤ ln2/2
    k = np.floor(x * _LOG2E + _F(0.5))
    z = x - k * _LN2_HI
    z = z - k * _LN2_LO
    # 2) eᶻ ≈ 1 + z + z²·P(z)
    p = (((((_P0 * z + _P1) * z + _P2) * z + _P3) * z + _P4) * z + _P5) * z * z + z + _ONE
    # 3) 2ᵏ: (k + 127) üs alanına yazılır
    return p * _i32_as_f32((np.int32(k) + np.int32(127)) << np.int32(23))


@njit(**_FAST)
def exp_f32(x, out):
    """out = eˣ element-wise with the kernels' own exp (1-D float32 arrays; for tests)."""
    for i in range(x.size):
        out[i] = _exp(x[i])


# -- GELU ---------------------------------------------------------------------------------------
@njit(**_FAST)
def _gelu_fwd(x, out, s):
    # gelu.py ile aynı formül, tek döngüde: −2u = x·(−2√(2/π) − 2√(2/π)·0.044715·x²),
    # s = σ(2u) = 1/(1 + e^(−2u)), out = x·s
    for i in range(x.size):
        v = x[i]
        t = v * (_M2K + _M2KA * v * v)
        si = _ONE / (_ONE + _exp(t))
        # e^t float32'de t ≈ 88,72'nin üstünde taşar (genel yolda ∞ → σ = 0); t > 88'de kırpılmış
        # üs 0 yerine ~6·10⁻³⁹ verirdi: tam 0 yazılır (88 < t ≤ 88,72'de genel yol ≤ 6·10⁻³⁹)
        if t > _EXP_HI:
            si = _ZERO
        s[i] = si
        out[i] = v * si


@njit(**_FAST)
def _gelu_bwd(dout, x, s, dx):
    # İleri geçişte: `out = x·s`, `s = σ(2u)` → dx = dout·(s + x·s·(1 − s)·d(2u)/dx)
    for i in range(x.size):
        v = x[i]
        si = s[i]
        d2u = _D2K + _D6KA * v * v
        dx[i] = dout[i] * (si + v * si * (_ONE - si) * d2u)


# -- nedensel softmax ---------------------------------------------------------------------------
@njit(**_FAST)
def _softmax_fwd(att, first, Tq, off):
    # att: (n, Tk) satırlar; `first`: bu bloğun ilk satırının dizideki sırası. Sorgu i = satır
    # mod Tq, yalnızca j ≤ i + off anahtarlarını görür (off = Tk − Tq; KV önbelleği ya da
    # karolar). Görülmeyen yerler doğrudan 0 yazılır (genel yoldaki −∞ maskesinin sonucu).
    Tk = att.shape[1]
    for r in range(att.shape[0]):
        row = att[r]
        n = min((first + r) % Tq + off + 1, Tk)
        if n <= 0:
            # Hiç anahtar görmeyen sorgu (Tq > Tk): genel yolda bu satır −∞ − (−∞) = NaN olur,
            # burada da NaN yazılır
            for j in range(Tk):
                row[j] = _NAN
            continue
        m = row[0]
        for j in range(1, n):
            m = max(m, row[j])
        total = _ZERO
        for j in range(n):
            e = _exp(row[j] - m)
            row[j] = e
            total += e
        inv = _ONE / total
        for j in range(n):
            row[j] *= inv
        for j in range(n, Tk):
            row[j] = _ZERO


@njit(**_FAST)
def _softmax_bwd(att, datt):
    # İleri geçişte: `A = softmax(S)` → dS = A ⊙ (dA − Σ_j dA_j·A_j); maskeli yerlerde A = 0
    for r in range(att.shape[0]):
        a = att[r]
        d = datt[r]
        dot = _ZERO
        for j in range(a.shape[0]):
            dot += d[j] * a[j]
        for j in range(a.shape[0]):
            d[j] = a[j] * (d[j] - dot)


# -- katman normalizasyonu ----------------------------------------------------------------------
@njit(**_FAST_NO_FMA)
def _ln_rescaled(xr, eps, xh):
    # Varyansı taşan bir satır: s = 2^e ≤ max|x| < 2s ile y = x/s (kesin bölme, |y| < 2);
    # x̂ = (y − μ_y)/√(σ²_y + ε/s²) ölçekten bağımsızdır ve rstd = r_y/s döner
    C = xr.shape[0]
    inv_c = _ONE / _F(C)
    m = _ZERO
    for c in range(C):
        a = abs(xr[c])
        if a > m:
            m = a
    k = math.frexp(m)[1]                        # m = f·2^k, 0.5 ≤ f < 1
    s = _F(math.ldexp(1.0, k - 1))             # s = 2^(k−1)
    # Olağan yoldaki gibi kaydırma: d = y − y₀ farkı x̂'in satırına yazılır, μ_d onun ortalamasıdır
    y0 = xr[0] / s
    mu = _ZERO
    for c in range(C):
        d = xr[c] / s - y0
        xh[c] = d
        mu += d
    mu *= inv_c
    var = _ZERO
    for c in range(C):
        d = xh[c] - mu
        var += d * d
    var *= inv_c
    ry = _ONE / np.sqrt(var + eps / s / s)
    for c in range(C):
        xh[c] = (xh[c] - mu) * ry
    return ry / s


@njit(**_FAST_NO_FMA)
def _ln_fwd_rows_rescaled(x, w, b, has_b, eps, out, xhat, rstd, rows):
    # Yalnızca verilen satırlar (varyansı taşanlar): x̂ ve rstd x/s üzerinden, sonra out
    for i in range(rows.shape[0]):
        r = rows[i]
        rstd[r] = _ln_rescaled(x[r], eps, xhat[r])
        xh = xhat[r]
        o = out[r]
        for c in range(x.shape[1]):
            o[c] = xh[c] * w[c]
        if has_b:
            for c in range(x.shape[1]):
                o[c] = o[c] + b[c]


@njit(**_FAST_NO_FMA)
def _ln_fwd(x, w, b, has_b, eps, out, xhat, rstd):
    C = x.shape[1]
    inv_c = _ONE / _F(C)
    for r in range(x.shape[0]):
        xr = x[r]
        xh = xhat[r]
        # Kaydırma (bkz. layernorm.py, "Ortalamadan önce kaydırma"): K = x₀; d = x − K farkı
        # x̂'in satırına yazılır; μ_d = (1/C) Σ d = μ − K. Sabit bir satırda d tam 0'dır. Fark
        # belleğe yazılıp sonraki döngülerde oradan okunur, çünkü `reassoc` izniyle LLVM
        # `(x − K) − μ_d`'yi `x − (K + μ_d)` diye yeniden gruplayabilir ve K + μ_d = μ'nün
        # yuvarlaması geri gelir (denendi: farkı belleğe yazmayan bir döngüde 1000 + N(0; 0,01²)
        # satırlarının hatası kaydırmasız yoldakiyle aynıydı).
        k = xr[0]
        mu = _ZERO
        for c in range(C):
            d = xr[c] - k
            xh[c] = d
            mu += d
        mu *= inv_c
        # σ² = (1/C) Σ (d − μ_d)² = (1/C) Σ (x − μ)²
        var = _ZERO
        for c in range(C):
            d = xh[c] - mu
            var += d * d
        var *= inv_c
        # rstd = 1/√(σ² + ε)
        rs = _ONE / np.sqrt(var + eps)
        rstd[r] = rs
        o = out[r]
        # x̂ = (d − μ_d)·rstd = (x − μ)·rstd ; out = x̂⊙w (+ b)
        for c in range(C):
            v = (xh[c] - mu) * rs
            xh[c] = v
            o[c] = v * w[c]
        if has_b:
            for c in range(C):
                o[c] = o[c] + b[c]


@njit(**_FAST_NO_FMA)
def _ln_bwd_dx(dout, xhat, rstd, w, dx):
    # İleri geçişte: `x̂ = (x − μ)·rstd`, `out = x̂⊙w + b`
    # → dx̂ = dout⊙w ; dx = rstd·(dx̂ − mean(dx̂) − x̂⊙mean(dx̂⊙x̂))
    C = xhat.shape[1]
    inv_c = _ONE / _F(C)
    for r in range(xhat.shape[0]):
        d = dout[r]
        xh = xhat[r]
        m1 = _ZERO
        m2 = _ZERO
        for c in range(C):
            g = d[c] * w[c]
            m1 += g
            m2 += g * xh[c]
        m1 *= inv_c
        m2 *= inv_c
        rs = rstd[r]
        o = dx[r]
        for c in range(C):
            o[c] = (d[c] * w[c] - m1 - xh[c] * m2) * rs


# -- AdamW --------------------------------------------------------------------------------------
@njit(**_FAST)
def _adamw(p, g, m, v, b1, c1, b2, c2, eps, decay, inv_sqrt_bc2, step):
    # optim.py'deki on üç geçişin tek döngüsü (c1 = 1−β₁, c2 = 1−β₂; optim.py'deki gibi float64'te
    # hesaplanıp float32'ye çevrilir):
    # m ← β₁m + (1−β₁)g ; v ← β₂v + (1−β₂)g² ; p ← p·(1 − lr·wd) − (lr/bc1)·m/(√v/√bc2 + ε)
    for i in range(p.size):
        gi = g[i]
        mi = b1 * m[i] + c1 * gi
        vi = b2 * v[i] + c2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        p[i] = p[i] * decay + step * (mi / (np.sqrt(vi) * inv_sqrt_bc2 + eps))


# -- katmanların çağırdığı arayüz (cuda_kernels.py ile aynı imzalar) ----------------------------
def _check(*arrays) -> None:
    for a in arrays:
        if a.dtype != np.float32:
            raise TypeError(f"CPU fused kernels support float32 only, not {a.dtype}")


def _rows(a, n: int):
    """A C-contiguous (rows, n) view (a copy only when a is not contiguous)."""
    return np.ascontiguousarray(a).reshape(-1, n)


def gelu_forward(x):
    """Returns (out, s) with s = σ(2u), the same cache the generic path keeps."""
    _check(x)
    n = x.shape[-1] if x.ndim else 1
    x2 = _rows(x, n)                                        # (…, n) -> (satır, n)
    out = np.empty(x2.shape, dtype=x.dtype)
    s = np.empty(x2.shape, dtype=x.dtype)
    for_row_blocks(lambda r: _gelu_fwd(x2[r].reshape(-1), out[r].reshape(-1), s[r].reshape(-1)),
                   x2.shape[0], n)
    return out.reshape(x.shape), s.reshape(x.shape)


def gelu_backward(dout, x, s):
    _check(dout, x, s)
    if dout.shape != x.shape:
        # Genel yoldaki `g *= dout` gibi genişletilir (çekirdek dout'u x'in boyutundaymış gibi
        # okur; sınır denetimi yok); genişletilemeyen bir dout ValueError verir
        dout = np.broadcast_to(dout, x.shape)
    n = x.shape[-1] if x.ndim else 1
    d2, x2, s2 = _rows(dout, n), _rows(x, n), _rows(s, n)   # (…, n) -> (satır, n)
    dx = np.empty(x2.shape, dtype=x.dtype)
    for_row_blocks(lambda r: _gelu_bwd(d2[r].reshape(-1), x2[r].reshape(-1), s2[r].reshape(-1),
                                       dx[r].reshape(-1)), x2.shape[0], n)
    return dx.reshape(x.shape)


def causal_softmax_forward(att):
    """In place on C-contiguous scores (..., Tq, Tk): causal mask + stable softmax, a query i
    seeing the keys j <= i + (Tk − Tq)."""
    _check(att)
    if not att.flags.c_contiguous:
        raise ValueError("causal_softmax_forward needs a C-contiguous att")
    if not att.flags.writeable:     # yerinde yazar: salt okunur att genel yoldaki gibi ValueError
        raise ValueError("causal_softmax_forward works in place: att is read-only")
    Tq, Tk = att.shape[-2], att.shape[-1]
    a2 = att.reshape(-1, Tk)                                # (…, Tq, Tk) -> (satır, Tk)
    # Bloklar tam Tq satırlık gruplardan oluşur, böylece her satırın sorgu sırası bilinir
    for_row_blocks(lambda r: _softmax_fwd(a2[r.start * Tq:r.stop * Tq], r.start * Tq, Tq,
                                          Tk - Tq), a2.shape[0] // Tq, Tq * Tk)
    return att


def softmax_backward(att, datt):
    """In place on C-contiguous datt: dS = A ⊙ (dA − Σ dA·A) row by row."""
    _check(att, datt)
    if not datt.flags.c_contiguous:
        raise ValueError("softmax_backward needs a C-contiguous datt")
    if not datt.flags.writeable:
        raise ValueError("softmax_backward works in place: datt is read-only")
    if att.shape != datt.shape:     # çekirdek att'nin satırlarını sınır denetimsiz dolaşır
        raise ValueError(f"softmax_backward: att {att.shape} and datt {datt.shape} differ")
    Tk = att.shape[-1]
    a2, d2 = _rows(att, Tk), datt.reshape(-1, Tk)           # (…, Tk) -> (satır, Tk)
    for_row_blocks(lambda r: _softmax_bwd(a2[r], d2[r]), a2.shape[0], Tk)
    return datt


def _vec(a, C: int):
    """a as a float32 (C,) vector, broadcast as in the generic path's `x̂⊙w + b` (the kernels
    index it without bounds checks: a shorter array would be read past its end)."""
    # Çekirdek x'in türüyle (float32) seçilir; başka türde bir w ya da b (ör. np.ones(C),
    # float64) genel yolun float32 çıktılarına yazarken yaptığı gibi float32'ye çevrilir
    a = np.asarray(a, dtype=_F)
    # (C,) olağan durumdur ve olduğu gibi geçer; (), (1,), (1, C) kopyalanmadan genişletilir
    # (adımı 0 olan bir görünüm); başka bir uzunluk genel yoldaki gibi ValueError verir
    return a if a.shape == (C,) else np.broadcast_to(a, (1, C))[0]


def layernorm_forward(x, w, b, eps):
    """Returns (out, xhat, rstd (…, 1)) for x (…, C)."""
    _check(x)
    C = x.shape[-1]
    w = _vec(w, C)
    x2 = _rows(x, C)                                        # (…, C) -> (N, C)
    out = np.empty(x2.shape, dtype=x.dtype)
    xhat = np.empty(x2.shape, dtype=x.dtype)
    rstd = np.empty((x2.shape[0],), dtype=x.dtype)          # (N,)
    has_b = b is not None
    bb = b if has_b else w                                  # kullanılmaz; tür aynı kalsın
    if has_b:
        bb = _vec(b, C)
    for_row_blocks(lambda r: _ln_fwd(x2[r], w, bb, has_b, _F(eps), out[r], xhat[r], rstd[r]),
                   x2.shape[0], C)
    # σ² taşan satırlarda (ya da inf/NaN içerenlerde) rstd = 1/√∞ = 0 ya da NaN çıkar; sonlu bir
    # σ² ile rstd ≥ 5·10⁻²⁰'dir. Yalnızca o satırlar ölçeklenerek yeniden hesaplanır (bkz.
    # layernorm.py, "Çok büyük değerler"). Denetim çekirdeğin dışında: döngüsü aynı kalır.
    if rstd.size and not rstd.min() > 0:                    # NaN da buraya düşer
        over = np.flatnonzero(~(rstd > 0))
        _ln_fwd_rows_rescaled(x2, w, bb, has_b, _F(eps), out, xhat, rstd, over)
    shape1 = x.shape[:-1] + (1,)
    return out.reshape(x.shape), xhat.reshape(x.shape), rstd.reshape(shape1)


def layernorm_backward_dx(dout, xhat, rstd, w):
    _check(dout, xhat, rstd)
    C = xhat.shape[-1]
    w = _vec(w, C)
    d2, xh2 = _rows(dout, C), _rows(xhat, C)                # (…, C) -> (N, C)
    rs = np.ascontiguousarray(rstd).reshape(-1)             # (…, 1) -> (N,)
    dx = np.empty(xh2.shape, dtype=xhat.dtype)
    for_row_blocks(lambda r: _ln_bwd_dx(d2[r], xh2[r], rs[r], w, dx[r]), xh2.shape[0], C)
    return dx.reshape(dout.shape)


def adamw_update(p, g, m, v, lr, beta1, beta2, eps, wd, bc1, bc2):
    """One in-place AdamW step on flat float32 arrays p, m, v with gradient g."""
    _check(p, g, m, v)
    args = (_F(beta1), _F(1.0 - beta1), _F(beta2), _F(1.0 - beta2), _F(eps), _F(1.0 - lr * wd),
            _F(1.0 / math.sqrt(bc2)), _F(-lr / bc1))
    for_row_blocks(lambda r: _adamw(p[r], g[r], m[r], v[r], *args), p.shape[0], 1,
                   min_elems=1 << 18)
