"""
# Nedensel dikkatin üçgenini atlamak: sorgu karoları (query tiles)

## Ne yapar?
Nedensel dikkatte `i` konumu yalnızca `j ≤ i` anahtarlarına bakar. `attention.py`'deki
yoğun (dense) uygulama yine de bütün `T × T` puan matrisini hesaplar, üst üçgeni `−∞` ile
maskeler, `exp(−∞) = 0` sonucunu da hesaplar, sonra sıfırlarla çarpar: matris çarpımlarının
ve softmax işinin neredeyse yarısı, sonucu baştan belli olan sayılara gider.

Bu bölüm aynı dikkati **sorgu karoları** ile hesaplar: sorgular `t` satırlık parçalara
bölünür. `[r0, r1)` satırlarındaki sorgular yalnızca `[0, r1)` anahtarlarını görebilir;
daha sağdaki anahtarlar bu karo için tamamen maskelidir ve hiç hesaplanmaz. Karonun puan
matrisi `(t, r1)` boyutludur; maske yalnızca son `t × t` karesinde (köşegen karesinde) iş
görür. Sonuç, yoğun hesapla matematiksel olarak aynıdır: atlanan her puanın softmax ağırlığı
zaten tam sıfırdı (yalnızca toplama sırasından gelen yuvarlama farkları olur).

T = 256, t = 64 için: karo başına anahtar sayısı 64, 128, 192, 256 → toplam iş
`64·(64+128+192+256) = 40 960`, yoğun hesapta `256·256 = 65 536`: puan ve değer
çarpımlarının ve softmax'ın **%37,5'i** atlanır; saklanan dikkat ağırlıkları da o kadar küçülür.
Karo küçüldükçe kazanç yarıya yaklaşır ama çağrı sayısı artar ve çarpımlar küçülür; karo
boyu `T/4`'tür, 64 ile 128 arasında tutulur (`tile_rows`, ölçümler orada).
FlashAttention da nedensel maskede tamamen maskeli blokları böyle atlar; o ayrıca `A`'yı hiç
saklamaz, geri geçişte yeniden hesaplar.

## Toplu işi parça parça işlemek (önbellek için)
Bir karonun puanları bütün toplu iş için büyüktür: B = 32, nh = 6, t = 64, T = 256'da
`32·6·64·256·4 bayt ≈ 12,6 MB`. Hepsi önce yazılıp sonra softmax için okunur, sonra `Ã·v`
için yeniden okunursa her adım veriyi ana bellekten geçirir. Bu yüzden toplu iş birkaç
öğelik **parçalara** bölünür (`batch_chunk`: bir karonun puanları parça başına en çok
`CHUNK_BYTES` = 1 MiB, yani burada 2 öğe ≈ 0,8 MB) ve bir parçanın bütün karoları bitirilip
sonrakine geçilir: puanlar yazıldıkları anda L2/L3 önbellekteyken softmax'tan ve `Ã·v`
çarpımından geçer; geri geçiş de aynı sırayla çalışır. Her (öğe, kafa) çifti birbirinden
bağımsız olduğu için bu yalnızca işin sırasını değiştirir, tek bir sayıyı değil: sonuçlar
parça boyundan bağımsız olarak bit bit aynıdır (test edilir). Karoların ağırlık dizileri ve
dropout maskeleri yine tüm toplu iş için birer kez ayrılır; maskeler karo karo, önceden
çekilir.

Yalnızca CPU'da ve eğitim/değerlendirme şeklinde (Tq = Tk ≥ 2t, yani T ≥ 128; KV önbelleği yok)
kullanılır; GPU'da yoğun yol kendi birleşik softmax çekirdeğiyle çalışır. KV önbellekli
üretimde adım başına tek sorgu vardır; ilk geçiş (prefill) ve pencere kayınca önbelleğin
yeniden kurulması ise yoğun yolla hesaplanır. Dropout maskeleri karo karo çekilir: aynı tohumla
yoğun yoldakinden farklı (ama aynı dağılımdan) maskeler çıkar.

## İleri geçiş (her karo i için, satırlar [r0, r1))
    S_i = (q[r0:r1] / √d_k) · k[0:r1]ᵀ               (t, r1)
    S_i[a, b] = −∞   eğer b > r0 + a                   köşegen karesindeki nedensel maske
    A_i = softmax(S_i)                                 satır başına, kararlı
    Ã_i = dropout(A_i)
    y[r0:r1] = Ã_i · v[0:r1]

## Şekiller (t = karo satırı, r1 = karonun gördüğü anahtar sayısı)
| ad                 | şekil              |
|--------------------|--------------------|
| `q`, `k`, `v`, `y` | (B, nh, T, hs)     |
| `S_i`, `A_i`       | (B, nh, t, r1)     |
| `dq`, `dk`, `dv`   | (B, nh, T, hs)     |

## Geri yayılım (adım adım, her karo için; karolar sondan başa)
1. `y[r0:r1] = Ã_i·v[0:r1]` → `dv[0:r1] += Ã_iᵀ·dy[r0:r1]`, `dÃ_i = dy[r0:r1]·v[0:r1]ᵀ`.
   Bir anahtar birçok karoda kullanılır (fan-out) → katkıları toplanır.
2. `Ã_i = dropout(A_i) = A_i ⊙ m/(1−p)` → `dA_i = dÃ_i ⊙ m/(1−p)` (aynı maske `m`).
3. `A_i = softmax(S_i)` → `dS_i = A_i ⊙ (dA_i − Σ_b dA_i,b·A_i,b)` (attention.py ile aynı).
4. `S_i = (q[r0:r1]/√d_k)·k[0:r1]ᵀ` → `dq[r0:r1] = dS_i·k[0:r1]/√d_k` (her sorgu satırı
   tek bir karoda: doğrudan yazılır), `dk[0:r1] += dS_iᵀ·q[r0:r1]/√d_k` (toplanır).

Son karo bütün anahtarları gördüğü (`r1 = T`) için geri geçiş onunla başlar: `dk` ve `dv`
ilk kez tam boyda **yazılır**, önceki karoların katkıları üstüne **eklenir**; ayrıca sıfırlama
gerekmez.

Gradyan denetimi: `tests/test_causal_tiles.py::test_causal_tiles_gradcheck`; yoğun yolla
eşitlik: `tests/test_causal_tiles.py::test_tiles_equal_dense_attention`.
PyTorch ile karşılaştırma (ileri ve geri geçiş):
`tests/test_layers_torch.py::test_attention_and_causal_tiles`.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from ..backend import get_array_module, matmul_t
from .attention import causal_softmax, softmax_backward
from .dropout import DropoutCache, dropout_backward, dropout_cache

# Boyutlar: B = toplu iş, nh = kafa sayısı, T = dizi uzunluğu (Tq = Tk = T),
# hs = kafa boyutu, t = karo satır sayısı, r1 = karonun gördüğü anahtar sayısı,
# b = bir parçadaki toplu iş öğesi sayısı (batch_chunk)

TILE_MIN, TILE_MAX = 64, 128
# Bir karonun puanlarına parça başına ayrılan yer (bayt). Ölçülen (CPU, tek iş parçacığı,
# shakespeare'in bir parçası B = 32, nh = 6, T = 256, 13 dönüşümlü tur): dikkatin ileri+geri
# geçişi tüm toplu işle 243 ms, 2 öğelik parçalarla 199, tek öğeyle 200 ms (0,82 kat); 128'lik
# karolarla da 0,82–0,83. Bütün adımda iki iş parçacığının dikkatte geçirdiği süre 2,84 s'den
# 2,44 s'ye indi (8 tur, eşli oran 0,868); ayrıntı benchmarks/RESULTS.md, oturum 9.
CHUNK_BYTES = 1 << 20


def tile_rows(T: int) -> int:
    """Rows per query tile for a sequence of T: T/4, kept within [TILE_MIN, TILE_MAX]."""
    # Ölçülen (CPU): T = 256'da 64'lük karolar en iyisi (tek iş parçacığında dikkatin ileri+geri
    # geçişi, B = 32: yoğun 292 ms, 32'lik karolar 234, 64'lük 216, 128'lik 238 ms; iki iş
    # parçacıklı bütün adım B = 16'da %5,7 kısa). T = 64'te 32'lik karolar tek başına ölçülünce
    # hızlıydı (2,8 → 2,4 ms) ama iki iş parçacıklı bütün adımı %3–4 yavaşlattı (daha çok kısa
    # çağrı, GIL için daha çok bekleme); bu yüzden en küçük karo 64 satırdır ve T < 128'de
    # karo kullanılmaz.
    return max(TILE_MIN, min(TILE_MAX, T // 4))


def use_causal_tiles(Tq: int, Tk: int, xp) -> bool:
    """True where tiling pays: NumPy arrays, no KV cache (Tq == Tk), at least two tiles."""
    return xp is np and Tq == Tk and Tq >= 2 * tile_rows(Tq)


def tile_bounds(T: int, tile: int | None = None) -> tuple:
    """((r0, r1), …): the query rows of each tile (tile_rows(T) rows unless given); the last
    one may be shorter."""
    tile = tile_rows(T) if tile is None else tile
    return tuple((r0, min(r0 + tile, T)) for r0 in range(0, T, tile))


class TiledAttentionCache(NamedTuple):
    """What tiled_attention_forward keeps for tiled_attention_backward."""

    q: Any        # (B, nh, T, hs), ölçeklenmemiş q
    k: Any        # (B, nh, T, hs)
    v: Any        # (B, nh, T, hs)
    tiles: tuple  # karo başına A_i: (B, nh, r1−r0, r1)
    drops: tuple  # karo başına dropout önbelleği
    bounds: tuple  # karo başına (r0, r1)
    scale: float
    chunk: int = 1  # parça başına toplu iş öğesi (batch_chunk)

    @property
    def att(self):
        """The full (B, nh, T, T) attention matrix, zeros above the diagonal (for plots)."""
        B, nh, T, _ = self.q.shape
        xp = get_array_module(self.q)
        full = xp.zeros((B, nh, T, T), dtype=self.q.dtype)                     # (B,nh,T,T)
        for a, (r0, r1) in zip(self.tiles, self.bounds):
            full[:, :, r0:r1, :r1] = a
        return full


def batch_chunk(B: int, nh: int, T: int, itemsize: int, tile: int | None = None) -> int:
    """Batch elements per chunk: as many as keep one tile's scores (chunk·nh·t·T values)
    within CHUNK_BYTES, at least one."""
    t = tile_rows(T) if tile is None else tile
    return max(1, min(B, CHUNK_BYTES // max(1, nh * t * T * itemsize)))


def tiled_attention_forward(q, k, v, dropout: float = 0.0, rng=None, train: bool = True,
                            tile: int | None = None, out=None, chunk: int | None = None):
    """Causal softmax(q kᵀ/√hs) v by query tiles (tile_rows(T) rows unless `tile` is given),
    skipping the masked keys, a chunk of batch elements at a time (batch_chunk unless `chunk`
    is given; the result does not depend on it). q, k, v: (B, nh, T, hs), possibly strided
    views. With `out` (a (B, nh, T, hs) array or view) y is written into it. Returns (y, cache)."""
    xp = get_array_module(q)
    B, nh, T, hs = q.shape
    if k.shape[-2] != T:
        raise ValueError("tiled attention needs as many keys as queries (no KV cache)")
    if out is not None and out.shape != q.shape:
        raise ValueError(f"tiled attention: out has shape {out.shape}, expected {q.shape}")
    scale = 1.0 / math.sqrt(hs)
    bounds = tile_bounds(T, tile)
    chunk = batch_chunk(B, nh, T, q.dtype.itemsize, tile) if chunk is None else chunk
    if chunk < 1:
        raise ValueError(f"tiled attention: chunk must be at least 1, got {chunk}")
    y = xp.empty(q.shape, dtype=q.dtype) if out is None else out                # (B,nh,T,hs)
    # Her karonun ağırlıkları tüm toplu iş için bir kez ayrılır (karo başına (B,nh,t,r1));
    # parçalar kendi dilimlerini doldurur. Dropout maskeleri de karo karo, tüm toplu iş için
    # önceden çekilir: rastgele akış parça boyundan bağımsızdır.
    tiles = tuple(xp.empty((B, nh, r1 - r0, r1), dtype=q.dtype) for r0, r1 in bounds)
    drops = tuple(dropout_cache(a.shape, dropout, rng, train, xp, a.dtype) for a in tiles)
    for b0 in range(0, B, chunk):
        c = slice(b0, min(b0 + chunk, B))
        for a, drop, (r0, r1) in zip(tiles, drops, bounds):
            # Bu karonun sorguları yalnızca ilk r1 anahtarı görebilir: k[0:r1], v[0:r1]
            # (qi: (b,nh,t,hs); kk, vv: (b,nh,r1,hs); hepsi görünüm)
            qi, kk, vv = q[c, :, r0:r1], k[c, :, :r1], v[c, :, :r1]
            ac = a[c]                                     # (b,nh,t,r1), a'nın bitişik bir dilimi
            # Puanlar: S_i = (q_i/√hs)·k[0:r1]ᵀ (devrik bir bayrakla, kopya yok);
            # (b,nh,t,hs)@(b,nh,hs,r1) -> (b,nh,t,r1)
            matmul_t(qi, kk, trans_b=True, alpha=scale, out=ac)
            # Maske (köşegen karesinde; kayma r1 − t = r0) + kararlı softmax, yerinde
            causal_softmax(ac)
            # Dikkat ağırlıklarına dropout (karonun önceden çekilmiş maskesinin bu dilimi)
            a_d = ac if drop.mask is None else DropoutCache(drop.mask[c], drop.factor).apply(ac)
            # Değerlerin ağırlıklı toplamı, doğrudan y'nin bu karosuna: y[r0:r1] = Ã_i·v[0:r1]
            matmul_t(a_d, vv, out=y[c, :, r0:r1])         # (b,nh,t,r1)@(b,nh,r1,hs) -> (b,nh,t,hs)
    return y, TiledAttentionCache(q, k, v, tiles, drops, bounds, scale, chunk)


def tiled_attention_backward(dy, cache: TiledAttentionCache, out=None):
    """Returns (dq, dk, dv), each (B, nh, T, hs). With `out` (an array or view
    (3, B, nh, T, hs)) they are written into out[0], out[1], out[2] (as attention_backward
    does)."""
    xp = get_array_module(dy)
    q, k, v, scale = cache.q, cache.k, cache.v, cache.scale
    B, T = q.shape[0], q.shape[-2]
    if out is None:
        out = xp.empty((3,) + q.shape, dtype=dy.dtype)                         # (3,B,nh,T,hs)
    dq, dk, dv = out[0], out[1], out[2]
    for b0 in range(0, B, cache.chunk):
        c = slice(b0, min(b0 + cache.chunk, B))
        # Karolar sondan başa: son karo bütün anahtarları görür (r1 = T), dk ve dv'yi ilk o yazar
        for a, drop, (r0, r1) in zip(reversed(cache.tiles), reversed(cache.drops),
                                     reversed(cache.bounds)):
            # qi, dyi: (b,nh,t,hs); kk, vv: (b,nh,r1,hs) (görünümler)
            qi, kk, vv, dyi = q[c, :, r0:r1], k[c, :, :r1], v[c, :, :r1], dy[c, :, r0:r1]
            ac = a[c]                                                         # (b,nh,t,r1)
            drop_c = drop if drop.mask is None else DropoutCache(drop.mask[c], drop.factor)
            first = r1 == T
            # Önbellekte A_i var: Ã_i = A_i ⊙ m/(1−p) aynı maskeyle yeniden kurulur
            a_d = drop_c.apply(ac)
            # İleri geçişte: `y[r0:r1] = Ã_i·v[0:r1]` → bu yüzden `dv[0:r1] += Ã_iᵀ·dy[r0:r1]`
            if first:
                matmul_t(a_d, dyi, trans_a=True, out=dv[c])  # (b,nh,T,t)@(b,nh,t,hs)->(b,nh,T,hs)
            else:
                dv[c, :, :r1] += matmul_t(a_d, dyi, trans_a=True)               # (b,nh,r1,hs)
            # … ve `dÃ_i = dy[r0:r1]·v[0:r1]ᵀ`
            da = matmul_t(dyi, vv, trans_b=True)          # (b,nh,t,hs)@(b,nh,hs,r1) -> (b,nh,t,r1)
            # İleri geçişte: `Ã_i = dropout(A_i)` → bu yüzden `dA_i = dÃ_i ⊙ m/(1−p)`
            da = dropout_backward(da, drop_c)
            # İleri geçişte: `A_i = softmax(S_i)` → bu yüzden `dS_i = A_i ⊙ (dA_i − Σ dA_i·A_i)`
            softmax_backward(ac, da)                      # da artık dS_i
            # İleri geçişte: `S_i = (q_i/√hs)·k[0:r1]ᵀ` → bu yüzden `dq_i = dS_i·k[0:r1]/√hs`
            # (her sorgu satırı tek karoda: doğrudan yazılır)
            # (b,nh,t,r1)@(b,nh,r1,hs) -> (b,nh,t,hs)
            matmul_t(da, kk, alpha=scale, out=dq[c, :, r0:r1])
            # … ve `dk[0:r1] += dS_iᵀ·q_i/√hs` (anahtarlar birçok karoda: toplanır)
            if first:
                # (b,nh,T,t)@(b,nh,t,hs) -> (b,nh,T,hs)
                matmul_t(da, qi, trans_a=True, alpha=scale, out=dk[c])
            else:
                dk[c, :, :r1] += matmul_t(da, qi, trans_a=True, alpha=scale)    # (b,nh,r1,hs)
    return dq, dk, dv
