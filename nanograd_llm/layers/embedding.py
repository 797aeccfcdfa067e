"""
# Belirteç gömme (token embedding)

## Ne yapar?
Bir dil modeli metni doğrudan göremez; önce metin, sözlükteki sıra numaraları olan
**belirteç kimliklerine** (token id) çevrilir. Gömme katmanı her kimliğe öğrenilebilir bir
vektör karşılık getirir. Ağırlık matrisi `W`'nin `v`. satırı, `v` kimlikli belirtecin
`C` boyutlu vektörüdür. İleri geçiş bir matris çarpımı değil, yalnızca **satır seçmedir**.

## İleri geçiş
    out[b, t, :] = W[idx[b, t], :]

## Şekiller
| ad    | şekil    | anlamı                               |
|-------|----------|--------------------------------------|
| `idx` | (B, T)   | tam sayı belirteç kimlikleri         |
| `W`   | (V, C)   | her belirteç için bir satır          |
| `out` | (B, T, C)| seçilen satırlar                     |

## Geri yayılım (adım adım)
1. `out[b, t] = W[idx[b, t]]` olduğundan, `out[b, t]`'nin her bileşeni `W`'nin yalnızca
   `idx[b, t]` satırına bağlıdır: `∂out[b,t,c] / ∂W[v,c] = 1` eğer `idx[b,t] = v`, aksi halde 0.
2. Zincir kuralı: `dW[v] = Σ_{(b,t): idx[b,t]=v} dout[b, t]`.
3. Aynı kimlik toplu işte birçok kez geçebilir (ör. boşluk karakteri). Bu yüzden katkılar
   **toplanmalıdır**. `dW[idx] += dout` gibi gelişmiş (fancy) indekslemeyle yapılan atama,
   tekrarlanan indekslerde yalnızca bir katkıyı yazar ve yanlış sonuç verir; `scatter_add`
   (`np.add.at`; CuPy'da `cupy.add.at`) ise hepsini toplar.
4. `idx` tam sayıdır, türevi yoktur; katman yalnızca `dW` döndürür.

## Hızlı yol: küçük sözlükte tek-sıcak (one-hot) matris çarpımı
Düzleştirilmiş konumlar `n = 0 … N−1` (`N = B·T`) için `dW[v] = Σ_{n: idx[n]=v} dout[n]`
toplamı bir matris çarpımı olarak da yazılabilir:
`O[n, v] = [idx[n] = v]` tek-sıcak matrisiyle `dW = Oᵀ · dout`. `O`'nun öğeleri yalnızca 0 ve
1 olduğundan bu çarpım aynı satırları toplar (sıfırlarla çarpımlar toplama hiçbir şey
eklemez); yalnızca toplama sırası `scatter_add`'den farklı olabilir (kayan nokta yuvarlaması
kadar fark). Karakter düzeyindeki küçük sözlüklerde (V = 65) BLAS ile yapılan bu çarpım,
`np.add.at`'ten birkaç kat hızlıdır. `O` (N, V) boyutunda bellek ister; bu yüzden yalnızca
`N·V` küçükken kullanılır, büyük sözlüklerde (GPT-2: V = 50 257) `scatter_add` kalır.
`tests/test_perf_paths.py` iki yolun aynı sonucu verdiğini denetler.

Gradyan denetimi: `tests/test_layers.py::test_embedding_gradcheck` ve
`python -m nanograd_llm gradcheck`.
PyTorch ile karşılaştırma (ileri ve geri geçiş):
`tests/test_layers_torch.py::test_embedding`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from ..backend import get_array_module, matmul_t, scatter_add

# Boyutlar: B = toplu iş (batch), T = zaman/konum, C = gömme boyutu, V = sözlük boyutu,
# N = B·T (düzleştirilmiş konum sayısı)

# Tek-sıcak yolun kullanılacağı en büyük N·V (float32'de 16 MiB'lık geçici matris)
ONE_HOT_MAX = 1 << 22


class EmbeddingCache(NamedTuple):
    """What embedding_forward keeps for embedding_backward."""

    idx: Any            # (B, T) ileri geçişte kullanılan kimlikler
    weight_shape: tuple  # (V, C)


def embedding_forward(idx, weight):
    """out = weight[idx]. idx: integer array (B, T); weight: (V, C). Returns (out, cache)."""
    # Satır seçme: her (b, t) için W'nin idx[b, t]. satırı kopyalanır.
    out = weight[idx]  # (B, T) -> (B, T, C)
    return out, EmbeddingCache(idx, weight.shape)


def embedding_backward(dout, cache: EmbeddingCache):
    """Returns dweight (V, C): repeated ids accumulate."""
    xp = get_array_module(dout)
    V, C = cache.weight_shape
    idx = cache.idx.reshape(-1)                       # (B, T) -> (N,)
    dout2d = dout.reshape(-1, C)                      # (B, T, C) -> (N, C)
    if idx.size * V <= ONE_HOT_MAX:
        # İleri geçişte: `out = W[idx]` → bu yüzden `dW = Oᵀ·dout`, O[n, v] = [idx[n] = v]
        # (tekrarlanan kimliklerin katkıları matris çarpımında toplanır)
        onehot = (idx[:, None] == xp.arange(V)).astype(dout.dtype)   # (N, V)
        return matmul_t(onehot, dout2d, trans_a=True)                  # (V, N)@(N, C) -> (V, C)
    dweight = xp.zeros((V, C), dtype=dout.dtype)      # (V, C)
    # İleri geçişte: `out = W[idx]` → bu yüzden `dW[idx[b,t]] += dout[b,t]`;
    # tekrarlanan kimliklerin katkıları scatter_add ile toplanır.
    scatter_add(dweight, idx, dout2d)                 # (N,), (N, C) -> (V, C)'ye eklenir
    return dweight
