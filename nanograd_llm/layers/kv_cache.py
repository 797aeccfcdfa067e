"""
# KV önbelleği (anahtar/değer önbelleği)

## Ne işe yarar?
Metin üretirken model her adımda bir belirteç ekler. Önbelleksiz üretimde her yeni
belirteç için **bütün bağlam** baştan modelden geçirilir: T uzunluğunda bir bağlamda
her adım O(T²) dikkat işi ve O(T) kez tüm doğrusal katmanlar demektir.

Oysa nedensel maske sayesinde eski konumların anahtar (`k`) ve değer (`v`) vektörleri,
sonradan gelen belirteçlerden hiç etkilenmez. Bu yüzden bir kez hesaplanıp saklanabilirler.
Önbellekli üretimde her adımda modelden yalnızca **yeni belirtecin tek konumu** geçer:
yeni `q, k, v` hesaplanır, `k` ve `v` önbelleğe eklenir, yeni sorgu önbellekteki tüm
anahtarlara bakar.

## İleri geçiş
`l` katmanı, `Tn` yeni konumun anahtar ve değerlerini hesapladığında (`L = length`):

    K[l][:, :, L:L+Tn] = k_yeni ;  V[l][:, :, L:L+Tn] = v_yeni
    dikkat(q_yeni, K[l][:, :, :L+Tn], V[l][:, :, :L+Tn])

Bütün katmanlar işlendikten sonra `advance(Tn)` ile `length` artırılır. Yeni sorgular
önbelleğin sonunda durduğundan nedensel maske `Tk − Tq` kadar kaydırılır (bkz.
attention.py). Bellek baştan `block_size` konum için ayrılır; üretim sırasında dizi
büyütülmez, kopyalanmaz.

## Şekiller
| ad             | şekil                                                           |
|----------------|-----------------------------------------------------------------|
| `K[l]`, `V[l]` | (B, nh, block_size, hs) — her katman `l` için önceden ayrılmış  |
| `k_yeni`, `v_yeni` | (B, nh, Tn, hs)                                             |
| `length`       | şimdiye kadar doldurulan konum sayısı                           |

## Geri yayılım
Yoktur. Önbellek yalnızca üretimde (çıkarımda) kullanılır:
1. Eğitimde bütün konumlar tek bir ileri geçişte hesaplanır; saklanacak eski anahtar yoktur.
2. Üretimde parametreler güncellenmez, bu yüzden gradyana gerek yoktur; `GPT.forward`
   önbellekle çağrıldığında geri geçiş için önbellek (cache) de saklamaz.

Doğruluk denetimi: önbellekli ve önbelleksiz üretimin aynı belirteçleri verdiği,
`tests/test_docs.py` içinde `nanograd_llm/course/gpt.py`'deki `generate_greedy` ile
denetlenir.
"""
from __future__ import annotations

# Boyutlar: B = toplu iş, nh = kafa sayısı, hs = kafa boyutu, Tmax = block_size (önceden
# ayrılan konum sayısı), Tn = bu adımda eklenen yeni konum sayısı, L = length (dolu konumlar)


class KVCache:
    """Preallocated keys/values for every layer; `length` positions are filled."""

    def __init__(self, n_layer: int, batch: int, n_head: int, max_len: int, head_size: int,
                 xp, dtype):
        shape = (batch, n_head, max_len, head_size)   # (B, nh, Tmax, hs)
        self.k = [xp.zeros(shape, dtype=dtype) for _ in range(n_layer)]
        self.v = [xp.zeros(shape, dtype=dtype) for _ in range(n_layer)]
        self.max_len = max_len
        self.length = 0

    def append(self, layer: int, k_new, v_new):
        """Store new keys/values (B, nh, Tn, hs) after the filled part; return all of them."""
        start = self.length
        end = start + k_new.shape[2]
        if end > self.max_len:
            raise ValueError(f"KV cache is full: {end} positions > block_size={self.max_len}")
        self.k[layer][:, :, start:end] = k_new
        self.v[layer][:, :, start:end] = v_new
        return self.k[layer][:, :, :end], self.v[layer][:, :, :end]   # (B, nh, end, hs)

    def advance(self, n: int) -> None:
        """Mark n more positions as filled (called once per forward, after every layer)."""
        self.length += n

    def reset(self) -> None:
        """Empty the cache (length 0); the arrays are kept for reuse."""
        self.length = 0
