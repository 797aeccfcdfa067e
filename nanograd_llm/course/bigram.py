"""
# Bigram modeli: saymaktan öğrenmeye

Video dersindeki ilk dil modeli **karakter düzeyindedir**: metin sözcüklere değil karakterlere
bölünür, sözlük metinde geçen farklı karakterlerden oluşur ve model her adımda bir sonraki
**karakteri** tahmin eder. Bigram modeli bunun en basit hâlidir: bir sonraki karakteri
yalnızca şimdiki karaktere bakarak tahmin eder.

Bu bölüm aynı modeli iki yoldan kurar ve ikisinin aynı yere vardığını gösterir:

1. **Saymak:** metindeki her ardışık karakter çiftini `(a, b)` sayıp bir `V × V` tablo
   doldurmak, sonra her satırı olasılığa çevirmek.
2. **Öğrenmek:** bir `V × V` logit tablosunu rastgele başlatıp çapraz entropi kaybını
   gradyan inişiyle küçültmek. Modelin kodu `models/bigram.py` bölümündedir.

## Sayım modeli

    N[a, b] = metinde a'dan hemen sonra b gelme sayısı
    P[a, b] = (N[a, b] + 1) / Σ_c (N[a, c] + 1)

`+1` (Laplace düzeltmesi), metinde hiç görülmemiş bir çiftin olasılığının sıfır, kaybının
sonsuz olmasını önler.

## Kayıp: ortalama negatif log-olabilirlik
Bir modelin metne ne kadar uyduğu, metindeki her gerçek çiftin olasılığının logaritmasıyla
ölçülür. Olasılıklar 1'den küçük olduğu için logaritmaları negatiftir; işaret çevrilir ve
ortalama alınır:

    kayıp = −(1/M) Σ_{n=1..M} log P[x_n, y_n]

Burada `x_n` girdi, `y_n` ondan sonra gelen hedef karakter, `M` çift sayısıdır. Rastgele
tahmin eden (her karaktere `1/V` veren) bir modelin kaybı `ln V`'dir; mükemmel bir modelin
kaybı 0'dır. Düzeltmesiz sayım modeli bu kaybı **en küçük** yapan tablodur (en büyük
olabilirlik kestirimi).

## Aynı şey, bir sinir ağı olarak
Sinir ağı olasılıkları doğrudan tutmaz; bir **logit** tablosu `Z` (V × V) tutar ve
olasılıkları softmax ile üretir:

    p_n = softmax(Z[x_n])                (x_n satırı)
    kayıp = −(1/M) Σ_n log p_n[y_n]      (çapraz entropi)

## Elle türetilmiş gradyan
Softmax ile çapraz entropinin birlikte türevi basittir (türetimi
`layers/cross_entropy.py` bölümündedir):

    ∂kayıp/∂Z[x_n] = (p_n − onehot(y_n)) / M

Aynı `a` karakteri birçok konumda girdi olduğundan bu katkılar `a` satırında toplanır:

    dZ[a] = (n_a / M) · ( softmax(Z[a]) − N[a] / n_a ),    n_a = Σ_b N[a, b]

Yani gradyan, bir satırın softmax'ı o satırın **gözlenen dağılımına** (`N[a] / n_a`)
eşit olduğunda sıfırdır. Gradyan inişi, logit tablosunu sayımların logaritmasına (satır
başına bir sabit farkla) yaklaştırır: iki yol aynı modele varır.

## Örnekleme
Eğitilmiş modelle metin üretmek için bir başlangıç karakterinden başlanır; her adımda son
karakterin satırından olasılıklar hesaplanır ve bir sonraki karakter bu olasılıklara göre
**rastgele çekilir** (video dersindeki `torch.multinomial`). Her zaman en olası karakteri seçmek
modeli hep aynı döngüye sokardı. Model yalnızca son karaktere baktığı için üretilen metin
heceleri andırır ama anlamsızdır; bağlamı kullanmak için dikkat mekanizması gerekir.

Bu bölümün kodu küçük bir Türkçe metin üzerinde çalışır:
`python -c "from nanograd_llm.course.bigram import demo; demo()"`.
"""
from __future__ import annotations

import numpy as np

from ..layers.cross_entropy import cross_entropy_forward
from ..models.bigram import BigramLM
from . import tr_number

# Küçük bir örnek metin. Gerçek eğitim için `nanograd-llm train` büyük bir metin kullanır.
DEMO_TEXT = (
    "bir varmış bir yokmuş, evvel zaman içinde, kalbur saman içinde, bir köyde yaşlı bir "
    "değirmenci yaşarmış. değirmenci her sabah erkenden kalkar, değirmenin taşını "
    "döndürür, köylülerin buğdayını un yaparmış. bir gün köye uzak diyarlardan bir "
    "yolcu gelmiş. yolcu değirmenciye sormuş: bu taş kaç yıldır dönüyor? değirmenci "
    "gülmüş: ben doğmadan önce de dönüyordu, ben öldükten sonra da dönecek. "
)


# ## Sözlük: karakterden sayıya
# Video dersindeki gibi sözlük, metindeki farklı karakterlerin sıralanmış listesidir.
# `stoi` (string to integer) karakteri kimliğine, `itos` kimliği karaktere çevirir.

def build_vocab(text: str) -> tuple[list[str], dict]:
    """Sorted distinct characters of `text` and the char -> id mapping."""
    chars = sorted(set(text))
    return chars, {c: i for i, c in enumerate(chars)}


def encode(text: str, stoi: dict) -> np.ndarray:
    return np.array([stoi[c] for c in text], dtype=np.int64)


# ## Sayım tablosu
# Bütün ardışık çiftler `(ids[:-1], ids[1:])` tek seferde sayılır. `N[x, y] += 1`
# yazmak tekrarlanan çiftleri bir kez sayardı; `np.add.at` her birini ayrı ayrı ekler
# (bkz. ön bilgi bölümü, 4. kısım).

def count_bigrams(ids: np.ndarray, V: int) -> np.ndarray:
    """N (V, V): N[a, b] = how often b follows a."""
    N = np.zeros((V, V), dtype=np.int64)
    np.add.at(N, (ids[:-1], ids[1:]), 1)
    return N


def count_model_probs(N: np.ndarray, smoothing: float = 1.0) -> np.ndarray:
    """P[a, b] = (N[a, b] + smoothing) / row sum."""
    P = N.astype(np.float64) + smoothing
    return P / P.sum(axis=1, keepdims=True)


def nll(P: np.ndarray, ids: np.ndarray) -> float:
    """Mean negative log-likelihood of the text's bigrams under the probability table P."""
    return float(-np.log(P[ids[:-1], ids[1:]]).mean())


# ## Elle yazılmış gradyan
# Yukarıda türetilen formülün doğrudan karşılığı: olasılıklardan gözlenen dağılımı
# çıkarıp her satırı `n_a / M` ile ağırlıklandırmak. Bu fonksiyon `BigramLM.backward`
# ile karşılaştırılır; iki bağımsız yazım aynı sonucu vermelidir.

def bigram_gradient(Z: np.ndarray, N: np.ndarray) -> np.ndarray:
    """dLoss/dZ for the bigram logit table Z given the bigram counts N."""
    M = N.sum()
    n_a = N.sum(axis=1, keepdims=True)                          # (V, 1) satır sayımları
    e = np.exp(Z - Z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)                        # (V, V) softmax
    observed = np.divide(N, n_a, out=np.zeros_like(p), where=n_a > 0)
    return (n_a / M) * (p - observed) * (n_a > 0)


# ## Gradyan inişiyle eğitim
# Bütün metin tek bir toplu iş olarak verilir: `idx` girdiler, `targets` bir sağa kaymış
# hedeflerdir. Her adımda ileri geçiş kaybı, geri geçiş gradyanı verir; parametreler
# gradyanın tersi yönünde bir adım atar: `θ ← θ − η · ∇_θ kayıp`. Modelin bütün parametreleri
# tek bir düz dizide (`model.flat`) durduğundan güncelleme tek satırdır.

def train_bigram(ids: np.ndarray, V: int, steps: int = 300, lr: float = 20.0,
                 seed: int = 0) -> tuple[BigramLM, list[float]]:
    """Plain full-batch gradient descent on BigramLM; returns (model, losses)."""
    model = BigramLM(V, seed=seed, dtype="float64")
    idx, targets = ids[None, :-1], ids[None, 1:]
    losses = []
    for _ in range(steps):
        _, loss = model.forward(idx, targets)
        model.backward()
        model.flat -= lr * model.grad_flat
        losses.append(float(loss))
    return model, losses


# ## Örnekleme
# Son karakterin satırından olasılıklar hesaplanır, bir sonraki karakter bu olasılıklara
# göre çekilir ve dizinin sonuna eklenir.

def sample(P: np.ndarray, start: int, n: int, seed: int = 0) -> list[int]:
    rng = np.random.default_rng(seed)
    out = [start]
    for _ in range(n):
        out.append(int(rng.choice(P.shape[1], p=P[out[-1]])))
    return out


# ## Hepsi bir arada
# `demo` bölümde anlatılan her iddiayı sırayla denetler ve sonuçları yazdırır.

def demo(text: str = DEMO_TEXT, steps: int = 300) -> dict:
    chars, stoi = build_vocab(text)
    V = len(chars)
    ids = encode(text, stoi)
    print(f"metin: {tr_number(len(text))} karakter, sözlük: {V} karakter")
    # Sayım modeli ve rastgele tahminin kaybı
    N = count_bigrams(ids, V)
    # Düzeltme neredeyse sıfır: en büyük olabilirlik kestirimi, kaybın alt sınırı
    P = count_model_probs(N, smoothing=1e-12)
    loss_counts = nll(P, ids)
    print(f"rastgele tahmin (ln V): {tr_number(np.log(V), 3)}   "
          f"sayım modeli: {tr_number(loss_counts, 3)}")
    # Elle yazılmış gradyan = BigramLM.backward
    model = BigramLM(V, seed=1, dtype="float64")
    _, loss = model.forward(ids[None, :-1], ids[None, 1:])
    g_model = model.backward()["token_embedding.weight"]
    g_manual = bigram_gradient(np.asarray(model.params["token_embedding.weight"]), N)
    diff = float(np.abs(g_model - g_manual).max())
    print(f"elle türetilen gradyan ile BigramLM.backward farkı: {diff:.0e}")
    assert diff < 1e-12
    # Gradyan inişi sayım modelinin kaybına yaklaşır
    model, losses = train_bigram(ids, V, steps=steps)
    print(f"gradyan inişi: kayıp {tr_number(losses[0], 3)} → {tr_number(losses[-1], 3)} "
          f"({steps} adım)")
    assert losses[-1] < losses[0] and losses[-1] - loss_counts < 0.25
    # Öğrenilen tablonun kaybı (yukarıdaki sayım modelinin kaybıyla karşılaştırmak için)
    Z = np.asarray(model.params["token_embedding.weight"])
    learned_loss, _ = cross_entropy_forward(Z[ids[None, :-1]], ids[None, 1:])
    print(f"öğrenilen tablonun kaybı: {tr_number(float(learned_loss), 3)}")
    # Örnekleme: eğitilmiş ağın olasılıklarından
    e = np.exp(Z - Z.max(axis=1, keepdims=True))
    P_learned = e / e.sum(axis=1, keepdims=True)
    # Metnin ilk karakteriyle başla (varsayılan metinde "b"; her metinde sözlüktedir)
    generated = "".join(chars[i] for i in sample(P_learned, int(ids[0]), 60))
    print(f"örnek: {generated!r}")
    return {"V": V, "loss_counts": loss_counts, "losses": losses, "sample": generated}


__all__ = ["DEMO_TEXT", "build_vocab", "encode", "count_bigrams", "count_model_probs", "nll",
           "bigram_gradient", "train_bigram", "sample", "demo"]
