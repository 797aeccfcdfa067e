"""
# Transformer mimarisi ve GPT'nin ondan aldığı parçalar

Transformer, 2017'de "Attention Is All You Need" makalesiyle (Vaswani ve arkadaşları)
makine çevirisi için önerildi. Özgün model iki yarıdan oluşur: kaynak cümleyi okuyan bir
**kodlayıcı** (encoder) ve hedef cümleyi belirteç belirteç üreten bir **kod çözücü**
(decoder). GPT bu yapının yalnızca kod çözücü yarısını alır. Bu bölüm, parçaları veri
modelden hangi sırayla geçiyorsa o sırayla anlatır; her parçanın ayrıntılı türetimi kursun
dördüncü kısmındaki katman bölümlerindedir.

## 1. Girdi gömmesi
Metin önce **belirteçlere** (token) bölünür ve her belirteç sözlükteki sıra numarasına
(kimliğine) çevrilir. Video dersindeki model **karakter düzeyindedir**: her karakter bir
belirteçtir. GPT-2 ise sık geçen karakter dizilerini tek belirteçte birleştiren bayt
düzeyinde BPE kullanır. Gömme katmanı her kimliğe öğrenilebilir, `C` boyutlu bir vektör
karşılık getirir: `(B, T)` kimlikler → `(B, T, C)` vektörler (bkz. `layers/embedding.py`).

## 2. Konum kodlaması
Dikkat işlemi, vektörleri hangi sırada geldiklerine bakmadan karşılaştırır: maske olmadan
girdideki konumları karıştırırsanız çıktıdaki konumlar da aynı şekilde karışır, başka hiçbir
şey değişmez (aşağıdaki `permutation_demo` bunu gösterir). Sıra bilgisi, her konuma özgü bir
vektörün gömmeye **eklenmesiyle** verilir. İki yaygın seçenek vardır:

* **Öğrenilen konum gömmesi** (GPT-2): her konum `t` için öğrenilebilir bir `P[t]` vektörü.
  Model en fazla `block_size` konum tanır.
* **Sinüzoidal kodlama** (özgün Transformer): öğrenilen parametre yoktur; `pos` konumu ve
  `i = 0, 1, …, C/2 − 1` için tablo şu formülle hesaplanır:

```text
PE[pos, 2i]   = sin(pos / 10000^(2i/C))
PE[pos, 2i+1] = cos(pos / 10000^(2i/C))
```

Her boyut çifti farklı bir frekansta salınır: `i`. çiftin dalga boyu `2π·10000^(2i/C)`'dir,
yani ilk çiftte `2π`, son çiftte (`i = C/2 − 1`) `2π·10000^((C−2)/C)`'dir (C büyüdükçe
`10000·2π`'ye yaklaşır). Sabit bir `k` için `PE[pos + k]`, `PE[pos]`'un `k`'ya bağlı bir
dönmesidir; bu da modelin göreli konumları öğrenmesini kolaylaştırır.

![Sinüzoidal konum kodlaması](img/positional_encoding.png)

## 3. Kodlayıcı ve kod çözücü
Özgün Transformer'da iki tür blok vardır:

| | kodlayıcı bloğu | kod çözücü bloğu |
|---|---|---|
| öz-dikkat | maskesiz: her konum bütün konumları görür | **nedensel maskeli**: `t` konumu yalnızca `0 … t` konumlarını görür |
| çapraz dikkat | yok | kodlayıcının çıktısına bakar |
| ileri besleme ağı | var | var |

Her alt katmanın çevresinde bir **artık bağlantı** (residual connection) ve bir **katman
normalizasyonu** vardır. Artık bağlantı alt katmanın çıktısını girdisine ekler
(`x + altkatman(x)`); dikkat hesabının içindeki bir adım değil, bütün alt katmanı saran bir
yoldur. Özgün makalede normalizasyon toplamdan **sonra** gelir (post-LN:
`LN(x + altkatman(x))`); GPT-2 ise normalizasyonu her alt katmandan **önce** uygular
(pre-LN: `x + altkatman(LN(x))`) ve yığının sonuna bir son normalizasyon (`LN_f`) ekler.
Katman normalizasyonu, her belirtecin vektörünü kendi içinde ortalaması 0, varyansı 1 olacak
biçimde kaydırıp ölçekleyen (ardından öğrenilen bir kazanç ve sapma uygulayan) bir işlemdir;
bir kümeleme (clustering) yöntemi değildir.

## 4. GPT neden yalnızca kod çözücüdür?
GPT'nin görevi, önceki belirteçlere bakarak **bir sonraki belirteci** tahmin etmektir.
Çevrilecek ayrı bir kaynak cümle yoktur; bu yüzden kodlayıcıya ve çapraz dikkate gerek
kalmaz. Geriye yalnızca nedensel maskeli öz-dikkat ile ileri besleme ağından oluşan
bloklar kalır; GPT bunları üst üste dizer (GPT-2 small'da 12, GPT-3'te 96 blok).

Nedensel maskenin iki yararı vardır:

* **Kopya çekmeyi önler.** `t` konumu `t + 1`'i görebilseydi cevabı okurdu.
* **Eğitimi verimli kılar.** `T` uzunluğundaki tek bir dizi, tek ileri geçişte `T` ayrı
  tahmin üretir: 1 belirteçlik bağlamdan 2.'yi, 2 belirteçlikten 3.'yü ... Her konum ayrı
  bir eğitim örneğidir ve hepsi paralel hesaplanır.

GPT'de özyinelemeli (recursive) ya da yinelemeli (recurrent, RNN gibi) bir yapı yoktur:
eğitimde bütün konumlar aynı anda işlenir. Metin üretirken model, ürettiği belirteci
girdinin sonuna ekleyip yeniden çağrılır (otoregresif üretim); bu bir döngüdür, ağın
içinde bir geri besleme değildir. `causality_demo` maskenin gerçekten çalıştığını denetler:
sondaki belirteci değiştirmek, önceki konumların çıktısını değiştirmez.

## 5. Çıkış katmanı
Son bloğun çıktısı son katman normalizasyonundan geçer ve bir doğrusal katman her konumu
`V` boyutlu bir **logit** vektörüne çevirir: `(B, T, C) → (B, T, V)`. GPT-2 bu katmanın
ağırlığı olarak gömme matrisinin devriğini kullanır (ağırlık bağlama; bkz. GPT bölümü).
Softmax, logitleri bir sonraki belirteç üzerinde bir olasılık dağılımına çevirir.

## 6. Kayıp ve geri yayılım
Kayıp, bütün `B·T` konumdaki çapraz entropinin ortalamasıdır: doğru belirtece verilen
olasılığın eksi logaritması. **Geri yayılım**, zincir kuralını ileri geçişin tersi
sırasıyla uygulamaktır: kayıptan logitlere, oradan son normalizasyona, blokların içinden
sondan başa doğru, en sonunda gömme tablosuna. Her katmanın `*_backward` fonksiyonu,
çıktısına gelen gradyanı alıp girdisinin ve parametrelerinin gradyanını döndürür. Elde
edilen gradyanlarla parametreler güncellenir (gradyan inişi; bu projede AdamW).

Aşağıdaki `walkthrough`, küçük bir GPT'nin ileri ve geri geçişini katman fonksiyonlarını
tek tek çağırarak yapar ve sonucun `GPT.forward` / `GPT.backward` ile aynı olduğunu
denetler: model, bu bölümde anlatılan katmanların zincirinden başka bir şey değildir.
"""
from __future__ import annotations

import math

import numpy as np

from ..layers import (block_backward, block_forward, cross_entropy_backward,
                      cross_entropy_forward, embedding_backward, embedding_forward,
                      layernorm_backward, layernorm_forward, learned_positional_backward,
                      learned_positional_forward, linear_backward, linear_forward,
                      sinusoidal_table)
from ..models.gpt import GPT, GPTConfig
from . import tr_number
from .primer import stable_softmax


# ## Sinüzoidal kodlama, formülün kendisiyle
# Formül doğrudan, döngüsüz yazılır: `pos` bir sütun, `2i` bir satır vektörüdür ve
# yayınlama ile `(n, C/2)` boyutlu açı tablosu oluşur. Sonuç, modelin kullandığı
# `layers.positional.sinusoidal_table` ile karşılaştırılır.

def sinusoidal_reference(n_positions: int, C: int) -> np.ndarray:
    pos = np.arange(n_positions)[:, None]                       # (n, 1)
    two_i = np.arange(0, C, 2)[None, :]                         # (1, C/2)
    angle = pos / np.power(10000.0, two_i / C)                  # (n, C/2)
    pe = np.zeros((n_positions, C))
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle)
    return pe


# ## Maskesiz dikkat sıraya duyarsızdır
# Konum bilgisi olmadan maskesiz öz-dikkat, girdinin sırasını karıştırınca çıktıyı da
# aynı şekilde karıştırır (permütasyona göre eşdeğişkindir, equivariant). Yani her vektör,
# "kaçıncı sırada" olduğunu bilmeden işlenir; konum kodlaması bu yüzden gereklidir.

def unmasked_attention(x, wq, wk, wv):
    q, k, v = x @ wq, x @ wk, x @ wv                            # (T, hs)
    return stable_softmax(q @ k.T / math.sqrt(q.shape[-1])) @ v  # (T, hs)


def permutation_demo(seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    T, C = 6, 8
    x = rng.standard_normal((T, C))
    wq, wk, wv = (rng.standard_normal((C, C)) for _ in range(3))
    perm = rng.permutation(T)
    y = unmasked_attention(x, wq, wk, wv)
    y_perm = unmasked_attention(x[perm], wq, wk, wv)
    return float(np.abs(y_perm - y[perm]).max())               # ≈ 0


# ## Nedensellik denetimi
# İki dizi yalnızca son belirteçte farklı olsun. Nedensel maske doğru çalışıyorsa ilk
# `T − 1` konumun logitleri iki dizide de aynı çıkar; yalnızca son konumunki değişir.

def causality_demo(seed: int = 0) -> tuple[float, float]:
    cfg = GPTConfig(vocab_size=20, block_size=16, n_layer=2, n_head=2, n_embd=16)
    model = GPT(cfg, seed=seed, dtype="float64").eval()
    a = np.array([[3, 1, 4, 1, 5, 9, 2, 6]])
    b = a.copy()
    b[0, -1] = 7
    la, _ = model.forward(a)
    lb, _ = model.forward(b)
    before = float(np.abs(la[:, :-1] - lb[:, :-1]).max())      # önceki konumlar: 0
    last = float(np.abs(la[:, -1] - lb[:, -1]).max())          # son konum: değişir
    return before, last


# ## Katmanları elle zincirlemek
# Küçük bir GPT kurulur ve parametreleri alınır. İleri geçiş, GPT bölümündeki formülün
# satır satır karşılığıdır:
#
#     x = wte[idx] + wpe[0:T];  x = blok_l(x);  x = LN_f(x);  logits = x · wteᵀ
#
# Geri geçiş aynı adımları tersten yürür. `wte` iki yerde (gömme ve çıkış) kullanıldığı
# için gradyanı iki katkının toplamıdır.

def walkthrough(seed: int = 0) -> dict:
    cfg = GPTConfig(vocab_size=17, block_size=8, n_layer=2, n_head=2, n_embd=12)
    model = GPT(cfg, seed=seed, dtype="float64")
    model.flat += np.random.default_rng(seed).standard_normal(model.flat.size) * 0.1
    p = model.params
    rng = np.random.default_rng(seed + 1)
    idx = rng.integers(0, cfg.vocab_size, size=(2, 8))
    targets = rng.integers(0, cfg.vocab_size, size=(2, 8))
    blocks = [{k[len(f"h.{i}."):]: v for k, v in p.items() if k.startswith(f"h.{i}.")}
              for i in range(cfg.n_layer)]

    # İleri geçiş: gömme, konum, bloklar, son normalizasyon, çıkış, kayıp
    x, c_emb = embedding_forward(idx, p["wte.weight"])                     # (B, T, C)
    x, c_pos = learned_positional_forward(x, p["wpe.weight"])
    caches = []
    for bp in blocks:
        x, c = block_forward(x, bp, cfg.n_head, cfg.activation)
        caches.append(c)
    x, c_lnf = layernorm_forward(x, p["ln_f.weight"], p["ln_f.bias"])
    logits, c_head = linear_forward(x, p["wte.weight"].T)                  # (B, T, V)
    loss, c_ce = cross_entropy_forward(logits, targets)

    # Geri geçiş: aynı adımlar, tersten
    g = {}
    # İleri geçişte: `kayıp = CE(logits, hedefler)` → `dlogits = (softmax − onehot) / (B·T)`
    dlogits = cross_entropy_backward(1.0, c_ce)                            # (B, T, V)
    # İleri geçişte: `logits = x · wteᵀ` → `dx = dlogits · wte`, `d(wteᵀ) = xᵀ · dlogits`
    dx, dhead, _ = linear_backward(dlogits, c_head)                        # dhead: (C, V)
    # İleri geçişte: `x = LN_f(x)` → dx ile kazanç ve sapmanın gradyanları
    dx, g["ln_f.weight"], g["ln_f.bias"] = layernorm_backward(dx, c_lnf)
    # İleri geçişte: `x = blok_l(x)`, l = 0 … L−1 → bloklar sondan başa
    for i in reversed(range(cfg.n_layer)):
        dx, gb = block_backward(dx, caches[i])
        g.update({f"h.{i}.{k}": v for k, v in gb.items()})
    # İleri geçişte: `x = x + wpe[0:T]` → dx aynen geçer, `dwpe[t] = Σ_b dx[b, t]`
    dx, g["wpe.weight"] = learned_positional_backward(dx, c_pos)
    # İleri geçişte: `x = wte[idx]` → `dwte[idx[b,t]] += dx[b,t]`; wte çıkışta da kullanıldığı
    # için oradan gelen katkı eklenir: `dhead.T`, (C, V) -> (V, C)
    g["wte.weight"] = embedding_backward(dx, c_emb) + dhead.T              # (V, C), iki katkı

    # Aynı şeyi modelin kendisine yaptır ve karşılaştır
    logits_m, loss_m = model.forward(idx, targets)
    grads_m = model.backward()
    return {
        "loss": float(loss),
        "logits_diff": float(np.abs(logits - logits_m).max()),
        "loss_diff": abs(float(loss) - float(loss_m)),
        "grad_diff": max(float(np.abs(g[k] - grads_m[k]).max()) for k in grads_m),
        "same_keys": set(g) == set(grads_m),
    }


def demo() -> None:
    pe_diff = float(np.abs(sinusoidal_reference(50, 16) -
                           sinusoidal_table(50, 16, np, np.float64)).max())
    print(f"sinüzoidal formül ile modelin tablosu arasındaki fark: {pe_diff:.0e}")
    assert pe_diff < 1e-12
    perm = permutation_demo()
    print(f"maskesiz dikkat, karıştırılmış girdi: çıktılar arasındaki fark {perm:.0e}")
    assert perm < 1e-10
    before, last = causality_demo()
    print(f"son belirteç değişince: önceki konumlarda fark {before:.0e}, "
          f"son konumda {tr_number(last, 3)}")
    assert before < 1e-12 and last > 1e-6
    w = walkthrough()
    print(f"elle zincirlenen katmanlar ile GPT: logit farkı {w['logits_diff']:.0e}, "
          f"gradyan farkı {w['grad_diff']:.0e}")
    assert w["same_keys"] and w["logits_diff"] < 1e-12 and w["grad_diff"] < 1e-12


__all__ = ["sinusoidal_reference", "permutation_demo", "causality_demo", "walkthrough", "demo"]
