"""
# GPT: belirteçlerden metin üretimine

GPT (Generative Pre-trained Transformer), önceki bölümde anlatılan kod çözücü bloklarının
üst üste dizilmesinden oluşan bir dil modelidir. Bu bölüm, katmanları bir araya getirip
eğitilebilir ve metin üretebilir bir model yapan parçaları anlatır. Modelin kodu
`models/gpt.py` bölümündedir.

## 1. Belirteçleme (tokenization)
Model sayılarla çalışır; metni sayılara çeviren parçaya **belirteçleyici** (tokenizer)
denir. İki uç vardır:

* **Karakter düzeyi** (video dersindeki model ve bu projenin varsayılanı): her karakter bir
  belirteçtir. Sözlük küçüktür (Shakespeare metninde 65 karakter), ama diziler uzundur:
  bağlam penceresine az metin sığar.
* **Alt sözcük düzeyi, BPE** (GPT-2): metinde en sık yan yana gelen belirteç çifti
  (başlangıçta tek tek baytlar) yeni bir belirteçte birleştirilir ve bu adım, sözlük
  istenen boyuta ulaşana kadar tekrarlanır. GPT-2'nin sözlüğünde 50 257 belirteç vardır; sık
  sözcükler tek belirteçtir, nadir sözcükler birkaç parçaya bölünür. Aynı bağlam penceresine
  çok daha fazla metin sığar.

Türkçe gibi eklemeli dillerde bir sözcüğün çok sayıda biçimi olduğundan, İngilizce
metinle eğitilmiş bir BPE sözlüğü Türkçe sözcükleri birçok küçük parçaya böler.

## 2. Yığın ve boyutlar
    x      = wte[idx] + wpe[0:T]
    x      = blok_l(x)           l = 0 … L−1   (her biri: x + MHA(LN₁ x), sonra + MLP(LN₂ x))
    logits = LN_f(x) · wteᵀ

Bir bloktaki parametreler: birleşik `q, k, v` izdüşümü `3C² + 3C`, çıkış izdüşümü
`C² + C`, ileri besleme ağı `8C² + 5C`, iki katman normalizasyonu `4C`. Toplam
`12C² + 13C`, yani büyük modellerde yaklaşık `12·L·C²`:

| model | L (blok) | C | kafa | parametre |
|---|---|---|---|---|
| `nanograd-llm train` (`default` hazır ayarı, gömülü derlem: V = 188) | 3 | 96 | 4 | yaklaşık 0,36 milyon |
| `baby` hazır ayarı ve `GPTConfig()` (V = 65) | 4 | 128 | 4 | yaklaşık 0,8 milyon |
| GPT-2 small | 12 | 768 | 12 | 124 milyon |
| GPT-3 | 96 | 12 288 | 96 | 175 milyar |

`count_params` fonksiyonu bu formülü yazar ve `GPT.num_params()` ile karşılaştırılır.

## 3. Ağırlık bağlama (weight tying)
Gömme tablosu `wte` (V × C), "belirteç → vektör" dönüşümünü yapar. Çıkış katmanı ise
"vektör → her belirtecin logiti" dönüşümünü yapar ve yine V × C boyutunda bir matris ister.
GPT-2 ikisi için **aynı matrisi** kullanır: `logits = x · wteᵀ`. Bir belirteci temsil eden
vektör ile o belirteci tahmin ederken kullanılan vektör aynı olur. GPT-2 small'da bu,
38,6 milyon parametre (50 257 × 768) tasarrufudur. Geri yayılımda `wte` iki yerde kullanıldığı
için gradyanı iki katkının toplamıdır.

## 4. Ön eğitim ve ince ayar
**Ön eğitim** (pre-training): model büyük, etiketsiz bir metin yığını üzerinde yalnızca bir
sonraki belirteci tahmin etmeyi öğrenir. Etiketleri metnin kendisi sağlar (öz denetimli
öğrenme). Dilin yapısı, sözcükler arası ilişkiler ve metinde geçen bilgiler bu aşamada
öğrenilir; hesaplamanın neredeyse tamamı buraya harcanır.

**İnce ayar** (fine-tuning): ön eğitilmiş ağırlıklardan başlanır ve eğitim, belirli bir
amaca uygun, çok daha küçük bir veri kümesiyle (ör. soru-cevap çiftleri, belirli bir
yazarın metinleri) genellikle daha küçük bir öğrenme oranıyla sürdürülür. Modelin mimarisi
değişmez; yalnızca ağırlıklar yeni veriye uyarlanır. Bu projede GPT-2'nin yayımlanmış
ağırlıkları `GPT.from_hf` ile yüklenip aynı eğitim koduyla eğitilmeye devam edilebilir.

## 5. Otoregresif üretim ve KV önbelleği
Üretim bir döngüdür: bağlam modelden geçirilir, **son konumun** logitleri sıcaklığa
(temperature) bölünür, softmax ile olasılığa çevrilir, bir belirteç çekilir ve bağlamın
sonuna eklenir. Sıcaklık 1'den küçükse dağılım sivrileşir (daha tutarlı, daha tekdüze
metin), büyükse düzleşir (daha çeşitli, daha çok hata). Bağlam `block_size`'ı aşınca en
eski belirteçler düşürülür.

Önbelleksiz üretimde her adım bütün bağlamı yeniden hesaplar. Oysa nedensel maske
yüzünden eski konumların anahtar ve değer vektörleri sonradan gelen belirteçlerle
değişmez; **KV önbelleği** bunları saklar ve her adımda modelden yalnızca yeni belirteç
geçer (bkz. `layers/kv_cache.py`). `generate_greedy` her iki yolu da yazar; aynı
belirteçleri ürettikleri denetlenir. Bu kısa sürümde önbellekli yol, önbellek `block_size`
konuma dolunca durur (önbelleksiz yol pencereyi kaydırarak sürer); iki yol bu sınıra kadar
karşılaştırılır. Paketin `generate.py`'si pencere kayınca önbelleği yeniden kurar.

## 6. Eniyileyici: AdamW, ısınma ve kosinüs azalması
Düz gradyan inişi her parametreyi aynı oranla günceller. **Adam**, her parametre için
gradyanın hareketli ortalamasını (`m`, birinci moment) ve karesinin hareketli ortalamasını
(`v`, ikinci moment) tutar; adımı `m / √v` ile atar, böylece gradyanı sürekli küçük olan
parametreler de anlamlı adımlar atar. `t`. adımda, `g` gradyan olmak üzere:

    m ← β₁·m + (1 − β₁)·g
    v ← β₂·v + (1 − β₂)·g²
    m̂ = m / (1 − β₁ᵗ),   v̂ = v / (1 − β₂ᵗ)        (yanlılık düzeltmesi, bias correction:
                                                  m ve v sıfırdan başlar)
    θ ← θ − η·( m̂ / (√v̂ + ε) + λ·θ )

**AdamW**'deki "W", ağırlık azaltma teriminin (`λ·θ`, weight decay) gradyana eklenmek yerine
güncellemeye ayrıca eklenmesidir (decoupled weight decay). Azaltma yalnızca matrislere
uygulanır; sapmalar ve katman normalizasyonu kazançları azaltılmaz. Bu projede matrisler
düz parametre dizisinin başında durduğundan, azaltma tek bir dilime
(`flat[:n_decay]`) uygulanır.

**Öğrenme oranı takvimi:** eğitimin başında `m` ve `v` henüz güvenilir değildir ve
büyük adımlar ağı bozabilir; bu yüzden öğrenme oranı ilk `warmup` adımda `η_max/warmup`'tan
`η_max`'a doğrusal olarak **ısıtılır**. Sonra kosinüs eğrisiyle `η_min`'e iner:

    η(t) = η_max · (t + 1) / warmup                                    t < warmup
    η(t) = η_min + ½·(η_max − η_min)·(1 + cos(π·(t − warmup)/(toplam − warmup)))   sonra

Bu bölümdeki `AdamW` ve `lr_at`, formüllerin kısa ve çalışan karşılıklarıdır; eğitim
komutu `nanograd_llm/optim.py` içindeki eksiksiz sürümleri kullanır. Oradaki takvim
(`get_lr`, nanoGPT'ninki gibi) ısınmada `(t + 1)/(warmup + 1)` oranını kullanır; fark yalnızca
ısınma adımlarındadır.

## 7. Kayıp eğrisini okumak
![Kayıp eğrisi](img/loss_curve.png)

* **Başlangıç:** ilk kayıp `ln V` civarında olmalıdır (65 karakterlik sözlükte ≈ 4,17;
  `nanograd-llm train` komutunun 188 karakterlik sözlüğünde ≈ 5,24, `metrics.jsonl`
  dosyasının ilk satırındaki gibi).
  Çok daha büyükse ilklendirme bozuktur: model henüz hiçbir şey öğrenmeden bazı
  belirteçlere yüksek olasılık veriyordur ve yanlış çıkan her tahmin kaybı büyütür.
* **İlk hızlı düşüş:** model önce hangi belirteçlerin sık geçtiğini, sonra ikili ilişkileri
  (bigram) öğrenir; kayıp hızla düşer. Sonraki kazanımlar, uzun bağlamı kullanmayı
  gerektirdiği için yavaştır.
* **Eğitim ve doğrulama arasındaki fark:** eğitim kaybı düşmeye devam ederken doğrulama
  kaybı yerinde sayıyor ya da yükseliyorsa model eğitim metnini **ezberliyordur**
  (aşırı öğrenme). Çareler: daha çok veri, dropout, daha küçük model ya da en iyi doğrulama
  kaybındaki ağırlıkları saklayıp orada durmak. Belgeler bir eğitim klasörü verilmeden
  üretildiyse yukarıdaki eğri, bin karakterlik bir metinle yapılan birkaç saniyelik bir
  deneme eğitiminden gelir: eğitim kaybı düşmeyi sürdürürken doğrulama kaybının yataya
  dönmesi ve aradaki farkın açılması, ezberlemenin başladığını gösterir.
* **Ani sıçramalar:** öğrenme oranı çok büyük ya da ısınma çok kısadır.
* **Hiç düşmeyen kayıp:** öğrenme oranı çok küçüktür ya da geri yayılımda bir hata vardır;
  gradyan denetimi (`nanograd-llm gradcheck`) ikincisini ayırt eder.
* **Gürültü:** her adımın kaybı rastgele bir toplu işten gelir; küçük toplu işlerde eğri
  titrektir. Eğilimi görmek için hareketli ortalamaya bakılır.

## 8. Dikkat haritaları
![Dikkat haritaları](img/attention.png)

Her küçük kare bir katmanın bir kafasıdır. Satır `i`, `i` konumundaki belirtecin hangi
önceki belirteçlere ne oranda baktığını gösterir; köşegenin üstü, nedensel maske yüzünden
her zaman sıfırdır. Eğitilmiş modellerde sık görülen örüntüler: bir önceki karaktere
bakan kafalar (ana köşegenin hemen altındaki çizgi) ve sözcüğün başına ya da boşluklara
bakan kafalar. Eğitilmemiş bir modelde ise ağırlıklar görülebilen konumlara neredeyse
eşit dağılır. Kendi
eğittiğiniz model için: `nanograd-llm attention --ckpt KLASÖR --prompt "metin" --out a.png`.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_text
from ..models.gpt import GPT, GPTConfig
from . import tr_number
from .bigram import DEMO_TEXT as _BIGRAM_TEXT


# ## Parametre sayısı
# Yukarıdaki tablonun formülü. Sapmalı (bias), öğrenilen konum gömmeli ve ağırlıkları
# bağlı bir GPT için: gömme `V·C`, konum `block_size·C`, her blok `12C² + 13C`, son
# normalizasyon `2C`.

def count_params(cfg: GPTConfig) -> int:
    C, L = cfg.n_embd, cfg.n_layer
    per_block = 12 * C * C + 13 * C
    total = cfg.vocab_size * C + L * per_block + 2 * C
    if cfg.positional == "learned":
        total += cfg.block_size * C
    if not cfg.tie_weights:
        total += cfg.vocab_size * C
    return total


# ## Karakter sözlüğü
# Video dersindeki `stoi` / `itos` sözlüklerinin küçük bir sınıf hâli. Projenin asıl karakter
# belirteçleyicisi `nanograd_llm/tokenizers/char.py` içindedir; bu bölümün deneme eğitimi
# bağımsız kalsın diye burada ayrıca yazılmıştır.

class CharVocab:
    def __init__(self, text: str):
        self.chars = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.chars)}

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        missing = sorted(set(text) - set(self.stoi))
        if missing:
            raise ValueError(f"characters not in the vocabulary: {''.join(missing)!r}")
        return [self.stoi[c] for c in text]

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


# ## Otoregresif üretim: önbelleksiz ve önbellekli
# En olası belirteci seçen (açgözlü, greedy) üretim, iki yolun karşılaştırılması için
# rastgelelikten arınmış bir ölçüttür. Önbelleksiz yolda her adımda bütün bağlam modelden
# geçer; önbellekli yolda önce istem (prompt) bir kez işlenir, sonra her adımda yalnızca
# son üretilen belirteç verilir.

def generate_greedy(model: GPT, ids, n_new: int, use_cache: bool) -> list[int]:
    model.eval()
    out = list(ids)
    if not use_cache:
        for _ in range(n_new):
            ctx = np.array([out[-model.block_size:]])
            logits, _ = model.forward(ctx)
            out.append(int(np.argmax(logits[0, -1])))
        return out
    cache = model.new_kv_cache(batch=1)
    logits, _ = model.forward(np.array([out]), kv_cache=cache)           # istem bir kez
    for _ in range(n_new):
        out.append(int(np.argmax(logits[0, -1])))
        if cache.length >= model.block_size:
            break
        logits, _ = model.forward(np.array([[out[-1]]]), kv_cache=cache)  # tek konum
    return out


# ## AdamW, formüllerin satır satır karşılığı
# Moment dizileri parametrelerle aynı düz düzende tutulur; bu yüzden bütün model tek
# seferde, birkaç dizi işlemiyle güncellenir. Ağırlık azaltma yalnızca matrislerin
# bulunduğu `flat[:n_decay]` dilimine uygulanır.

class AdamW:
    def __init__(self, model, lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1):
        self.model, self.lr, self.eps, self.wd = model, lr, eps, weight_decay
        self.b1, self.b2 = betas
        self.m = model.xp.zeros_like(model.flat)
        self.v = model.xp.zeros_like(model.flat)
        self.t = 0

    def step(self, lr=None) -> None:
        lr = self.lr if lr is None else lr
        theta, g, nd = self.model.flat, self.model.grad_flat, self.model.n_decay
        self.t += 1
        # m ← β₁·m + (1 − β₁)·g ;  v ← β₂·v + (1 − β₂)·g²
        self.m *= self.b1
        self.m += (1 - self.b1) * g
        self.v *= self.b2
        self.v += (1 - self.b2) * g * g
        # yanlılık düzeltmesi (bias correction)
        m_hat = self.m / (1 - self.b1 ** self.t)
        v_hat = self.v / (1 - self.b2 ** self.t)
        # ağırlık azaltma (yalnızca matrisler), sonra Adam adımı
        theta[:nd] -= lr * self.wd * theta[:nd]
        theta -= lr * m_hat / (self.model.xp.sqrt(v_hat) + self.eps)


# ## Isınma + kosinüs takvimi

def lr_at(step: int, max_lr: float, warmup: int, total: int, min_lr: float = 0.0) -> float:
    if step < warmup:
        return max_lr * (step + 1) / warmup
    if step >= total:
        return min_lr
    progress = (step - warmup) / max(1, total - warmup)
    return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.cos(math.pi * progress))


# ## Kurs içi deneme eğitimi
# Belgeler üretilirken kayıp eğrisi ve dikkat haritaları bu küçük eğitimden çizilir
# (bir eğitim klasörü verilmemişse). Metin kısadır ve model küçüktür; eğitim birkaç saniye
# sürer. Her `eval_every` adımda doğrulama kaybı ölçülür ve her adım `metrics.jsonl`
# dosyasına bir satır olarak yazılır.

DEMO_TEXT = _BIGRAM_TEXT + (
    "yolcu bu cevabı çok beğenmiş ve bir süre değirmenin yanında oturup taşın dönüşünü "
    "seyretmiş. sonra kalkmış, değirmenciye teşekkür etmiş, yoluna devam etmiş. aradan "
    "yıllar geçmiş, değirmenci yaşlanmış, oğlu değirmenin başına geçmiş. oğul da her sabah "
    "erkenden kalkar, taşı döndürür, köylülerin buğdayını un yaparmış. bir gün köye yine "
    "uzak diyarlardan bir yolcu gelmiş ve aynı soruyu sormuş. oğul babasının cevabını "
    "hatırlamış ve gülümsemiş: bu taş ben doğmadan önce de dönüyordu, ben gittikten sonra "
    "da dönecek. yolcu başını sallamış, suyundan içmiş, ekmeğinden yemiş ve yoluna devam "
    "etmiş. değirmen bugün de döner, köyün ekmeği bugün de o taştan çıkar. "
)
DEMO_PROMPT = "değirmenci her sabah"


def train_demo(metrics_path, steps: int = 200, seed: int = 0, eval_every: int = 20):
    """Train a tiny GPT on DEMO_TEXT; write metrics.jsonl; return (model, vocab)."""
    vocab = CharVocab(DEMO_TEXT)
    data = np.array(vocab.encode(DEMO_TEXT), dtype=np.int64)
    n_train = int(0.85 * len(data))
    train, val = data[:n_train], data[n_train:]
    cfg = GPTConfig(vocab_size=vocab.vocab_size, block_size=32, n_layer=2, n_head=4,
                    n_embd=32)
    model = GPT(cfg, seed=seed)
    opt = AdamW(model, weight_decay=0.1)
    rng = np.random.default_rng(seed)
    B, T = 8, cfg.block_size

    def batch(split):
        starts = rng.integers(0, len(split) - T - 1, size=B)
        x = np.stack([split[s:s + T] for s in starts])
        y = np.stack([split[s + 1:s + T + 1] for s in starts])
        return x, y

    def val_loss():
        model.eval()
        starts = np.arange(0, len(val) - T - 1, T // 2)
        x = np.stack([val[s:s + T] for s in starts])
        y = np.stack([val[s + 1:s + T + 1] for s in starts])
        _, loss = model.forward(x, y)
        model.train()
        return float(loss)

    records = []
    for step in range(steps + 1):
        rec = {"step": step}
        if step % eval_every == 0:
            rec["val_loss"] = val_loss()
        if step < steps:
            x, y = batch(train)
            _, loss = model.forward(x, y)
            model.backward()
            lr = lr_at(step, 3e-3, warmup=20, total=steps, min_lr=3e-4)
            opt.step(lr)
            rec["train_loss"] = float(loss)
            rec["lr"] = lr
        records.append(rec)
    path = Path(metrics_path)
    atomic_write_text(path, "".join(json.dumps(rec) + "\n" for rec in records))
    model.eval()
    return model, vocab


def demo() -> None:
    for cfg in (GPTConfig(), GPTConfig(vocab_size=50257, block_size=1024, n_layer=12,
                                       n_head=12, n_embd=768)):
        n = count_params(cfg)
        print(f"L={cfg.n_layer}, C={cfg.n_embd}: {tr_number(n)} parametre")
        if cfg.n_layer == 4:
            assert n == GPT(cfg).num_params()
    gpt3 = count_params(GPTConfig(vocab_size=50257, block_size=2048, n_layer=96, n_head=96,
                                  n_embd=12288))
    print(f"GPT-3 boyutları: {tr_number(gpt3 / 1e9, 1)} milyar parametre")
    assert 170e9 < gpt3 < 180e9
    model = GPT(GPTConfig(vocab_size=30, block_size=24, n_layer=2, n_head=2, n_embd=16),
                seed=3)
    a = generate_greedy(model, [1, 2, 3], 12, use_cache=False)
    b = generate_greedy(model, [1, 2, 3], 12, use_cache=True)
    print(f"önbelleksiz ve önbellekli üretim aynı mı? {a == b}")
    assert a == b
    lrs = [round(lr_at(s, 1e-3, 10, 100), 5) for s in (0, 9, 10, 55, 99)]
    print("öğrenme oranı:", "; ".join(f"{lr:g}".replace(".", ",") for lr in lrs))


__all__ = ["count_params", "CharVocab", "generate_greedy", "AdamW", "lr_at", "DEMO_TEXT",
           "DEMO_PROMPT", "train_demo", "demo"]
