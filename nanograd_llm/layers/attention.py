"""
# Nedensel ölçekli nokta-çarpım dikkati (causal scaled dot-product attention)

## Ne yapar?
Dikkat, her konumun diğer konumlardan **hangi bilgiyi, ne oranda** alacağına kendisinin
karar vermesini sağlar. Her konum üç vektör taşır:
* **sorgu** `q` ("ne arıyorum?"),
* **anahtar** `k` ("bende ne var?"),
* **değer** `v` ("bulunursam ne veririm?").

`q_i · k_j` nokta çarpımı, `i` konumunun `j` konumuna ne kadar "uyduğunu" ölçer. Bu
puanlar softmax ile olasılık dağılımına çevrilir ve değer vektörlerinin ağırlıklı
ortalaması alınır.

**Nedensellik (causal mask):** Dil modeli bir sonraki belirteci tahmin eder; `i`
konumu geleceği (`j > i`) görürse cevabı kopyalardı. Bu yüzden `j > i` puanları softmax'tan
önce `−∞` yapılır; `exp(−∞) = 0` olduğundan bu konumların ağırlığı tam sıfırdır. GPT yalnızca
bu maskeli (kod çözücü/decoder) dikkati kullanır.

**Neden √d_k'ya bölünür?** `q` ve `k`'nın bileşenleri bağımsız, ortalaması 0 ve
varyansı 1 ise `q·k`'nin varyansı `d_k` olur. Büyük puanlar softmax'ı tek bir konuma
yığar (doygunluk) ve gradyanlar kaybolur. `1/√d_k` ile ölçeklemek puanların varyansını 1'e çeker.

## İleri geçiş
    S   = (q / √d_k) · kᵀ                    puanlar
    S_ij = −∞   eğer j > i + (Tk − Tq)         nedensel maske
    A   = softmax(S)   (son eksen üzerinde, sayısal olarak kararlı: önce satır maksimumu çıkarılır)
    Ã   = dropout(A)
    y   = Ã · v

`Tk − Tq` kayması şunu ifade eder: KV önbelleğiyle üretimde Tq yeni sorgu, toplam Tk anahtarın
(yeniler de dahil) son Tq tanesine karşılık gelir; eğitimde Tq = Tk'dır.

**Sayısal kararlılık:** `softmax(s) = softmax(s − max(s))`. Maksimumu çıkarmak sonucu
değiştirmez ama `exp`'in taşmasını (overflow) önler.

## Şekiller (hs = d_k = kafa boyutu)
| ad        | şekil             |
|-----------|-------------------|
| `q`       | (B, nh, Tq, hs)   |
| `k`, `v`  | (B, nh, Tk, hs)   |
| `S`, `A`  | (B, nh, Tq, Tk)   |
| `y`       | (B, nh, Tq, hs)   |

## Geri yayılım (adım adım)
1. `y = Ã·v` → `dv = Ãᵀ·dy`, `dÃ = dy·vᵀ`.
2. `Ã = dropout(A) = A ⊙ m/(1−p)` → `dA = dÃ ⊙ m/(1−p)` (aynı maske `m`, bkz. dropout.py).
3. `A = softmax(S)`: satır başına `∂A_i/∂S_j = A_i(δ_ij − A_j)`, dolayısıyla
   `dS = A ⊙ (dA − Σ_j dA_j A_j)`. Maskeli konumlarda `A = 0` olduğundan `dS` de 0'dır;
   maske için ayrı bir geri yayılım adımı gerekmez.
4. `S = (q/√d_k)·kᵀ` → `dq = dS·k / √d_k`, `dk = dSᵀ·q / √d_k`.

## Devrikler kopyalanmaz
`kᵀ`, `Ãᵀ`, `dSᵀ` hiçbir zaman bellekte kurulmaz: `matmul_t(q, k, trans_b=True)` çarpıma
"ikinci işleneni devrik oku" der (BLAS/cuBLAS'ın `T` bayrağı). `1/√d_k` de çarpımın `alpha`
katsayısı olarak uygulanır (CPU'da işlenenlerden küçüğüne; eşitse q'ye). (B, nh, T, T)
boyutlu dikkat matrisi büyük olduğu için bu, GPU'da her katmanda yüzlerce megabaytlık kopyayı
önler.

## Maskeli üçgen boşuna hesaplanır
Bu bölümdeki yoğun hesap, üst üçgenin puanlarını da hesaplayıp sonra sıfırlar: Tq = Tk
iken işin neredeyse yarısı. CPU'da KV önbelleği yokken (eğitim ve değerlendirme, T ≥ 128)
çok kafalı dikkat aynı hesabı sorgu karolarıyla yapar ve o üçgeni hiç hesaplamaz
(`causal_tiles.py`); buradaki kod başvuru (referans) uygulamasıdır, GPU'da, kısa dizilerde
ve KV önbellekli üretimde çalışan da odur.
Aşağıdaki `causal_softmax` ve `softmax_backward` iki yolda ortaktır: birleşik bir çekirdek
varsa (GPU'da her zaman; CPU'da float32 dizilerde, Numba kuruluysa) onu, yoksa genel
`causal_softmax_inplace` / `softmax_backward_inplace` kodunu çalıştırırlar.

Gradyan denetimi: `tests/test_layers.py::test_attention_gradcheck`.
PyTorch ile karşılaştırma (ileri ve geri geçiş):
`tests/test_layers_torch.py::test_attention_and_causal_tiles`.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

from ..backend import (cache_allocation, for_row_blocks, fused_kernels, get_array_module,
                       matmul_t)
from .dropout import dropout_backward, dropout_forward

# Boyutlar: B = toplu iş, nh = kafa sayısı, Tq = sorgu sayısı, Tk = anahtar sayısı,
# hs = kafa boyutu (d_k), n = bir satır bloğundaki (B·nh içinden) kafa sayısı

_MASKS: dict = {}


def causal_mask(Tq: int, Tk: int, xp, dtype):
    """Additive mask (Tq, Tk): 0 where query i may see key j, -inf where j > i + (Tk - Tq).

    Built once per (Tq, Tk, dtype, backend) and reused.
    """
    key = (Tq, Tk, str(dtype), xp.__name__)
    m = _MASKS.get(key)
    if m is None:
        with cache_allocation(xp):          # önbellekte kalır: varsayılan bellek havuzundan
            offset = Tk - Tq
            i = xp.arange(Tq)[:, None]
            j = xp.arange(Tk)[None, :]
            m = xp.where(j > i + offset, -xp.inf, 0.0).astype(dtype)   # (Tq, Tk)
        _MASKS[key] = m
    return m


def _blocked(Tq: int, Tk: int, xp):
    """Boolean (Tq, Tk): True where key j is hidden from query i (j > i + (Tk − Tq)); cached."""
    key = (Tq, Tk, "bool", xp.__name__)
    m = _MASKS.get(key)
    if m is None:
        additive = causal_mask(Tq, Tk, xp, "float32")                  # (Tq, Tk): 0 ya da −∞
        with cache_allocation(xp):          # önbellekte kalır: varsayılan bellek havuzundan
            m = additive < 0                                            # (Tq, Tk)
        _MASKS[key] = m
    return m


def causal_softmax_inplace(att) -> None:
    """In place: causal mask and numerically stable softmax over the last axis of att
    (…, Tq, Tk), a query i seeing the keys j <= i + (Tk − Tq). The generic xp code (a fused
    kernel replaces it where there is one: see causal_softmax). att must be C-contiguous."""
    if not att.flags.c_contiguous:
        raise ValueError("causal_softmax_inplace needs a C-contiguous att")
    xp = get_array_module(att)
    Tq, Tk = att.shape[-2], att.shape[-1]
    mask = causal_mask(Tq, Tk, xp, att.dtype)                      # (Tq, Tk): 0 ya da −∞
    blocked = _blocked(Tq, Tk, xp)                                  # (Tq, Tk), bool
    att3 = att.reshape(-1, Tq, Tk)                                  # (B·nh, Tq, Tk), görünüm
    ones = xp.ones((Tk,), dtype=att.dtype)                          # (Tk,)

    def block(r):
        # Bir grup kafanın puanları; CPU'da gruplar iş parçacıklarına paylaştırılır ve her grup
        # önbellekteyken bütün softmax adımlarından geçer (bkz. backend.for_row_blocks).
        a = att3[r]                                                 # (n, Tq, Tk), görünüm
        # Nedensel maske: gelecekteki konumlara −∞ yazılır (eklenmez). `a += mask`, maskeli bir
        # konumdaki +∞ ya da NaN puanı −∞ değil NaN yapar (∞ + (−∞) = NaN) ve satırın maksimumu
        # üzerinden bütün satıra yayardı: sorgu, göremediği bir anahtar yüzünden NaN olurdu
        # (birleşik çekirdekler maskeli puanları hiç okumaz, PyTorch'un masked_fill'i de onların
        # üzerine yazar)
        xp.copyto(a, mask, where=blocked)
        # Kararlı softmax: maksimumu çıkar, üssünü al, satır toplamına böl (hepsi yerinde)
        a -= a.max(axis=-1, keepdims=True)
        xp.exp(a, out=a)
        # Satır toplamları, birlerden oluşan bir vektörle çarpım olarak alınır (BLAS gemv;
        # kısa satırlarda `sum(axis=-1)`'den hızlı, bkz. layernorm.py)
        rowsum = matmul_t(a.reshape(-1, Tk), ones)                  # (n·Tq, Tk)@(Tk,) -> (n·Tq,)
        a /= rowsum.reshape(a.shape[:-1] + (1,))                    # (n, Tq, 1)

    for_row_blocks(block, att3.shape[0], Tq * Tk, xp)


def softmax_backward_inplace(att, datt) -> None:
    """In place: datt ← att ⊙ (datt − Σ_j datt_j·att_j) over the last axis (datt: dA in,
    dS out; both (…, Tq, Tk), datt C-contiguous)."""
    if not datt.flags.c_contiguous:
        # Yerinde çalışılacak: bitişik olmayan bir dizinin yeniden şekillendirilmesi kopya olurdu
        # ve sonuç o kopyada kalırdı
        raise ValueError("softmax_backward_inplace needs a C-contiguous datt")
    xp = get_array_module(att)
    Tq, Tk = att.shape[-2], att.shape[-1]
    att3 = att.reshape(-1, Tq, Tk)                                  # (B·nh, Tq, Tk)
    datt3 = datt.reshape(-1, Tq, Tk)                                # görünüm (datt bitişik)
    ones = xp.ones((Tk,), dtype=att.dtype)                          # (Tk,)

    def block(r):
        # Bir grup kafa (bkz. causal_softmax_inplace); gruplar birbirinden bağımsızdır.
        a, da = att3[r], datt3[r]                                   # (n, Tq, Tk), görünümler
        prod = da * a                                               # (n, Tq, Tk)
        # Satır başına Σ_j dA_j·A_j: (n·Tq, Tk)@(Tk,) -> (n·Tq,) -> (n, Tq, 1)
        rowdot = matmul_t(prod.reshape(-1, Tk), ones).reshape(a.shape[:-1] + (1,))
        da -= rowdot
        # Artık da = dS; maskeli yerlerde A = 0 olduğundan dS = 0
        da *= a

    for_row_blocks(block, att3.shape[0], Tq * Tk, xp)


def causal_softmax(att) -> None:
    """In place: causal mask + softmax of C-contiguous scores, by the fused kernel when there is
    one for this array (backend.fused_kernels), else by causal_softmax_inplace."""
    fused = fused_kernels(att)
    if fused is not None:
        # Birleşik çekirdek (GPU'da cuda_kernels.py, CPU'da Numba ile cpu_kernels.py): maske,
        # maksimum, üs, toplam ve bölme tek geçişte; yukarıdaki genel kod başvuru uygulamasıdır
        fused.causal_softmax_forward(att)
    else:
        causal_softmax_inplace(att)


def softmax_backward(att, datt) -> None:
    """In place on datt (dA in, dS out): the fused kernel when there is one, else
    softmax_backward_inplace."""
    fused = fused_kernels(datt)
    # İleri geçişte: `A = softmax(S)` → bu yüzden `dS = A ⊙ (dA − Σ_j dA_j·A_j)`
    if fused is not None and datt.flags.c_contiguous:
        fused.softmax_backward(att, datt)          # aynı formül, tek çekirdek, yerinde
    else:
        softmax_backward_inplace(att, datt)


class AttentionCache(NamedTuple):
    """What attention_forward keeps for attention_backward."""

    q: Any      # (B, nh, Tq, hs), ölçeklenmemiş q
    k: Any      # (B, nh, Tk, hs)
    v: Any      # (B, nh, Tk, hs)
    att: Any    # (B, nh, Tq, Tk) softmax çıktısı A
    drop: Any   # dropout önbelleği
    scale: float


def attention_forward(q, k, v, dropout: float = 0.0, rng=None, train: bool = True, out=None):
    """Causal softmax(q k^T / sqrt(hs)) v. q: (B, nh, Tq, hs); k, v: (B, nh, Tk, hs).

    q, k, v may be strided views. With `out` (a (B, nh, Tq, hs) array or view) y is written
    into it; returns (y, cache)."""
    hs = q.shape[-1]
    if q.shape[-2] > k.shape[-2]:
        # Maske sağ alta hizalıdır (sorgu i, j ≤ i + (Tk − Tq) anahtarlarını görür): Tq > Tk
        # iken ilk Tq − Tk sorgunun görebileceği hiçbir anahtar kalmaz, softmax'ları −∞ satırından
        # NaN olurdu ve çıktıya sessizce NaN satırlar yazılırdı (yalnızca şekle bakan, O(1) denetim)
        raise ValueError(f"attention: {q.shape[-2]} queries but only {k.shape[-2]} keys; the "
                         f"causal mask needs at least as many keys as queries (Tk >= Tq)")
    scale = 1.0 / math.sqrt(hs)
    # Puanlar: S = (q/√hs)·kᵀ. kᵀ yalnızca bir bayrakla belirtilir (kopya yok); 1/√hs
    # çarpımın alpha'sıdır (CPU'da q'ye uygulanır: T·hs işlem, T·T yerine). Önbellekte
    # ölçeklenmemiş q saklanır.
    att = matmul_t(q, k, trans_b=True, alpha=scale)  # (B,nh,Tq,hs)@(B,nh,hs,Tk) -> (B,nh,Tq,Tk)
    causal_softmax(att)                                             # (B,nh,Tq,Tk), yerinde
    # Dikkat ağırlıklarına dropout
    att_d, drop = dropout_forward(att, dropout, rng, train)
    # Değerlerin ağırlıklı toplamı: y = Ã·v
    y = matmul_t(att_d, v, out=out)                # (B,nh,Tq,Tk)@(B,nh,Tk,hs) -> (B,nh,Tq,hs)
    return y, AttentionCache(q, k, v, att, drop, scale)


def attention_backward(dy, cache: AttentionCache, out=None):
    """Returns (dq, dk, dv). With `out` (an array or view (3, B, nh, T, hs)) they are written
    into out[0], out[1], out[2] (multihead_attention passes a view of dqkv on the CPU)."""
    q, k, v, att, scale = cache.q, cache.k, cache.v, cache.att, cache.scale
    o_q, o_k, o_v = (None, None, None) if out is None else (out[0], out[1], out[2])
    # Önbellekte yalnızca A var: Ã = A ⊙ m/(1−p) aynı ölçekli maskeyle yeniden kurulur
    att_d = cache.drop.apply(att)                                        # (B,nh,Tq,Tk)
    # İleri geçişte: `y = Ã·v` → bu yüzden `dv = Ãᵀ·dy` ve `dÃ = dy·vᵀ`
    dv = matmul_t(att_d, dy, trans_a=True, out=o_v)  # (B,nh,Tk,Tq)@(B,nh,Tq,hs) -> (B,nh,Tk,hs)
    datt = matmul_t(dy, v, trans_b=True)             # (B,nh,Tq,hs)@(B,nh,hs,Tk) -> (B,nh,Tq,Tk)
    # İleri geçişte: `Ã = dropout(A) = A ⊙ m/(1−p)` → bu yüzden `dA = dÃ ⊙ m/(1−p)`
    datt = dropout_backward(datt, cache.drop)
    # İleri geçişte: `A = softmax(S)` → bu yüzden `dS = A ⊙ (dA − Σ_j dA_j·A_j)`
    softmax_backward(att, datt)                    # datt artık dS
    # İleri geçişte: `S = (q/√hs)·kᵀ` → bu yüzden `dq = dS·k/√hs`, `dk = dSᵀ·q/√hs`
    # (dSᵀ yine yalnızca bir bayrakla belirtilir; 1/√hs çarpımın alpha'sı)
    # dq: (B,nh,Tq,Tk)@(B,nh,Tk,hs) -> (B,nh,Tq,hs); dk: (B,nh,Tk,Tq)@(B,nh,Tq,hs) -> (B,nh,Tk,hs)
    dq = matmul_t(datt, k, alpha=scale, out=o_q)                # (B,nh,Tq,hs)
    dk = matmul_t(datt, q, trans_a=True, alpha=scale, out=o_k)  # (B,nh,Tk,hs)
    return dq, dk, dv
