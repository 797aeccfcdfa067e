"""
# GPU'ya özel birleşik (fused) çekirdekler — yalnızca CuPy

Katmanların genel `xp` kodu hem NumPy'da hem CuPy'da çalışır ve **başvuru (referans)**
uygulamadır. GPU'da ise her `xp` işlemi ayrı bir çekirdek (kernel) başlatır ve büyük bir
diziyi bellekten bir kez okuyup belleğe bir kez yazar. Örneğin GELU'nun ileri geçişi yedi sekiz ayrı
işlemdir; (B, T, 4C) boyutlu bir dizide bu, aynı veriyi yedi sekiz kez bellekten geçirmek
demektir. Bu işlemler hesaplama değil **bellek bant genişliği** sınırlıdır; birleştirildiğinde
veri yalnızca bir kez okunup yazılır.

Bu modüldeki çekirdekler:

| çekirdek | yerine geçtiği genel kod |
|---|---|
| `gelu_forward/backward` | gelu.py'deki öğe öğe işlemler |
| `causal_softmax_forward` | attention.py'de maske ekleme + max + exp + toplam + bölme |
| `softmax_backward` | attention.py'de `dS = A ⊙ (dA − Σ dA·A)` |
| `layernorm_forward/backward_dx` | layernorm.py'deki satır istatistikleri ve dx |
| `adamw_update` | optim.py'deki AdamW adımı |
| `gemm` | `backend.matmul_t`: devrik bayraklı, kopyasız cuBLAS matris çarpımı |

Kurallar:
* Her çekirdek, genel yolla **aynı önbelleği (cache)** üretir; böylece ileri geçiş birleşik,
  geri geçiş genel yoldan (ya da tersi) yapılabilir.
* `tests/test_gpu.py` her çekirdeği genel yolla karşılaştırır.
* `NANOGRAD_LLM_FUSED=0` ortam değişkeni bu çekirdekleri kapatır; o zaman GPU'da da genel
  yol çalışır.

## `gemm`: cuBLAS'ı doğrudan çağırmak
CuPy'ın `@` işleci ikiden çok boyutlu dizilerde bitişik olmayan işlenenleri, devrik
görünümler (ör. `k.swapaxes(-1, -2)`) dahil, önce bitişik kopyalara çevirir. `gemm`, cuBLAS'ın
`cublasGemmEx` (tek matris) ve `cublasGemmStridedBatchedEx` (matris yığını) fonksiyonlarını
`ctypes` ile doğrudan çağırır: devrik, cuBLAS'a "T" bayrağıyla bildirilir, `alpha` çarpanı
çarpımın içinde uygulanır, TF32 seçiliyse hesap türü TF32 olur. Satır öncelikli (row-major)
dizilerin sütun öncelikli cuBLAS'a nasıl verildiği `backend.gemm_plan`'dadır ve orada GPU'suz
test edilir. CuPy'ın kendi cuBLAS sarmalayıcıları bir CUDA grafiği kaydı sırasında çağrılmayı
reddeder; doğrudan çağrı bu engeli de kaldırır (bkz. cuda_graph.py).
"""
from __future__ import annotations

import ctypes
import functools
import os
import sys

import cupy as cp
import numpy as np

from .backend import gemm_plan, row_major

# Satır başına bir blok; blok içinde warp karıştırmalı (shuffle) indirgeme.
_COMMON = r"""
// NVRTC math.h'yi içermez: −∞, exp ve sqrt için tür başına açık yardımcılar.
template <typename T> __device__ __forceinline__ T neg_inf();
template <> __device__ __forceinline__ float neg_inf<float>() { return __int_as_float(0xff800000); }
template <> __device__ __forceinline__ double neg_inf<double>() { return __longlong_as_double(0xfff0000000000000ULL); }
__device__ __forceinline__ float ex(float x) { return expf(x); }
__device__ __forceinline__ double ex(double x) { return exp(x); }
__device__ __forceinline__ float sq(float x) { return sqrtf(x); }
__device__ __forceinline__ double sq(double x) { return sqrt(x); }
template <typename T> __device__ __forceinline__ T warp_sum(T v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffff, v, o);
    return v;
}
template <typename T> __device__ __forceinline__ T warp_max(T v) {
    for (int o = 16; o > 0; o >>= 1) { T u = __shfl_xor_sync(0xffffffff, v, o); v = u > v ? u : v; }
    return v;
}
// Bloktaki tüm iş parçacıklarına toplamı/maksimumu döndürür (blockDim.x 32'nin katı, <= 1024).
template <typename T> __device__ T block_sum(T v, T* sh) {
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    T r = (threadIdx.x < nw) ? sh[threadIdx.x] : (T)0;
    if (wid == 0) r = warp_sum(r);
    if (threadIdx.x == 0) sh[0] = r;
    __syncthreads();
    return sh[0];
}
template <typename T> __device__ T block_max(T v, T* sh) {
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    T r = (threadIdx.x < nw) ? sh[threadIdx.x] : neg_inf<T>();
    if (wid == 0) r = warp_max(r);
    if (threadIdx.x == 0) sh[0] = r;
    __syncthreads();
    return sh[0];
}
"""

_SOFTMAX = _COMMON + r"""
// Nedensel softmax, yerinde: satır r, sorgu i = r % Tq; geçerli anahtarlar j <= i + (Tk - Tq).
template <typename T>
__device__ void causal_softmax_fwd(T* att, long long rows, int Tq, int Tk) {
    __shared__ T sh[32];
    long long row = blockIdx.x;
    if (row >= rows) return;
    int limit = (int)(row % Tq) + (Tk - Tq);
    T* a = att + row * Tk;
    T m = neg_inf<T>();
    for (int j = threadIdx.x; j <= limit; j += blockDim.x) m = a[j] > m ? a[j] : m;
    m = block_max(m, sh);
    T s = 0;
    for (int j = threadIdx.x; j <= limit; j += blockDim.x) { T e = ex(a[j] - m); a[j] = e; s += e; }
    s = block_sum(s, sh);
    T inv = (T)1 / s;
    for (int j = threadIdx.x; j < Tk; j += blockDim.x) a[j] = (j <= limit) ? a[j] * inv : (T)0;
}
// dS = A ⊙ (dA − Σ_j dA_j A_j), yerinde dA üzerine.
template <typename T>
__device__ void softmax_bwd(const T* att, T* datt, long long rows, int Tk) {
    __shared__ T sh[32];
    long long row = blockIdx.x;
    if (row >= rows) return;
    const T* a = att + row * Tk;
    T* d = datt + row * Tk;
    T dot = 0;
    for (int j = threadIdx.x; j < Tk; j += blockDim.x) dot += a[j] * d[j];
    dot = block_sum(dot, sh);
    for (int j = threadIdx.x; j < Tk; j += blockDim.x) d[j] = a[j] * (d[j] - dot);
}
extern "C" {
__global__ void causal_softmax_fwd_f32(float* a, long long r, int tq, int tk) { causal_softmax_fwd<float>(a, r, tq, tk); }
__global__ void causal_softmax_fwd_f64(double* a, long long r, int tq, int tk) { causal_softmax_fwd<double>(a, r, tq, tk); }
__global__ void softmax_bwd_f32(const float* a, float* d, long long r, int tk) { softmax_bwd<float>(a, d, r, tk); }
__global__ void softmax_bwd_f64(const double* a, double* d, long long r, int tk) { softmax_bwd<double>(a, d, r, tk); }
}
"""

_LAYERNORM = _COMMON + r"""
// En büyük sonlu değer ve ikinin kuvveti olan taban (2^⌊log₂ m⌋: yalnızca üs bitleri)
template <typename T> __device__ __forceinline__ T max_finite();
template <> __device__ __forceinline__ float max_finite<float>() { return __int_as_float(0x7f7fffff); }
template <> __device__ __forceinline__ double max_finite<double>() { return __longlong_as_double(0x7fefffffffffffffULL); }
__device__ __forceinline__ float pow2_floor(float m) { return __int_as_float(__float_as_int(m) & 0x7f800000); }
__device__ __forceinline__ double pow2_floor(double m) { return __longlong_as_double(__double_as_longlong(m) & 0x7ff0000000000000LL); }
template <typename T>
__device__ void ln_fwd(const T* x, const T* w, const T* b, T* out, T* xhat, T* rstd,
                       long long rows, int C, T eps) {
    __shared__ T sh[32];
    long long row = blockIdx.x;
    if (row >= rows) return;
    const T* xr = x + row * C;
    // layernorm.py'deki gibi önce satırın ilk öğesi K = x₀ çıkarılır: μ_d = (1/C) Σ (x − K),
    // x − μ = (x − K) − μ_d. Sabit satırda her fark tam 0'dır (x̂ = 0); büyük bir ortak değerin
    // çevresindeki satırda ortalamanın yuvarlaması ulp(μ) değil, satırın yayılımı ölçeğinde kalır.
    // Fark belleğe yazılmaz; üç geçişin her birinde yeniden hesaplanır (öğe başına bir çıkarma).
    const T k0 = xr[0];
    T s = 0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) s += xr[c] - k0;
    T mean = block_sum(s, sh) / C;                       // μ_d = μ − K
    T v = 0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) { T d = (xr[c] - k0) - mean; v += d * d; }
    T var = block_sum(v, sh) / C;
    T r;
    if (var <= max_finite<T>()) {
        r = (T)1 / sq(var + eps);
    } else {
        // σ² taştı (ya da satırda inf/NaN var): layernorm.py'deki `_rescaled_rows` gibi x/s
        // üzerinden, s = 2^e ≤ max|x| < 2s (kesin bölme). Dal bütün blokta aynıdır (var ortak).
        T m = 0;
        for (int c = threadIdx.x; c < C; c += blockDim.x) { T a = xr[c] < 0 ? -xr[c] : xr[c]; m = a > m ? a : m; }
        T sc = pow2_floor(block_max(m, sh));
        // y = x/s'nin ortalaması da önce y₀ = x₀/s çıkarılarak alınır (|y − y₀| < 4, taşmaz)
        const T y0 = k0 / sc;
        T s1 = 0;
        for (int c = threadIdx.x; c < C; c += blockDim.x) s1 += xr[c] / sc - y0;
        T my = block_sum(s1, sh) / C;                    // μ_y − y₀
        T v1 = 0;
        for (int c = threadIdx.x; c < C; c += blockDim.x) { T d = (xr[c] / sc - y0) - my; v1 += d * d; }
        T ry = (T)1 / sq(block_sum(v1, sh) / C + eps / sc / sc);
        for (int c = threadIdx.x; c < C; c += blockDim.x) {
            T h = ((xr[c] / sc - y0) - my) * ry;
            xhat[row * C + c] = h;
            out[row * C + c] = h * w[c] + (b ? b[c] : (T)0);
        }
        if (threadIdx.x == 0) rstd[row] = ry / sc;
        return;
    }
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        T h = ((xr[c] - k0) - mean) * r;
        xhat[row * C + c] = h;
        out[row * C + c] = h * w[c] + (b ? b[c] : (T)0);
    }
    if (threadIdx.x == 0) rstd[row] = r;
}
// dx = rstd·(dx̂ − mean(dx̂) − x̂⊙mean(dx̂⊙x̂)),  dx̂ = dout⊙w
template <typename T>
__device__ void ln_bwd_dx(const T* dout, const T* xhat, const T* rstd, const T* w, T* dx,
                          long long rows, int C) {
    __shared__ T sh[32];
    long long row = blockIdx.x;
    if (row >= rows) return;
    const T* g = dout + row * C;
    const T* h = xhat + row * C;
    T s1 = 0, s2 = 0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) { T d = g[c] * w[c]; s1 += d; s2 += d * h[c]; }
    T m1 = block_sum(s1, sh) / C;
    T m2 = block_sum(s2, sh) / C;
    T r = rstd[row];
    for (int c = threadIdx.x; c < C; c += blockDim.x)
        dx[row * C + c] = r * (g[c] * w[c] - m1 - h[c] * m2);
}
extern "C" {
__global__ void ln_fwd_f32(const float* x, const float* w, const float* b, float* o, float* xh, float* rs, long long r, int C, float eps) { ln_fwd<float>(x, w, b, o, xh, rs, r, C, eps); }
__global__ void ln_fwd_f64(const double* x, const double* w, const double* b, double* o, double* xh, double* rs, long long r, int C, double eps) { ln_fwd<double>(x, w, b, o, xh, rs, r, C, eps); }
__global__ void ln_bwd_dx_f32(const float* g, const float* xh, const float* rs, const float* w, float* dx, long long r, int C) { ln_bwd_dx<float>(g, xh, rs, w, dx, r, C); }
__global__ void ln_bwd_dx_f64(const double* g, const double* xh, const double* rs, const double* w, double* dx, long long r, int C) { ln_bwd_dx<double>(g, xh, rs, w, dx, r, C); }
}
"""

_K = float(np.sqrt(2.0 / np.pi))
_A = 0.044715

# s = σ(2u) = 0.5·(1 + tanh u) — gelu.py'nin önbelleğiyle aynı nicelik
_gelu_fwd = cp.ElementwiseKernel(
    "T x", "T y, T s",
    f"T u2 = (T){2 * _K} * x * ((T)1 + (T){_A} * x * x); s = (T)1 / ((T)1 + exp(-u2)); y = x * s;",
    "nanograd_gelu_fwd")

# d out/dx = s + x·s·(1 − s)·d(2u)/dx
_gelu_bwd = cp.ElementwiseKernel(
    "T dout, T x, T s", "T dx",
    f"T d2u = (T){2 * _K} * ((T)1 + (T){3 * _A} * x * x);"
    "dx = dout * (s + x * s * ((T)1 - s) * d2u);",
    "nanograd_gelu_bwd")

_adamw = cp.ElementwiseKernel(
    "T g, T lr, T beta1, T beta2, T eps, T wd, T bc1, T bc2", "T p, T m, T v",
    "m = beta1 * m + ((T)1 - beta1) * g;"
    "v = beta2 * v + ((T)1 - beta2) * g * g;"
    "p = p - lr * wd * p - lr * (m / bc1) / (sqrt(v / bc2) + eps);",
    "nanograd_adamw")


@functools.lru_cache(maxsize=None)
def _module(src: str):
    return cp.RawModule(code=src, options=("--std=c++14",))


def _suffix(dtype) -> str:
    if dtype == np.float32:
        return "f32"
    if dtype == np.float64:
        return "f64"
    raise TypeError(f"fused kernels support float32/float64, not {dtype}")


def _threads(n: int) -> int:
    """Threads per block: a multiple of 32, at most 256, enough for one row."""
    return int(min(256, max(32, (n + 31) // 32 * 32)))


def gelu_forward(x):
    """Returns (out, s) with s = σ(2u), the same cache the generic path keeps."""
    return _gelu_fwd(x)


def gelu_backward(dout, x, s):
    return _gelu_bwd(dout, x, s)


def causal_softmax_forward(att):
    """In place on contiguous scores (..., Tq, Tk): causal mask + stable softmax."""
    if not att.flags.c_contiguous:           # yerinde çalışır: kopya üzerinde çalışamaz
        raise ValueError("causal_softmax_forward works in place and needs a C-contiguous array")
    Tq, Tk = att.shape[-2], att.shape[-1]
    rows = att.size // Tk
    k = _module(_SOFTMAX).get_function("causal_softmax_fwd_" + _suffix(att.dtype))
    if rows == 0:                            # 0 bloklu bir ızgara başlatılamaz (CUDA hatası)
        return att
    k((rows,), (_threads(Tk),), (att, np.int64(rows), np.int32(Tq), np.int32(Tk)))
    return att


def softmax_backward(att, datt):
    """In place on datt: dS = A ⊙ (dA − Σ dA·A) row by row."""
    if not datt.flags.c_contiguous:
        raise ValueError("softmax_backward works in place on datt and needs it C-contiguous")
    if att.shape != datt.shape:              # çekirdek att'nin satırlarını sınır denetimsiz dolaşır
        raise ValueError(f"softmax_backward: att {att.shape} and datt {datt.shape} differ")
    # att yalnızca okunur; çekirdek düz satırlar bekler ve ikisini de datt'nin türünde okur
    att = cp.ascontiguousarray(att.astype(datt.dtype, copy=False))
    Tk = att.shape[-1]
    rows = att.size // Tk
    k = _module(_SOFTMAX).get_function("softmax_bwd_" + _suffix(datt.dtype))
    if rows == 0:
        return datt
    k((rows,), (_threads(Tk),), (att, datt, np.int64(rows), np.int32(Tk)))
    return datt


def _param_vec(a, C: int, dtype):
    """w or b as a contiguous (C,) vector of x's dtype. The kernels read it through a raw
    pointer, as x's type and without bounds checks: (), (1,) and (1, C) are broadcast as in the
    generic path's `x̂⊙w + b`, another length is a ValueError, another dtype is cast."""
    a = a.astype(dtype, copy=False)
    if a.shape != (C,):
        a = cp.broadcast_to(a, (1, C))[0]                   # genişletilemezse ValueError
    return cp.ascontiguousarray(a)


def layernorm_forward(x, w, b, eps):
    """Returns (out, xhat, rstd (…, 1)) for contiguous x (…, C)."""
    x = cp.ascontiguousarray(x)
    C = x.shape[-1]
    rows = x.size // C
    w = _param_vec(w, C, x.dtype)            # çekirdek ham işaretçilerle okur
    out = cp.empty_like(x)
    xhat = cp.empty_like(x)
    rstd = cp.empty(x.shape[:-1] + (1,), dtype=x.dtype)
    k = _module(_LAYERNORM).get_function("ln_fwd_" + _suffix(x.dtype))
    bias = _param_vec(b, C, x.dtype) if b is not None else np.intp(0)
    if rows == 0:                            # boş toplu iş: başlatılacak blok yok
        return out, xhat, rstd
    k((rows,), (_threads(C),), (x, w, bias, out, xhat, rstd, np.int64(rows), np.int32(C),
                                x.dtype.type(eps)))
    return out, xhat, rstd


def layernorm_backward_dx(dout, xhat, rstd, w):
    C = xhat.shape[-1]
    if dout.shape != xhat.shape:             # genel yoldaki `dout·x̂` gibi genişletilir
        dout = cp.broadcast_to(dout, xhat.shape)
    # Çekirdek hepsini tek türde, dout'un türünde okur (genel yoldaki dx de dout'un türündedir)
    dt = dout.dtype
    dout, xhat, rstd = (cp.ascontiguousarray(a.astype(dt, copy=False))
                        for a in (dout, xhat, rstd))
    w = _param_vec(w, C, dt)
    rows = xhat.size // C
    if rstd.size != rows:                    # çekirdek satır başına bir rstd okur (sınır denetimsiz)
        raise ValueError(f"layernorm_backward_dx: rstd {rstd.shape} does not hold one value "
                         f"per row of x̂ {xhat.shape}")
    dx = cp.empty_like(xhat)
    k = _module(_LAYERNORM).get_function("ln_bwd_dx_" + _suffix(dt))
    if rows == 0:
        return dx
    k((rows,), (_threads(C),), (dout, xhat, rstd, w, dx, np.int64(rows), np.int32(C)))
    return dx


def adamw_update(p, g, m, v, lr, beta1, beta2, eps, wd, bc1, bc2):
    """One in-place AdamW step on flat arrays p, m, v with gradient g."""
    t = p.dtype.type
    _adamw(g, t(lr), t(beta1), t(beta2), t(eps), t(wd), t(bc1), t(bc2), p, m, v)


# -- cuBLAS, doğrudan ---------------------------------------------------------------------------
_CUDA_R_32F, _CUDA_R_64F = 0, 1
_COMPUTE_32F, _COMPUTE_32F_FAST_TF32, _COMPUTE_64F = 68, 77, 70
_GEMM_DEFAULT = -1
_c = ctypes


def _cublas_path() -> str | None:
    """The libcublas that CuPy has loaded into this process (read from /proc/self/maps)."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                name = os.path.basename(path)
                if name.startswith("libcublas.so"):
                    return path
    except OSError:
        pass
    return None


@functools.lru_cache(maxsize=None)
def _cublas():
    cp.cuda.device.get_cublas_handle()          # CuPy loads libcublas and creates its handle
    path = _cublas_path()
    # Windows'ta /proc yoktur ve kitaplığın adı da başkadır (CUDA 12: cublas64_12.dll). CuPy'ın
    # yüklediği DLL, adıyla istenince Windows'un zaten yüklü olan kopyası döner. Önce CuPy'ın
    # çalıştığı CUDA sürümünün adı denenir: iki araç takımı kuruluysa başka sürümün cuBLAS'ı da
    # yüklenebilir, ama o ikinci bir kitaplıktır, CuPy'ın tutamacı (handle) ona ait değildir
    try:
        major = int(cp.cuda.runtime.runtimeGetVersion()) // 1000
    except Exception:
        major = None
    versions = sorted((13, 12, 11), key=lambda v: v != major)
    if path:
        names = [path]
    elif sys.platform == "win32":
        names = [f"cublas64_{v}.dll" for v in versions]
    else:
        names = [f"libcublas.so.{v}" for v in versions] + ["libcublas.so"]
    lib, errors = None, []
    for name in names:
        try:
            lib = _c.CDLL(name)
            break
        except OSError as e:
            errors.append(str(e))
    if lib is None:
        raise RuntimeError("cannot load libcublas: " + "; ".join(errors))
    vp, i, ll = _c.c_void_p, _c.c_int, _c.c_longlong
    batched = lib.cublasGemmStridedBatchedEx
    batched.restype = i
    batched.argtypes = [vp, i, i, i, i, i, vp, vp, i, i, ll, vp, i, i, ll, vp, vp, i, i, ll,
                        i, i, i]
    single = lib.cublasGemmEx
    single.restype = i
    single.argtypes = [vp, i, i, i, i, i, vp, vp, i, i, vp, i, i, vp, vp, i, i, i, i]
    set_stream = lib.cublasSetStream_v2
    set_stream.restype = i
    set_stream.argtypes = [vp, vp]
    return batched, single, set_stream


def gemm(a, b, trans_a=False, trans_b=False, alpha=1.0, out=None):
    """alpha · op(a) @ op(b) through cuBLAS (see backend.matmul_t); float32/float64 only."""
    if a.dtype != b.dtype or a.dtype not in (np.float32, np.float64) or a.size == 0 \
            or b.size == 0 or (a.ndim > 2 or b.ndim > 2) and a.shape[:-2] != b.shape[:-2]:
        x = a.swapaxes(-1, -2) if trans_a and a.ndim >= 2 else a
        y = b.swapaxes(-1, -2) if trans_b and b.ndim >= 2 else b
        r = cp.matmul(x, y)
        if alpha != 1.0:
            # Tam sayı çarpımında yerinde `r *= alpha` bir tür hatasıdır (float → int); CPU yolu
            # gibi kayan noktalı bir sonuç verilir
            if r.dtype.kind in "fc":
                r *= alpha
            else:
                r = r * alpha
        if out is None:
            return r
        out[...] = r
        return out
    # Bitişik bir dizinin devrik görünümü (ör. bağlı ağırlıklarda `wte.T`) kopyalanmaz:
    # asıl dizi kullanılır, devrik bayrağı çevrilir.
    a, trans_a = row_major(a, trans_a, cp)
    b, trans_b = row_major(b, trans_b, cp)
    plan = gemm_plan(a.shape, b.shape, trans_a, trans_b)
    if out is not None and tuple(out.shape) != plan["out_shape"]:
        raise ValueError(f"matmul_t: out has shape {tuple(out.shape)}, the product "
                         f"{plan['out_shape']}")
    if out is not None and out.flags.c_contiguous and out.dtype == a.dtype:
        c = out
    else:
        c = cp.empty(plan["out_shape"], dtype=a.dtype)
    f64 = a.dtype == np.float64
    dtype = _CUDA_R_64F if f64 else _CUDA_R_32F
    if f64:
        compute = _COMPUTE_64F
    else:
        tf32 = os.environ.get("CUPY_TF32", "0") == "1"
        compute = _COMPUTE_32F_FAST_TF32 if tf32 else _COMPUTE_32F
    scal = np.float64 if f64 else np.float32
    al, be = np.array(alpha, dtype=scal), np.array(0.0, dtype=scal)
    batched, single, set_stream = _cublas()
    handle = cp.cuda.device.get_cublas_handle()
    status = set_stream(handle, cp.cuda.get_current_stream().ptr)
    if status == 0:
        P = plan
        if P["batch"] == 1:
            status = single(handle, P["transa"], P["transb"], P["m"], P["n"], P["k"],
                            al.ctypes.data, b.data.ptr, dtype, P["lda"],
                            a.data.ptr, dtype, P["ldb"], be.ctypes.data,
                            c.data.ptr, dtype, P["ldc"], compute, _GEMM_DEFAULT)
        else:
            status = batched(handle, P["transa"], P["transb"], P["m"], P["n"], P["k"],
                             al.ctypes.data, b.data.ptr, dtype, P["lda"], P["stride_a"],
                             a.data.ptr, dtype, P["ldb"], P["stride_b"], be.ctypes.data,
                             c.data.ptr, dtype, P["ldc"], P["stride_c"], P["batch"],
                             compute, _GEMM_DEFAULT)
    if status != 0:
        raise RuntimeError(f"cuBLAS GEMM failed with status {status}")
    if out is not None and c is not out:
        out[...] = c
        return out
    return c
