"""
# Softmax + çapraz entropi kaybı (birleşik, sayısal olarak kararlı)

## Ne yapar?
Model her konumda sözlükteki `V` belirtecin her biri için bir **logit** (normalize
edilmemiş puan) üretir. Softmax bu puanları olasılığa çevirir; çapraz entropi, doğru
belirtece verilen olasılığın eksi logaritmasıdır. Doğru belirtece olasılık 1 verilirse
kayıp 0, rastgele tahminde (her belirtece 1/V) kayıp `ln V`'dir (ör. V=65 için ≈ 4,17).
Eğitimin ilk adımındaki kayıp bu değere yakın olmalıdır; bu, kurulumun doğruluğu için iyi
bir ilk sağlamadır.

## İleri geçiş (N = B·T satır, y_n hedef belirteç)
    m_n     = max_v z_{n,v}
    lse_n   = m_n + log Σ_v exp(z_{n,v} − m_n)       (log-sum-exp, taşmasız)
    ℓ_n     = lse_n − z_{n, y_n}                     ( = −log softmax(z_n)[y_n] )
    kayıp   = (1/N') Σ_{n geçerli} ℓ_n

`ignore_index` verilirse hedefi bu değere eşit olan satırlar kayba ve gradyana katılmaz;
`N'` geçerli satır sayısıdır.

Softmax ve logaritmayı ayrı ayrı hesaplamak (`log(softmax(z))`) küçük olasılıklarda
`log(0) = −∞` üretebilir; birleşik log-sum-exp biçimi bunu önler.

## Şekiller
| ad        | şekil       |
|-----------|-------------|
| `logits`  | (B, T, V)   |
| `targets` | (B, T)      |
| `kayıp`   | skaler      |

## Geri yayılım (adım adım)
1. `ℓ_n = lse_n − z_{n,y_n}`. `∂lse_n/∂z_{n,v} = softmax(z_n)_v = p_{n,v}`.
2. `∂z_{n,y_n}/∂z_{n,v} = [v = y_n]` (tek-sıcak / one-hot).
3. Ortalama alındığı için her satır `1/N'` ile çarpılır:

       dz_{n,v} = (p_{n,v} − [v = y_n]) · dkayıp / N'

   Yoksayılan satırların gradyanı sıfırdır. Softmax ile çapraz entropiyi birleştirmenin
   güzelliği budur: softmax'ın karmaşık Jacobi matrisi `p − onehot` farkına indirgenir.

## Bellek
`(N, V)` boyutundaki diziler modelin en büyükleridir (GPT-2'de V = 50 257: B=4, T=1024'te
float32 biriyle 823 MB, parametrelerin 1,65 katı). İleri geçiş bunlardan logits'in yanında
yalnızca birini ayırır: `exp`, kaydırılmış puanların üstüne yazılır ve o dizi olasılıklar olarak
saklanır (hedefin puanı önceden okunur). Logitlere sonra ihtiyaç yoksa (`reuse_logits=True`,
eğitim) kaydırma da logitlerin üstüne yapılır ve hiç yeni (N, V) dizi ayrılmaz. Geri geçiş
`reuse_probs=True` ile (modelin geri geçişi önbelleği bir kez kullanır) `dz`'yi olasılıkların
üstüne yazar; sayılar aynı işlemlerle aynı sırada hesaplandığı için sonuç bit düzeyinde aynıdır.

Gradyan denetimi: `tests/test_layers.py::test_cross_entropy_gradcheck`.
PyTorch ile karşılaştırma (ileri ve geri geçiş):
`tests/test_layers_torch.py::test_cross_entropy`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from ..backend import get_array_module

# Boyutlar: B = toplu iş, T = dizi uzunluğu, V = sözlük boyutu, N = B*T


class CrossEntropyCache(NamedTuple):
    """What cross_entropy_forward keeps for cross_entropy_backward."""

    probs: Any       # (N, V) softmax olasılıkları
    targets: Any     # (N,)
    valid: Any       # (N,) bool veya None (hepsi geçerli)
    n_valid: int
    logits_shape: tuple


def cross_entropy_forward(logits, targets, ignore_index: int | None = None,
                          reuse_logits: bool = False):
    """Mean softmax cross-entropy over all (non-ignored) positions. Returns (loss, cache).

    logits: (..., V) scores, e.g. (B, T, V) or (N, V); targets: ids with the logits' leading
    shape ((B, T) or (N,)); ignore_index: a target value whose positions the mean leaves out.

    reuse_logits=True overwrites the logits (they become the saved probabilities): for a caller
    that does not need them afterwards (the trainer), no (N, V) array is allocated at all.

    The loss is a 0-d value on the logits' device (a NumPy scalar on the CPU, a 0-d CuPy
    array on the GPU); use float(loss) to log it. Without ignore_index there is no host sync;
    with it, the number of counted positions is read on the host (one sync on the GPU).
    Target ids must lie in [0, V) (the models check them; checking here would cost the GPU a
    host sync at every step).
    """
    xp = get_array_module(logits)
    V = logits.shape[-1]
    if tuple(targets.shape) != tuple(logits.shape[:-1]):
        raise ValueError(f"cross_entropy: targets have shape {tuple(targets.shape)}, expected "
                         f"{tuple(logits.shape[:-1])} (logits without the vocabulary axis)")
    z = logits.reshape(-1, V)                         # (B,T,V) -> (N,V)
    t = targets.reshape(-1)                           # (B,T) -> (N,)
    N = z.shape[0]
    valid = None
    n_valid = N
    if ignore_index is not None:
        valid = t != ignore_index
        n_valid = int(valid.sum())
        t = xp.where(valid, t, 0)                     # yoksayılan satırlar için geçerli bir indeks
    # Kararlı log-sum-exp: önce satır maksimumu çıkarılır. Çağıran logitleri bir daha
    # kullanmayacaksa (reuse_logits, eğitim) fark logitlerin üstüne yazılır: yeni bir (N,V)
    # dizi ayrılmaz; yoksa fark yeni bir dizidir
    zmax = z.max(axis=1, keepdims=True)               # (N,1)
    shifted = xp.subtract(z, zmax, out=z) if reuse_logits else z - zmax   # (N,V)
    # Hedefin kaydırılmış puanı z_{y_n} − m, üstel alınmadan önce okunur: exp aşağıda aynı
    # dizinin üstüne yazar (ikinci bir (N,V) dizi ayrılmaz; V = 50 257'de en büyük dizi budur)
    picked = shifted[xp.arange(N), t]                 # (N,)
    probs = xp.exp(shifted, out=shifted)              # (N,V), shifted'ın belleğinde
    sumexp = probs.sum(axis=1)                        # (N,)
    probs /= sumexp[:, None]                          # softmax, geri geçiş için saklanır
    # ℓ_n = log Σ exp(z − m) − (z_{y_n} − m)
    nll = xp.log(sumexp) - picked                     # (N,)
    if valid is not None:
        # Yoksayılan satırlar 0 ile çarpılmaz, seçilerek sıfırlanır: inf ya da NaN logitli bir
        # satırın nll'i inf ya da NaN olur, `inf·0` ile `NaN·0` da NaN'dır ve kayba sızardı
        # (PyTorch'ta da bu satırlar kayba katılmaz)
        nll = xp.where(valid, nll, nll.dtype.type(0))
    # Bölen, kaybın veri türüne çevrilir: NumPy 1.x'te float32 bir skalerin bir Python
    # tam sayısına bölümü float64 olurdu (NEP 50 öncesi tür yükseltme kuralları) ve kayıp
    # sessizce float64'e geçerdi.
    loss = nll.sum() / nll.dtype.type(max(n_valid, 1))   # skaler
    return loss, CrossEntropyCache(probs, t, valid, n_valid, logits.shape)


def cross_entropy_backward(dloss, cache: CrossEntropyCache, reuse_probs: bool = False):
    """Returns dlogits with the logits' shape. dloss is the upstream scalar (usually 1.0).

    reuse_probs=True writes dlogits into cache.probs instead of a new (N, V) array (the model's
    backward, which uses its cache once); the cache must not be used again after that."""
    xp = get_array_module(cache.probs)
    N = cache.probs.shape[0]
    # İleri geçişte: `ℓ = lse − z_y` → bu yüzden `dz = softmax(z) − onehot(y)`. Önbellek bir
    # daha kullanılmayacaksa (reuse_probs, modelin geri geçişi) dz olasılıkların üstüne yazılır:
    # V = 50 257'de (N,V) boyutunda ikinci bir dizi ayrılmaz; yoksa olasılıklar kopyalanır
    dz = cache.probs if reuse_probs else cache.probs.copy()   # (N,V)
    dz[xp.arange(N), cache.targets] -= 1.0
    # İleri geçişte: `kayıp = (1/N')·Σ ℓ_n` → her satır dkayıp/N' ile çarpılır,
    # yoksayılan satırlar sıfırlanır
    dz *= dloss / max(cache.n_valid, 1)
    if cache.valid is not None:
        # Sıfır yazılır (çarpılmaz): inf ya da NaN logitli yoksayılan bir satırın olasılıkları
        # NaN'dır ve `NaN·0 = NaN` gradyan yoluyla bütün ağırlıklara yayılırdı
        xp.copyto(dz, xp.zeros((), dtype=dz.dtype), where=~cache.valid[:, None])
    return dz.reshape(cache.logits_shape)             # (N,V) -> (B,T,V)
