"""
# Konum kodlaması (positional encoding): öğrenilen ve sinüzoidal

## Neden gerekli?
Maskesiz dikkat (attention) işlemi, girdideki vektörleri bir **küme** gibi işler: girdinin
sırasını değiştirirseniz çıktı da aynı şekilde yer değiştirir, ama hiçbir vektör "kaçıncı
sırada olduğunu" bilmez. GPT'nin nedensel maskesi her konumun yalnızca öncekileri görmesini
sağlar, ama bir konuma kaçıncı sırada olduğunu açıkça söylemez. Oysa aynı parçalar farklı
sırada farklı anlam taşır: "ev" ile "ve" aynı harflerden, "Ali geldi mi?" ile "Ali mi geldi?"
aynı sözcüklerden oluşur ama farklıdır. Bu yüzden her konumun bilgisi, belirteç gömmesine
**toplanarak** eklenir.

## İleri geçiş, 1. yol: öğrenilen konum gömmesi (GPT-2)
Her konum `t` için öğrenilebilir bir vektör `P[t]` (`wpe`) vardır:

    out[b, t, :] = x[b, t, :] + P[start + t, :]

`start`, KV önbelleğiyle üretimde (generation) ilk yeni belirtecin mutlak konumudur;
eğitimde `start = 0`'dır. Model en fazla `block_size` konum öğrenir, bu yüzden daha uzun
diziler işlenemez.

## İleri geçiş, 2. yol: sabit sinüzoidal kodlama ("Attention Is All You Need")
Öğrenilecek parametre yoktur. `pos` konumu ve `i = 0, 1, …` için:

    PE[pos, 2i]   = sin(pos / 10000^(2i / C))
    PE[pos, 2i+1] = cos(pos / 10000^(2i / C))

Her boyut çifti farklı dalga boyunda bir sinüs/kosinüs çiftidir: `i`. çiftin dalga boyu
`2π·10000^(2i/C)`'dir. İlk çiftte 2π olan dalga boyu son çiftte (`i = C/2 − 1`)
`2π·10000^((C−2)/C)`'ye çıkar; C büyüdükçe 10 000·2π'ye yaklaşır ama ona ulaşmaz (kursun
resmindeki C = 64'te ≈ 7499·2π). Sabit bir `k` kayması için `PE[pos + k]`, `PE[pos]`'un
doğrusal bir dönüşümüdür (bir dönme); bu da modelin göreli konumları öğrenmesini kolaylaştırır.

    out[b, t, :] = x[b, t, :] + PE[start + t, :]

## Şekiller
| ad    | şekil        |
|-------|--------------|
| `x`   | (B, T, C)    |
| `P`   | (block_size, C) |
| `PE`  | (block_size, C) |
| `out` | (B, T, C)    |

## Geri yayılım
1. İleri geçişte `out = x + P[start:start+T]` (yayınlama/broadcast ile her b'ye aynı P eklenir).
2. Toplamanın türevi 1'dir: `dx = dout`.
3. `P[start+t]`, her `b` için bir kez kullanıldı; yayınlamanın geri yayılımı **toplama**dır:
   `dP[start+t] = Σ_b dout[b, t]`. Kullanılmayan konumların gradyanı sıfırdır.
4. Sinüzoidal kodlamada öğrenilen parametre yoktur; yalnızca `dx = dout` döner.

Gradyan denetimi: `tests/test_layers.py::test_learned_positional_gradcheck` ve
`tests/test_layers.py::test_sinusoidal_gradcheck`.
PyTorch ile karşılaştırma (ileri ve geri geçiş):
`tests/test_layers_torch.py::test_learned_positional`; sinüzoidal tablo, formülünden öğe öğe
yazılmış bir tabloyla: `tests/test_layers_torch.py::test_sinusoidal_against_its_formula`.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from ..backend import cache_allocation, get_array_module, matmul_t

# Boyutlar: B = toplu iş, T = dizi uzunluğu, C = gömme boyutu,
# n_pos = sinüzoidal tablodaki konum sayısı (n_positions)


def _check_start(start) -> None:
    """start must be a position, an integer >= 0 (an O(1) check)."""
    # Negatif bir başlangıç Python dilimlemesinde sondan sayılır: start = −3, T = 2 için
    # wpe[−3:−1], yani tablonun son konumları sessizce eklenirdi
    if start < 0:
        raise ValueError(f"start must be a position >= 0, got {start}")


class LearnedPositionalCache(NamedTuple):
    """What learned_positional_forward keeps for learned_positional_backward."""

    start: int
    T: int
    wpe_shape: tuple


def learned_positional_forward(x, wpe, start: int = 0):
    """out = x + wpe[start:start+T]. x: (B, T, C); wpe: (block_size, C). Returns (out, cache).

    start: the position of x's first token (a KV cache's length); start + T must not pass
    block_size."""
    T = x.shape[1]
    _check_start(start)
    if start + T > wpe.shape[0]:
        raise ValueError(
            f"sequence of {start + T} positions is longer than block_size={wpe.shape[0]}"
        )
    # Yayınlama: (B, T, C) + (T, C) → her toplu iş öğesine aynı konum vektörleri eklenir.
    out = x + wpe[start:start + T]  # (B, T, C)
    return out, LearnedPositionalCache(start, T, wpe.shape)


def learned_positional_backward(dout, cache: LearnedPositionalCache):
    """Returns (dx, dwpe)."""
    xp = get_array_module(dout)
    dwpe = xp.zeros(cache.wpe_shape, dtype=dout.dtype)    # (block_size, C)
    # İleri geçişte: `out = x + P[start:start+T]` (b üzerinde yayınlama)
    # → bu yüzden `dP[start+t] = Σ_b dout[b, t]`.
    # Toplu iş ekseni boyunca toplam, birler vektörüyle bir çarpımdır (1ᵀ·dout, gemv): GPU'da
    # önde gelen eksen boyunca indirgemeden çok daha hızlı
    B = dout.shape[0]
    ones = xp.ones((B,), dtype=dout.dtype)                              # (B,)
    dsum = matmul_t(ones, xp.ascontiguousarray(dout).reshape(B, -1))    # (B,)@(B, T·C) -> (T·C,)
    dwpe[cache.start:cache.start + cache.T] = dsum.reshape(dout.shape[1:])  # (T·C,) -> (T, C)
    # Aynı satırdan: toplamanın türevi 1 → `dx = dout`.
    return dout, dwpe


_SIN_TABLES: dict = {}


def sinusoidal_table(n_positions: int, C: int, xp, dtype):
    """The fixed (n_positions, C) table of sin/cos codes, built once per (shape, dtype, backend)."""
    key = (n_positions, C, xp.__name__, str(dtype))
    table = _SIN_TABLES.get(key)
    if table is None:
        with cache_allocation(xp):          # önbellekte kalır: varsayılan bellek havuzundan
            pos = xp.arange(n_positions, dtype=xp.float64)[:, None]       # (n_pos, 1)
            i2 = xp.arange(0, C, 2, dtype=xp.float64)[None, :]             # (1, ceil(C/2))
            angle = pos / xp.exp(i2 * (math.log(10000.0) / C))            # (n_pos, ceil(C/2))
            table = xp.zeros((n_positions, C), dtype=xp.float64)           # (n_pos, C)
            table[:, 0::2] = xp.sin(angle)
            # C tekse son (çift indeksli) sütunun cos eşi yoktur: cos sütunları C // 2 tanedir
            table[:, 1::2] = xp.cos(angle[:, : C // 2])
            table = table.astype(dtype)
        _SIN_TABLES[key] = table
    return table


class SinusoidalCache(NamedTuple):
    """What sinusoidal_forward keeps for sinusoidal_backward."""

    start: int
    T: int


def sinusoidal_forward(x, start: int = 0, n_positions: int | None = None):
    """out = x + PE[start:start+T] with the fixed sinusoidal table. x: (B, T, C).
    Returns (out, cache).

    start: the position of x's first token; n_positions: the model's block_size, which
    start + T must not pass (None: no limit)."""
    xp = get_array_module(x)
    T, C = x.shape[1], x.shape[2]
    _check_start(start)
    if n_positions is not None and start + T > n_positions:
        raise ValueError(f"sequence of {start + T} positions is longer than block_size={n_positions}")
    table = sinusoidal_table(max(start + T, n_positions or 0), C, xp, x.dtype)
    out = x + table[start:start + T]  # (B, T, C)
    return out, SinusoidalCache(start, T)


def sinusoidal_backward(dout, cache: SinusoidalCache):
    """Returns dx: the table is fixed, so the gradient passes straight through."""
    # İleri geçişte: `out = x + PE[start:start+T]` ve PE sabit → `dx = dout`.
    return dout
