"""
# NumPy ve CuPy ön bilgisi

Bu projedeki GPT'nin her satırı NumPy dizileriyle yazılmıştır; otomatik türev yoktur,
her geri yayılım elle yazılır. Kursun geri kalanını rahat okumak için birkaç işlemi iyi
tanımak yeterlidir: diziler ve veri türleri, şekiller ve yayınlama (broadcasting), matris
çarpımı, indeksleme ve `np.add.at`, alt üçgen maskeler, sayısal olarak kararlı softmax,
rastgele sayı üreteçleri ve aynı kodun GPU'da CuPy ile çalıştırılması.

Video dersi bu konuları PyTorch ile anlatır. Buradaki bölümler aynı fikirlerin NumPy
karşılıklarıdır. Her bölüm, `xp` adında bir dizi modülü alan bir fonksiyondur: `xp`,
CPU'da `numpy`, GPU'da `cupy` olur. Fonksiyonlar yalnızca ekrana yazdırmaz, anlattıkları
iddiaları `assert` ile de denetler; bir iddia yanlış olsaydı bölüm hata verirdi.

## Çalıştırmak

    python examples/01_numpy_primer.py                 # CPU'da, NumPy ile
    python examples/01_numpy_primer.py --device cuda   # GPU'da, CuPy kuruluysa

## Video dersindeki PyTorch çağrıları ve NumPy karşılıkları

| PyTorch (video dersinde)                   | NumPy (bu projede)                                    |
|--------------------------------------------|-------------------------------------------------------|
| `torch.tensor(ids, dtype=torch.long)`      | `np.array(ids, dtype=np.int64)`                       |
| `torch.zeros((B, T))`                      | `np.zeros((B, T), dtype=np.float32)`                  |
| `torch.manual_seed(1337)`                  | `rng = np.random.default_rng(1337)`                   |
| `torch.randn(B, T)`                        | `rng.standard_normal((B, T), dtype=np.float32)`       |
| `torch.randint(0, n, (B,))`                | `rng.integers(0, n, size=B)`                          |
| `torch.multinomial(probs, num_samples=1)`  | `rng.choice(V, p=probs)`                              |
| `torch.arange(T)`                          | `np.arange(T)`                                        |
| `torch.stack(xs)` / `torch.cat(xs, dim=1)` | `np.stack(xs)` / `np.concatenate(xs, axis=1)`         |
| `x.view(B * T, C)`                         | `x.reshape(B * T, C)`                                 |
| `x.transpose(-2, -1)`                      | `x.swapaxes(-2, -1)`                                  |
| `x.mean(dim=-1, keepdim=True)`             | `x.mean(axis=-1, keepdims=True)`                      |
| `a @ b`, `torch.matmul(a, b)`              | `a @ b`, `np.matmul(a, b)`                            |
| `torch.tril(torch.ones(T, T))`             | `np.tril(np.ones((T, T)))`                            |
| `w.masked_fill(tril == 0, float('-inf'))`  | `np.where(tril == 0, -np.inf, w)`                     |
| `F.softmax(w, dim=-1)`                     | `stable_softmax(w)` (aşağıda)                         |
| `F.cross_entropy(logits, targets)`         | `layers.cross_entropy.cross_entropy_forward`          |
| `nn.Embedding(V, C)`, `emb(idx)`           | `W` (V, C) dizisi, `W[idx]`                           |
| `nn.Linear(C, H)`, `lin(x)`                | `x @ W + b`, `W` (C, H) şeklinde                      |
| `loss.backward()`                          | elle yazılmış `*_backward` fonksiyonları              |
| `torch.optim.AdamW`                        | `nanograd_llm.optim` (elle yazılmış AdamW)            |
| `with torch.no_grad():`                    | gerekmez: NumPy türev kaydı tutmaz                    |
| `x.to('cuda')`                             | `backend.to_device(x, "cuda")` (CuPy dizisine çevirir) |

Dikkat edilecek iki fark: PyTorch'ta `dim`, NumPy'da `axis` yazılır; PyTorch'un `nn.Linear`
katmanı ağırlığı `(çıkış, giriş)` biçiminde saklar, bu projede ise GPT-2'deki gibi
`(giriş, çıkış)` biçimindedir.
"""
from __future__ import annotations

import numpy as np

from ..backend import cuda_available, get_array_module, scatter_add, to_numpy, xp_for


def _show(label: str, value) -> None:
    print(f"  {label:<34} {value}")


# ## 1. Diziler ve veri türleri
# Bir NumPy dizisinin üç temel özelliği vardır: **şekli** (`shape`), **veri türü**
# (`dtype`) ve bellekteki verisi. Sinir ağlarında ağırlıklar ve etkinleştirmeler genellikle
# `float32`, belirteç kimlikleri (token id) ise tam sayı (`int64`) olarak tutulur.
#
# `float32` yaklaşık 7 anlamlı basamak taşır. Bu eğitim için yeterlidir ve `float64`'ün
# yarısı kadar bellek kullanır; ama gradyan denetimi gibi hassas karşılaştırmalarda
# `float64` gerekir.

def section_arrays(xp=np) -> None:
    ids = xp.array([18, 47, 56, 57], dtype=xp.int64)          # belirteç kimlikleri
    w = xp.zeros((4, 3), dtype=xp.float32)                    # 4×3 ağırlık matrisi
    _show("ids.shape, ids.dtype", (ids.shape, str(ids.dtype)))
    _show("w.shape, w.dtype, w.nbytes", (w.shape, str(w.dtype), w.nbytes))
    assert w.nbytes == 4 * 3 * 4                               # her float32 4 bayt
    # Veri türü dönüşümü `astype` ile yapılır ve yeni bir dizi üretir.
    w64 = w.astype(xp.float64)
    assert w64.nbytes == 2 * w.nbytes
    # float32'nin sınırlı kesinliği: 10⁸'e 1 eklemek sonucu değiştirmez. 1 de float32 olarak
    # yazılır: NumPy 2'de bir Python sayısı dizinin türüne uyar (NEP 50); NumPy 1.x ise 0
    # boyutlu bir dizi ile bir Python tam sayısını iki skaler sayar ve `big + 1` toplamını
    # float64'te hesaplardı; orada eklenen 1 kaybolmazdı (toplam 100 000 001 olurdu).
    big = xp.array(1e8, dtype=xp.float32)
    one = xp.array(1, dtype=xp.float32)
    _show("float32: 1e8 + 1 == 1e8 ?", bool(big + one == big))
    assert bool(big + one == big)
    assert not bool(big.astype(xp.float64) + 1 == big.astype(xp.float64))


# ## 2. Şekiller ve yayınlama (broadcasting)
# Kurs boyunca aynı kısaltmalar kullanılır: **B** toplu iş (batch) boyutu, **T** dizi
# uzunluğu (zaman/konum), **C** gömme boyutu (kanal), **V** sözlük boyutu. Bir dil
# modelindeki ara tensörlerin çoğu `(B, T, C)` şeklindedir.
#
# `reshape` veriyi kopyalamadan aynı belleğe yeni bir şekilden bakar (mümkün olduğunda);
# `transpose`/`swapaxes` eksenlerin sırasını değiştirir.
#
# **Yayınlama kuralı:** iki dizinin şekilleri sağdan hizalanır; her eksende boyutlar ya
# eşit olmalı ya da biri 1 olmalıdır. Eksik eksenler başa 1 olarak eklenmiş sayılır. Böylece
# `(B, T, C) + (T, C)` toplamı, aynı `(T, C)` tablosunu her toplu iş öğesine ekler; konum
# kodlaması tam olarak böyle çalışır.

def section_shapes(xp=np) -> None:
    B, T, C = 2, 3, 4
    x = xp.arange(B * T * C, dtype=xp.float32).reshape(B, T, C)
    _show("x.shape", x.shape)
    # (B, T, C) → (B·T, C): iki eksen tek eksende birleşir; veri aynı kalır.
    x2d = x.reshape(B * T, C)
    assert x2d.shape == (6, 4) and float(x2d[4, 1]) == float(x[1, 1, 1])
    # Eksen değiştirme: (B, T, C) → (B, C, T)
    assert x.swapaxes(1, 2).shape == (B, C, T)
    # Yayınlama: her toplu iş öğesine aynı (T, C) konum tablosu eklenir.
    pos = xp.ones((T, C), dtype=xp.float32)
    y = x + pos
    assert y.shape == (B, T, C) and float(y[1, 2, 3]) == float(x[1, 2, 3]) + 1
    # keepdims=True, indirgenen ekseni 1 olarak bırakır; sonuç x ile yayınlanabilir.
    mu = x.mean(axis=-1, keepdims=True)                         # (B, T, 1)
    _show("x.mean(axis=-1, keepdims=True)", mu.shape)
    centered = x - mu                                           # (B, T, C) − (B, T, 1)
    assert float(abs(centered.mean(axis=-1)).max()) < 1e-5


# ## 3. Matris çarpımı ve toplu matris çarpımı
# `a @ b` iki boyutlu dizilerde bilinen matris çarpımıdır: `(N, C) @ (C, H) → (N, H)`.
# Daha çok eksenli dizilerde son iki eksen matris, öncekiler "toplu" eksenler sayılır ve
# yayınlanır. Dikkat katmanında `(B, nh, T, hs) @ (B, nh, hs, T) → (B, nh, T, T)`
# çarpımı, her toplu iş öğesi ve her kafa için ayrı bir `(T, hs) @ (hs, T)` çarpımıdır.
#
# Doğrusal katmanda `(B, T, C)` girdisi önce `(B·T, C)` matrisine açılır: tek büyük bir
# matris çarpımı, çok sayıda küçük çarpımdan daha hızlıdır.

def section_matmul(xp=np) -> None:
    rng = np.random.default_rng(0)
    B, T, C, H = 2, 5, 8, 3
    x = xp.asarray(rng.standard_normal((B, T, C)))
    w = xp.asarray(rng.standard_normal((C, H)))
    y = x @ w                                                   # (B, T, C) @ (C, H)
    y2 = (x.reshape(B * T, C) @ w).reshape(B, T, H)             # aynı sonuç, tek çarpım
    _show("(B,T,C) @ (C,H)", y.shape)
    assert float(abs(y - y2).max()) < 1e-12
    # Toplu çarpım: her (b, h) çifti için ayrı bir (T, hs) @ (hs, T) çarpımı.
    nh, hs = 2, 4
    q = xp.asarray(rng.standard_normal((B, nh, T, hs)))
    k = xp.asarray(rng.standard_normal((B, nh, T, hs)))
    s = q @ k.swapaxes(-1, -2)
    _show("(B,nh,T,hs) @ (B,nh,hs,T)", s.shape)
    assert s.shape == (B, nh, T, T)
    assert float(abs(s[1, 0] - q[1, 0] @ k[1, 0].T).max()) < 1e-12
    # Aynı işlemin einsum ile yazılışı; okunaklıdır ama genellikle @'den yavaştır.
    s_e = xp.einsum("bhtd,bhsd->bhts", q, k)
    assert float(abs(s - s_e).max()) < 1e-12


# ## 4. İndeksleme ve `np.add.at`
# **Gömme (embedding)**, bir ağırlık matrisinden satır seçmektir: `W[idx]`. `idx` şekli
# `(B, T)` olan bir tam sayı dizisiyse sonuç `(B, T, C)` olur.
#
# **Her satırdan bir öğe seçmek:** `z[np.arange(N), t]`, `n`. satırın `t[n]`. öğesini
# alır. Çapraz entropide doğru belirtecin logitini okumak için kullanılır.
#
# **Tekrarlanan indekslerle toplama:** gömmenin geri yayılımında aynı belirteç bir toplu
# işte birkaç kez geçebilir (ör. boşluk karakteri). `dW[idx] += g` yazıldığında NumPy,
# tekrarlanan indeks için toplamı **biriktirmez**, yalnızca bir katkıyı yazar. Doğrusu
# `np.add.at(dW, idx, g)`'dir; projede bunu `backend.scatter_add` yapar (GPU'da
# `cupy.add.at`).

def section_indexing(xp=np) -> None:
    V, C = 5, 3
    W = xp.arange(V * C, dtype=xp.float64).reshape(V, C)
    idx = xp.array([[1, 4], [1, 0]])                            # (B=2, T=2)
    out = W[idx]                                                # satır seçme
    _show("W[idx].shape", out.shape)
    assert out.shape == (2, 2, C) and float(out[1, 0, 2]) == float(W[1, 2])
    # Her satırdan bir öğe: z[n, t[n]]
    z = xp.asarray([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    t = xp.array([1, 0])
    picked = z[xp.arange(2), t]
    assert [float(v) for v in picked] == [0.7, 0.5]
    # Tekrarlanan indeks: 1 numaralı satır iki kez geçiyor.
    g = xp.ones((4, C))
    flat = idx.reshape(-1)                                      # [1, 4, 1, 0]
    wrong = xp.zeros((V, C))
    wrong[flat] += g                                            # 1 numaralı satıra bir kez ekler
    right = xp.zeros((V, C))
    scatter_add(right, flat, g)                                 # np.add.at: iki katkı da toplanır
    _show("dW[1]: += ile, add.at ile", (float(wrong[1, 0]), float(right[1, 0])))
    assert float(wrong[1, 0]) == 1.0 and float(right[1, 0]) == 2.0


# ## 5. Alt üçgen maske (`tril`) ve geçmişin ortalaması
# Dil modeli `t` konumunda yalnızca `0 … t` konumlarını görebilir. Video dersindeki "öz-dikkatin
# matematiksel hilesi", geçmişin ortalamasını üç yoldan hesaplar; üçü de aynı sonucu verir:
#
# 1. açık döngü: her `t` için `x[:, :t+1].mean(axis=1)`,
# 2. satırları normalize edilmiş bir alt üçgen matrisle çarpım: `wei @ x`,
# 3. maskeli softmax: gelecek konumlar `−∞` yapılır, softmax alınır, `wei @ x`.
#
# Üçüncüsü dikkatin iskeletidir. Dikkatte softmax'a giren puanlar sıfır değil, sorgu ve
# anahtarların (1/√hs ile ölçeklenmiş) nokta çarpımlarıdır, bu yüzden `wei` veriye göre değişir;
# ağırlıklı ortalaması alınan da `x`'in kendisi değil, ondan hesaplanan değer vektörleridir (`v`).

def section_tril(xp=np) -> None:
    rng = np.random.default_rng(1)
    B, T, C = 2, 4, 3
    x = xp.asarray(rng.standard_normal((B, T, C)))
    # 1) Döngüyle
    loop = xp.stack([x[:, :t + 1].mean(axis=1) for t in range(T)], axis=1)   # (B, T, C)
    # 2) Alt üçgen matrisle
    tril = xp.tril(xp.ones((T, T)))
    wei = tril / tril.sum(axis=1, keepdims=True)
    mat = wei @ x                                               # (T, T) @ (B, T, C)
    # 3) Maskeli softmax ile
    scores = xp.where(tril == 0, -xp.inf, 0.0)
    soft = stable_softmax(scores) @ x
    print("  alt üçgen ağırlıklar (T=4):")
    print("   ", str(np.round(to_numpy(wei), 2)).replace("\n", "\n    "))
    assert float(abs(loop - mat).max()) < 1e-12
    assert float(abs(loop - soft).max()) < 1e-12


# ## 6. Sayısal olarak kararlı softmax
#
#     softmax(z)_i = exp(z_i) / Σ_j exp(z_j)
#
# `exp(1000)` float64'te bile taşar (sonsuz olur) ve `∞/∞ = nan` çıkar. Çözüm: her satırdan
# o satırın en büyük değerini (`m`) çıkarmak. Pay ve payda aynı `exp(−m)` çarpanıyla
# ölçeklendiği için sonuç değişmez, ama artık en büyük terim `exp(0) = 1`'dir:
#
#     softmax(z) = softmax(z − max(z))
#
# Aynı hile kaybı hesaplarken de kullanılır (log-sum-exp):
# `log Σ exp(z_j) = m + log Σ exp(z_j − m)`. `−∞` olan (maskeli) girdiler `exp(−∞) = 0`
# katkı verir; bu yüzden maskeleme softmax'tan önce yapılır.

def stable_softmax(z):
    """Softmax over the last axis, shifted by the row maximum so exp never overflows."""
    xp = get_array_module(z)
    e = xp.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def section_softmax(xp=np) -> None:
    z = xp.asarray([[1000.0, 1001.0, 1002.0]])
    with np.errstate(over="ignore", invalid="ignore"):
        naive = xp.exp(z) / xp.exp(z).sum(axis=-1, keepdims=True)
    stable = stable_softmax(z)
    _show("saf softmax", to_numpy(naive).round(4).tolist())
    _show("kararlı softmax", to_numpy(stable).round(4).tolist())
    assert bool(xp.isnan(naive).all())
    assert abs(float(stable.sum()) - 1.0) < 1e-12
    # Kaydırmaya dayanıklılık: softmax(z) = softmax(z − 5)
    assert float(abs(stable_softmax(z) - stable_softmax(z - 5.0)).max()) < 1e-12
    # Log-sum-exp
    m = z.max(axis=-1, keepdims=True)
    lse = m + xp.log(xp.exp(z - m).sum(axis=-1, keepdims=True))
    _show("log Σ exp(z)", float(lse[0, 0]))
    assert abs(float(lse[0, 0]) - (1002.0 + np.log(1 + np.exp(-1) + np.exp(-2)))) < 1e-9


# ## 7. Rastgele sayı üreteçleri
# `np.random.default_rng(seed)` kendi durumunu taşıyan bir üreteç (Generator) nesnesi
# döndürür. Aynı tohum (seed) her seferinde aynı sayıları üretir; bu, deneylerin
# tekrarlanabilmesi için gereklidir. Eski `np.random.seed(...)` arayüzünün aksine küresel
# bir durum yoktur: iki üreteç birbirini etkilemez.
#
# Projede rastgelelik dört yerde kullanılır: ağırlıkların ilk değerleri
# (`standard_normal`), eğitimde veriden rastgele parçalar seçmek (`integers`; video dersindeki
# `get_batch`), eğitimde dropout maskeleri (`random`: her öğe için [0, 1) aralığında bir sayı;
# `p`'den küçükse öğe düşürülür, bkz. `layers/dropout.py`) ve metin üretirken bir sonraki
# belirteci olasılıklara göre çekmek (burada `choice`; video dersindeki `torch.multinomial`.
# `generate.py` aynı işi `rng.random()` ile çektiği tek bir sayıyı birikimli olasılıklarla
# karşılaştırarak yapar: ters dağılım yöntemi).

def section_random(xp=np) -> None:
    a = np.random.default_rng(1337).standard_normal(3)
    b = np.random.default_rng(1337).standard_normal(3)
    assert np.array_equal(a, b)                                 # aynı tohum, aynı sayılar
    # get_batch: metnin rastgele yerlerinden B tane, T uzunluğunda parça; hedefler bir sağa kaymış.
    data = np.arange(100)
    rng = np.random.default_rng(0)
    B, T = 3, 8
    starts = rng.integers(0, len(data) - T, size=B)
    xb = np.stack([data[s:s + T] for s in starts])              # (B, T) girdiler
    yb = np.stack([data[s + 1:s + T + 1] for s in starts])      # (B, T) hedefler
    _show("xb[0], yb[0]", (xb[0].tolist()[:4], yb[0].tolist()[:4]))
    assert np.array_equal(xb[:, 1:], yb[:, :-1])
    # Örnekleme: olasılığı 0,7 olan belirteç yaklaşık %70 oranında seçilir.
    p = np.array([0.1, 0.7, 0.2])
    draws = np.random.default_rng(0).choice(3, size=20000, p=p)
    freq = np.bincount(draws, minlength=3) / draws.size
    _show("örnekleme sıklıkları", freq.round(3).tolist())
    assert np.abs(freq - p).max() < 0.02


# ## 8. Aynı kodu GPU'da çalıştırmak: CuPy ve `get_array_module`
# CuPy, NumPy ile aynı arayüze sahip, dizileri GPU belleğinde tutan bir kütüphanedir.
# `cupy.exp`, `cupy.matmul` ... NumPy'daki adlarla çağrılır. Projedeki her katman,
# kütüphaneyi girdiden çıkarır:
#
#     xp = get_array_module(x)   # x NumPy dizisiyse numpy, CuPy dizisiyse cupy
#
# ve bundan sonra yalnızca `xp.…` kullanır. Böylece tek bir kod hem CPU'da hem GPU'da
# çalışır. Diziler aygıtlar arasında `backend.to_device` ve `backend.to_numpy` ile
# taşınır. Aygıtlar arası kopyalama pahalıdır; bu yüzden iyi bir eğitim döngüsünde
# ağırlıklar ve ara sonuçlar GPU'da kalır, CPU'ya yalnızca kayda geçirilecek birkaç sayı
# (ör. kayıp) taşınır.
#
# Bu bölüm GPU yoksa yalnızca CPU yolunu çalıştırır ve bunu söyler.

def section_gpu(xp=np) -> None:
    x = np.linspace(-3, 3, 7)
    cpu = to_numpy(stable_softmax(x))
    assert get_array_module(x) is np
    if not cuda_available():
        print("  CuPy ya da GPU bulunamadı: bölüm yalnızca CPU'da çalıştı.")
        return
    cp = xp_for("cuda")
    xg = cp.asarray(x)                                          # CPU → GPU kopyası
    assert get_array_module(xg) is cp
    gpu = to_numpy(stable_softmax(xg))                          # aynı fonksiyon, GPU'da
    _show("CPU ile GPU arasındaki en büyük fark", float(np.abs(cpu - gpu).max()))
    assert np.allclose(cpu, gpu, rtol=1e-12, atol=1e-15)


# ## Bütün bölümler
# `SECTIONS`, bölümleri okuma sırasıyla tutar; `run_all` hepsini seçilen aygıtta çalıştırır.

SECTIONS = [section_arrays, section_shapes, section_matmul, section_indexing, section_tril,
            section_softmax, section_random, section_gpu]


def run_all(device: str = "cpu") -> None:
    """Run every section on 'cpu' (NumPy) or 'cuda' (CuPy)."""
    xp = xp_for(device)
    for section in SECTIONS:
        title = section.__name__.replace("section_", "")
        print(f"[{title}]")
        section(xp)
    print("Tüm bölümler çalıştı.")


__all__ = ["SECTIONS", "run_all", "stable_softmax"]
