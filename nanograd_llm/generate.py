"""
# Metin üretimi: otoregresif örnekleme, sıcaklık, top-k, top-p ve KV önbelleği

## Otoregresif üretim
Dil modeli bir bağlam (belirteç dizisi) alır ve **her konum için** bir sonraki belirtecin
sözlük üzerindeki dağılımını verir (`logits`, şekil (B, T, V)). Üretimde yalnızca son
konumun dağılımı kullanılır:

    1. logits = model(bağlam)[:, -1, :]          son konumun puanları, (B, V)
    2. p = softmax(logits / sıcaklık)            olasılıklar
    3. yeni = p'den bir belirteç çek              (ya da en olası olanı al)
    4. bağlam = bağlam + [yeni]; 1'e dön

Model kendi ürettiği belirteci bir sonraki adımda girdi olarak görür; buna
**otoregresif** üretim denir. `max_new_tokens` adım sonra durulur.

## Sıcaklık (temperature)
Puanlar softmax'tan önce `τ` sıcaklığına bölünür: `p_i ∝ exp(z_i / τ)`.
* `τ = 1`: model dağılımı olduğu gibi kullanılır.
* `τ < 1`: büyük puanlar daha da öne çıkar, dağılım sivrileşir (daha tutarlı, daha az
  çeşitli metin).
* `τ > 1`: dağılım düzleşir (daha çeşitli ama daha çok hata).
* `τ = 0`: limit durumu; olasılığın tamamı en büyük puana gider. Bu **açgözlü** (greedy)
  çözümlemedir: her adımda `argmax` alınır, rastgelelik yoktur. Sıfıra bölünemeyeceği için
  bu durum ayrı ele alınır. Eşitlikte en küçük numaralı belirteç seçilir.

## Top-k
Yalnızca puanı en yüksek `k` belirteç aday kalır; diğerlerinin puanı `−∞` yapılır
(olasılıkları tam 0 olur), kalanlar yeniden normalize edilir. Modelin "uzun kuyruğundaki"
düşük olasılıklı ama toplamda hatırı sayılır kütleye sahip saçma belirteçleri keser.
`top_k = 1` açgözlü çözümlemeyle aynıdır. Eşit puanlarda küçük numaralı belirteç önce gelir,
böylece her zaman tam `k` aday kalır.

## Top-p (çekirdek / nucleus örneklemesi)
Sabit bir `k` yerine, olasılıklar büyükten küçüğe sıralanır ve toplam olasılığı ilk kez
`p`'ye ulaşan **en küçük** önek tutulur: bir belirteç, kendisinden önceki belirteçlerin toplam
olasılığı `p`'den küçükse aday kalır (en olası belirteç her zaman kalır). Model eminse çekirdek
tek bir belirteçtir, kararsızsa çok sayıda belirteç içerir; yani aday sayısı bağlama göre
kendiliğinden ayarlanır. `p = 1` filtre uygulamaz, çok küçük `p` açgözlü çözümlemeye döner.
Sıra: önce sıcaklık, sonra top-k, sonra top-p (Hugging Face ile aynı).

## Tekrarlanabilirlik
Çekilişler ana bellekteki (host) tek bir `numpy.random.Generator`'dan yapılır
(`np.random.default_rng(seed)`): aynı tohum, aynı model ve aynı ayarlar aynı metni verir.
Model GPU'da (CuPy) çalışsa da öyledir: her adımda yalnızca son konumun (B, V) puanları ana
belleğe kopyalanır ve örnekleme orada, float64 ile yapılır. (CPU ile GPU'nun puanları
yuvarlama düzeyinde farklı olabileceği için iki aygıtın metni birebir aynı olmayabilir.) Her
adımda her satır için tek bir düzgün sayı `u ∈ [0, 1)` çekilir ve birikimli olasılıkta `u`'yu
ilk aşan belirteç seçilir (ters dağılım fonksiyonu yöntemi).

## KV önbelleği ve neden tam (exact) olduğu
Önbelleksiz üretimde her adımda **bütün bağlam** yeniden modelden geçirilir: T uzunluğunda bir
bağlamda her adım O(T) konum için bütün doğrusal katmanları ve O(T²) dikkat işini yapar, ama
bunların yalnızca son konuma ait sonucu kullanılır.

Nedensel maske yüzünden `t` konumunun her katmandaki anahtar ve değer vektörleri (`k_t`,
`v_t`) yalnızca `0…t` konumlarındaki belirteçlere bağlıdır; sonradan eklenen belirteçler
onları **değiştiremez**. Katman normalizasyonu, MLP ve izdüşümler konum başına ayrı ayrı
çalışır; konum kodlaması da yalnızca mutlak konuma bağlıdır. Dolayısıyla eski konumların
`k, v` değerleri bir kez hesaplanıp saklanabilir (`layers/kv_cache.py`). Önbellekli adımda
modelden yalnızca **yeni belirtecin tek konumu** geçer: konumu `start = önbellek.uzunluğu`
olarak kodlanır, yeni `q, k, v` hesaplanır, `k, v` önbelleğe eklenir ve yeni sorgu
önbellekteki bütün anahtarlara bakar. Bu, tam bağlamı yeniden hesaplamakla **aynı
matematiktir**; yalnızca toplamaların sırası (kayan nokta yuvarlaması) değişebilir. Testler
float64'te puanların 1e-10 içinde eşit olduğunu ve açgözlü üretimin aynı belirteçleri verdiğini
denetler (`tests/test_generate.py`). Maliyet adım başına O(T) dikkat + tek konumluk doğrusal
katmanlar olur; uzun bağlamlarda hız farkı büyüktür (`benchmarks/kv_cache.py`).
Üretimde yalnızca son konumun puanları gerektiği için model `last_only=True` ile çağrılır:
çıkış katmanı (C × V'lik en büyük çarpım) yalnızca son konum için hesaplanır.

## block_size'ı aşınca: kayan pencere
Model en fazla `block_size` konum görebilir (öğrenilen konum gömmesi `wpe` yalnızca bu kadar
satır içerir). Bağlam daha uzunsa model **son `block_size` belirteci** görür (eğitimdeki gibi
en fazla `block_size` uzunlukta bir pencere). Bu kural iki yolda da aynıdır:
* Önbelleksiz yol her adımda bağlamı son `block_size` belirtece kırpar.
* Önbellekli yolda önbellek dolunca (`block_size` konum) pencere bir belirteç kayar: yeni
  belirteç eklenince en eski belirteç düşer ve **her belirtecin mutlak konumu bir azalır**.
  Eski `k, v` değerleri eski konumlarla hesaplandığı için artık geçersizdir; bu yüzden önbellek
  boşaltılır ve son `block_size` belirteç tek bir ileri geçişle yeniden işlenerek önbellek
  yeniden kurulur. Sonuç, önbelleksiz yolla birebir aynıdır (tam), ama `block_size`'dan sonra
  her adım bir tam pencere hesabı gerektirir; hız kazancı yalnızca pencere dolana kadardır.
  (Daha büyük adımlarla kaydırmak hızlı olurdu ama modelin gördüğü bağlamı kısaltır ve
  sonucu önbelleksiz yoldan farklı kılardı; burada doğruluk tercih edildi.)
İstem (prompt), yani başlangıç bağlamı, `block_size`'dan uzunsa aynı kuralla son `block_size`
belirteci kullanılır.
"""
from __future__ import annotations

import inspect
from typing import Callable, Iterator

import numpy as np

from .backend import check_finite_output, is_integer, shown, to_numpy

# Boyutlar: B = toplu iş, T = bağlam uzunluğu, V = sözlük boyutu

# Üretim tamponunun en az uzunluğu (belirteç): pencere bundan kısaysa tampon dolunca kaydırılır
BUFFER_MIN = 1024


def check_seed(seed) -> None:
    """A sampling seed: None or an integer >= 0 (what numpy.random.default_rng accepts)."""
    if seed is not None and (not is_integer(seed)
                             or seed < 0):
        raise ValueError(f"seed must be an integer >= 0 (or None), got {shown(seed)}")


def check_sampling_args(max_new_tokens, temperature=1.0, top_k=None, top_p=None) -> None:
    """Raise ValueError for settings that do not describe a sampler."""
    if not is_integer(max_new_tokens) \
            or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {shown(max_new_tokens)}")
    check_sampler(temperature, top_k, top_p)


def _number(name: str, value, what: str) -> float:
    """float(value), with a ValueError saying `name` must be `what` for a value that is no
    number (a string, a bool) or an integer no float holds."""
    # Dizeler sayı değildir: float("0.9") kabul edilseydi top_p="0.9" denetimden geçip
    # filter_logits'in `top_p < 1.0` karşılaştırmasında anlaşılmaz bir TypeError verirdi.
    # Python'un tam sayıları sınırsızdır: float(10**400) bir OverflowError hata izi verirdi;
    # eğitim ayarlarındaki gibi (config._as_float) sayının float'a sığmadığı söylenir
    try:
        if isinstance(value, (bool, str, bytes)):
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {what}, got {shown(value)}") from None
    except OverflowError:
        beyond = ("is below the lowest number a float holds (about -1.8e308)" if value < 0 else
                  "is too large for a number (a float holds at most about 1.8e308)")
        raise ValueError(f"{name} must be {what}, got {shown(value)}, which {beyond}") from None


def check_sampler(temperature=1.0, top_k=None, top_p=None) -> None:
    """Raise ValueError for a temperature, top_k or top_p that does not describe a sampler."""
    t = _number("temperature", temperature, "a number >= 0")
    if not np.isfinite(t) or t < 0:
        raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), "
                         f"got {shown(temperature)}")
    if top_k is not None and (not is_integer(top_k)
                              or top_k < 1):
        raise ValueError(f"top_k must be an integer >= 1 (or None), got {shown(top_k)}")
    if top_p is not None:
        p = _number("top_p", top_p, "a number in (0, 1]")
        if not 0.0 < p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1] (or None), got {shown(top_p)}")


def _softmax(z):
    """Row-wise softmax of float64 scores; -inf entries get probability exactly 0."""
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    return p


def _check_scores(z, name: str) -> None:
    """ValueError unless z (an array) is (B, V) scores with at least one id."""
    # filter_logits (B, V) dışındaki bir şekli denetlemiyordu: (V,) bir IndexError ("tuple
    # index out of range") verirdi, (B, T, V) ise sessizce yanlış eksende (T) süzülürdü; V = 0
    # ise sample_next NumPy'ın "zero-size array to reduction operation" iletisiyle düşerdi
    if z.ndim != 2:
        raise ValueError(f"{name} must have shape (B, V), got {z.shape}")
    if z.shape[1] == 0:
        raise ValueError(f"{name} must have shape (B, V) with V >= 1, got {z.shape}")


def filter_logits(z, top_k=None, top_p=None):
    """Apply top-k, then top-p, to scores z (B, V) float64 (already divided by the
    temperature): removed entries become -inf. Returns a new array."""
    # Kamuya açık bir fonksiyon: top_k = 0 her puanı −∞ yapıp (softmax NaN) hep 0 kimliğini,
    # top_k = −1 en olasısız tek belirteci atıp geri kalanı seçtirirdi; ayarlar burada da
    # denetlenir (O(1), belirteç başına birkaç mikrosaniye)
    check_sampler(1.0, top_k, top_p)
    z = np.array(z, dtype=np.float64)                                # kopya, (B, V)
    _check_scores(z, "z")
    V = z.shape[1]
    if top_k is not None and top_k < V:
        # Kararlı sıralama: eşit puanlarda küçük numara önde → tam k aday kalır
        order = np.argsort(-z, axis=1, kind="stable")                # (B, V)
        np.put_along_axis(z, order[:, top_k:], -np.inf, axis=1)
    if top_p is not None and top_p < 1.0:
        probs = _softmax(z)                                          # (B, V)
        order = np.argsort(-probs, axis=1, kind="stable")
        sorted_p = np.take_along_axis(probs, order, axis=1)
        # Bir belirteç, kendisinden önceki (daha olası) belirteçlerin toplamı < p ise kalır
        mass_before = np.cumsum(sorted_p, axis=1) - sorted_p
        remove = mass_before >= top_p
        remove[:, 0] = False                                         # en olası her zaman kalır
        drop = np.zeros_like(remove)
        np.put_along_axis(drop, order, remove, axis=1)               # sıralamayı geri al
        z[drop] = -np.inf
    return z


def sample_next(logits, temperature=1.0, top_k=None, top_p=None, rng=None):
    """Pick the next token for every row of logits (B, V) (host array). Returns (B,) int64.

    temperature 0 = greedy (argmax; the smallest id wins a tie; rng is not used). The settings
    are checked as generate() checks them (check_sampler).
    """
    # Negatif bir sıcaklık puanların işaretini çevirir: en olasısız belirteçler seçilirdi
    check_sampler(temperature, top_k, top_p)
    z = np.asarray(logits, dtype=np.float64)
    _check_scores(z, "logits")
    check_finite_output(z, "logits")
    # Sıcaklık 0: açgözlü çözümleme
    if float(temperature) == 0.0:
        return z.argmax(axis=1).astype(np.int64)
    if rng is None:
        rng = np.random.default_rng()
    # Sıcaklık, ardından top-k ve top-p süzgeçleri. Önce en büyük puan çıkarılır: çok küçük bir
    # sıcaklıkta z/τ taşar (inf − inf = NaN olurdu); (z − max)/τ ise en büyükte 0, diğerlerinde
    # en kötü −inf olur (açgözlü seçime yaklaşır, olması gerektiği gibi)
    with np.errstate(over="ignore"):
        z = (z - z.max(axis=1, keepdims=True)) / float(temperature)
    z = filter_logits(z, top_k, top_p)
    probs = _softmax(z)                                              # (B, V), elenenler 0
    # Ters dağılım yöntemi: birikimli olasılıkta u·toplam'ı ilk aşan belirteç
    cum = np.cumsum(probs, axis=1)                                   # (B, V)
    u = rng.random(z.shape[0])[:, None] * cum[:, -1:]                # (B, 1)
    choice = (cum <= u).sum(axis=1)
    # Yuvarlama yüzünden sona taşarsa: olasılığı sıfırdan büyük son belirteç
    last_ok = z.shape[1] - 1 - np.argmax((probs > 0)[:, ::-1], axis=1)
    return np.minimum(choice, last_ok).astype(np.int64)


def _prepare_idx(model, idx) -> np.ndarray:
    """Validate the prompt ids and return them as a host (B, T) int64 array."""
    if isinstance(idx, (list, tuple)) and len(idx) == 0:
        raise ValueError("the prompt is empty: need at least one token")
    # Satırları eşit uzunlukta olmayan bir liste ([[1, 2], [3]]) NumPy dizisine çevrilemez: NumPy'ın
    # "setting an array element with a sequence … inhomogeneous shape" iletisi, istemin adını
    # ve beklenen şekli söylemeden düşüyordu (modelin kendi _check_idx'i gibi söylenir)
    try:
        arr = np.asarray(to_numpy(idx)) if not isinstance(idx, np.ndarray) else idx
    except ValueError:
        raise ValueError("prompt must be token ids of shape (T,) or (B, T), every row as long "
                         "as the others") from None
    except TypeError as e:
        # TypeError ise satırların boyundan gelmez: NumPy listenin öğelerini okuyamamıştır
        # (ör. CuPy dizilerinden bir liste; CuPy, aygıttaki diziyi örtük olarak ana belleğe
        # çevirmez). "Satırlar eşit uzunlukta olmalı" demek, satırları eşit olan kullanıcıyı
        # yanıltırdı
        raise ValueError(f"prompt must be token ids of shape (T,) or (B, T): a list of "
                         f"integers or one array, not a {type(idx).__name__} whose items NumPy "
                         f"cannot read as one array ({e})") from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim == 2 and arr.shape[1] == 0:
        raise ValueError("the prompt is empty: need at least one token")
    # Kimlikler ana bellekte denetlenir ve orada kalır (move=False): örnekleme tamponu ana
    # bellektedir; aygıta taşıyıp hemen geri okumak, her üretimde (sohbetin her turunda) boşuna
    # bir aygıt→ana bellek kopyası olurdu. Model onları ileri geçişte kendisi taşır
    checked = model._check_idx(arr, model.vocab_size, None, "prompt", move=False)
    return np.asarray(checked, dtype=np.int64)


def iter_generate(model, idx, max_new_tokens: int, temperature: float = 1.0, top_k=None,
                  top_p=None, seed=None, use_cache: bool = True,
                  vocab_limit: int | None = None) -> Iterator[np.ndarray]:
    """Like generate(), but yields each step's new tokens, a (B,) int64 host array, as soon
    as it is sampled (so a caller can stream them or stop early)."""
    check_sampling_args(max_new_tokens, temperature, top_k, top_p)
    check_seed(seed)
    prompt = _prepare_idx(model, idx)
    return _iter_generate(model, prompt, max_new_tokens, temperature, top_k, top_p, seed,
                          use_cache, _check_limit(vocab_limit))


def _check_limit(vocab_limit):
    if vocab_limit is not None and (isinstance(vocab_limit, bool) or
                                    not isinstance(vocab_limit, (int, np.integer)) or
                                    vocab_limit < 1):
        raise ValueError(f"vocab_limit must be an integer >= 1 (or None), got {shown(vocab_limit)}")
    return vocab_limit


def _iter_generate(model, prompt, max_new_tokens, temperature, top_k, top_p, seed, use_cache,
                   vocab_limit=None):
    check_seed(seed)
    rng = np.random.default_rng(seed)
    block = getattr(model, "block_size", None)          # None: modelin pencere sınırı yok
    use_cache = use_cache and hasattr(model, "new_kv_cache") and block is not None
    # Modelin gördüğü en uzun pencere: GPT'de block_size; bigram yalnızca son belirteci görür
    # (context_window = 1). İkisi de yoksa bütün dizi.
    keep = block if block is not None else getattr(model, "context_window", None)
    if keep is not None:
        prompt = prompt[:, -keep:]                       # daha eskisi hiç görülmeyecek
    B, T = prompt.shape
    # Yalnızca pencere kadar belirteç tutulur (çok uzun üretimde bellek sabit kalır): tampon
    # dolunca son `keep` belirteç başa kaydırılır; sınırsız modelde tampon iki katına büyür
    cap = T + min(max_new_tokens, max(keep or 0, BUFFER_MIN))
    seq = np.empty((B, cap), dtype=np.int64)                 # (B, cap) ana bellekte
    seq[:, :T] = prompt
    n = T
    if max_new_tokens == 0:
        return

    def window():
        # Modelin görebileceği pencere: son keep (GPT'de block_size) belirteç
        return seq[:, max(0, n - keep):n] if keep is not None else seq[:, :n]

    cache = model.new_kv_cache(B) if use_cache else None
    # Yalnızca son konumun puanları gerekir (destekleyen modellerde çıkış katmanı T kat
    # ucuzlar)
    last_only = "last_only" in inspect.signature(model.forward).parameters

    def forward(ids, kv):
        kw = {"last_only": True} if last_only else {}
        if kv is not None:
            kw["kv_cache"] = kv
        # Üretimde dropout kapalıdır: her ileri geçiş değerlendirme kipinde yapılır ve model
        # hemen kendi kipine döner. Kip bütün üretim boyunca değiştirilseydi, aynı modelle
        # iç içe yürüyen iki üretimden (ör. zip(iter_generate(m, a), iter_generate(m, b)))
        # önce biten, modeli eğitim kipine geri alır, öteki de dropout'la sürerdi; sonra
        # biten ise gördüğü "değerlendirme" kipini geri yükleyip modeli eğitim kipinden
        # çıkarmış bırakırdı
        was_training = model.training
        model.eval()
        try:
            return model.forward(ids, **kw)[0]
        finally:
            model.train(was_training)

    # İlk ileri geçiş: bütün pencere (önbellekli yolda önbelleği doldurur: "prefill")
    logits = forward(window(), cache)
    for step in range(max_new_tokens):
        # vocab_limit: modelin sözlüğü belirteçleyicininkinden büyükse (ör. 64'ün katına
        # yuvarlanmış GPT-2 sözlüğü) yalnızca belirteçleyicinin bildiği kimlikler çekilir
        last = to_numpy(logits[:, -1, :vocab_limit])             # (B, V), ana belleğe
        nxt = sample_next(last, temperature, top_k, top_p, rng)  # (B,)
        if n == seq.shape[1]:
            if keep is not None:                     # kaydır: son keep belirteç başa
                seq[:, :keep] = seq[:, n - keep:n]
                n = keep
            else:                                    # büyüt
                seq = np.concatenate([seq, np.empty_like(seq)], axis=1)
        seq[:, n] = nxt
        n += 1
        yield nxt
        if step == max_new_tokens - 1:
            break                                    # son belirteç için ileri geçiş gerekmez
        if cache is None:
            # Önbelleksiz: her adımda bütün pencere yeniden hesaplanır
            logits = forward(window(), None)
        elif cache.length < block:
            # Önbellekli: yalnızca yeni belirteç, konumu cache.length
            logits = forward(nxt[:, None], cache)
        else:
            # Önbellek dolu: pencere kayar, konumlar değişir → önbelleği yeniden kur
            cache.reset()
            logits = forward(window(), cache)


def generate(model, idx, max_new_tokens: int, temperature: float = 1.0, top_k=None, top_p=None,
             seed=None, use_cache: bool = True,
             stream: Callable | None = None, vocab_limit: int | None = None) -> np.ndarray:
    """Sample max_new_tokens tokens after the prompt idx ((T,) or (B, T) ids).

    Returns a host int64 array (B, T + max_new_tokens): the prompt followed by the new tokens.
    temperature 0 is greedy decoding; top_k keeps the k most likely tokens; top_p keeps the
    smallest set of most likely tokens whose probability reaches top_p (nucleus sampling).
    seed makes sampling reproducible (a host numpy Generator). use_cache decodes one position
    per step with a KV cache (same tokens as use_cache=False, much faster). Past block_size
    the model sees the last block_size tokens (the cache is rebuilt when the window slides).
    stream, if given, is called with each new token as it is produced: an int when B == 1,
    else a (B,) int64 array. Every forward pass runs in eval mode (no dropout); between steps
    and after, the model keeps its own mode.
    vocab_limit samples only ids below it (a model whose vocabulary is padded beyond its
    tokenizer's, e.g. 50304 for GPT-2's 50257: the extra rows have no text).
    """
    check_sampling_args(max_new_tokens, temperature, top_k, top_p)
    prompt = _prepare_idx(model, idx)
    B, T = prompt.shape
    out = np.empty((B, T + max_new_tokens), dtype=np.int64)
    out[:, :T] = prompt
    steps = _iter_generate(model, prompt, max_new_tokens, temperature, top_k, top_p, seed,
                           use_cache, _check_limit(vocab_limit))
    for i, nxt in enumerate(steps):
        out[:, T + i] = nxt
        if stream is not None:
            stream(int(nxt[0]) if B == 1 else nxt.copy())
    return out


class TextStreamer:
    """Turns a stream of token ids into text pieces for `write` as they are produced.

    Decodes only the ids not yet written (so a long generation costs linear, not quadratic,
    time); a trailing U+FFFD (an incomplete UTF-8 sequence from a byte-level tokenizer) is held
    back until the next token completes it. After HOLD_MAX held ids (stray bytes that never
    decode) the text of the held ids is written except for the last few that could still begin
    a character: the longest head whose text, followed by the rest's, is the text of them all.
    With a decoder that raises instead, the held ids are written as the text of the pieces that
    decode and a U+FFFD for each id that begins none (the last few ids, when none of them begins
    a piece, are held as a character still to complete; flush writes them as one U+FFFD).
    """
    HOLD_MAX = 8

    def __init__(self, decode: Callable, write: Callable[[str], object]):
        self.decode = decode
        self.write = write
        self.pending: list[int] = []   # henüz yazılmamış kimlikler
        self._pieces: list[str] = []   # yazılan parçalar (birleştirmesi: self.text)

    @property
    def text(self) -> str:
        """All text written so far."""
        return "".join(self._pieces)

    def _decoded(self, ids: list[int] | None = None) -> str | None:
        try:
            return self.decode(self.pending if ids is None else ids)
        except UnicodeDecodeError:       # katı bir çözücü yarım karakterde hata verir
            return None

    def __call__(self, token_id: int) -> str:
        self.pending.append(int(token_id))
        piece = self._decoded()
        if (piece is None or piece.endswith("\ufffd")) and len(self.pending) < self.HOLD_MAX:
            return ""                                # yarım kalmış çok baytlı karakteri beklet
        if piece is None:
            return self._emit(*self._salvaged(hold_tail=True))
        if piece is not None and piece.endswith("\ufffd"):
            # Sınıra ulaşıldı: bekletilen kimliklerin sonuncuları, sonraki kimliklerin
            # tamamlayacağı bir karakteri başlatmış olabilir (ör. yedi başıboş bayttan sonra
            # "ğ"nin ilk baytı). Hepsi yazılsaydı o karakterin başı U+FFFD olarak yazılır,
            # devam baytları da birer U+FFFD daha olurdu. Yazılan, metni değişmeden ayrılabilen en
            # uzun baştır: baş ve kalanın metinleri art arda, hepsinin metnine eşitse ayrım bir
            # karakterin ortasına düşmemiştir; kalan bekletilir
            for j in range(len(self.pending) - 1, 0, -1):
                head, rest = self.pending[:j], self.pending[j:]
                head_text = self._decoded(head)
                rest_text = self._decoded(rest)
                if head_text is not None and rest_text is not None and \
                        head_text + rest_text == piece:
                    return self._emit(head_text, keep=rest)
        return self._emit(piece)

    # Hata veren (katı) bir çözücü: bekletilen kimliklerin hepsi tek bir U+FFFD olarak
    # yazılsaydı, başıboş bir bayttan sonra gelen ve kendi başına çözülebilen metin de ("\xe2"
    # ardından "AAA") kaybolurdu. Baştan başlanarak çözülebilen en uzun parça yazılır; hiçbir
    # parçayı başlatamayan kimlik için bir U+FFFD yazılır ve sonrakine geçilir. Sondaki en çok
    # UTF8_TAIL kimliğin hiçbiri bir parça başlatamıyorsa bunlar yarım kalmış tek bir karakter
    # olabilir: bekletilir (sonraki kimlikler tamamlayabilir) ya da, flush'ta, yerine koyan bir
    # çözücünün yarım karakter için yazdığı gibi tek bir U+FFFD yazılır
    UTF8_TAIL = 3     # yarım kalmış bir karakterin en çok 3 baytı olur (4 baytlığın ilk üçü)

    def _longest(self, ids: list[int], i: int):
        """(j, text) of the longest ids[i:j] the decoder takes, or (None, None)."""
        for j in range(len(ids), i, -1):
            text = self._decoded(ids[i:j])
            if text is not None:
                return j, text
        return None, None

    def _salvaged(self, hold_tail: bool) -> tuple[str, list[int]]:
        """(text of the pending ids that a strict decoder refuses as a whole, ids still held):
        the longest decodable pieces from the start, U+FFFD for an id that begins none; a last
        run of at most UTF8_TAIL ids none of which begins a piece is held (hold_tail) or
        written as one U+FFFD (a character cut at the end)."""
        ids, pieces, i = self.pending, [], 0
        while i < len(ids):
            j, text = self._longest(ids, i)
            if j is not None:
                pieces.append(text)
                i = j
                continue
            if len(ids) - i <= self.UTF8_TAIL and \
                    all(self._longest(ids, k)[0] is None for k in range(i + 1, len(ids))):
                if hold_tail:
                    return "".join(pieces), ids[i:]
                pieces.append("\ufffd")
                break
            pieces.append("\ufffd")
            i += 1
        return "".join(pieces), []

    def _emit(self, piece: str, keep: list[int] | None = None) -> str:
        self.pending = keep or []
        if piece:
            self._pieces.append(piece)
            self.write(piece)
        return piece

    def flush(self) -> str:
        """Write whatever was held back (e.g. a genuinely invalid byte sequence)."""
        if not self.pending:
            return ""
        piece = self._decoded()
        return self._emit(*self._salvaged(hold_tail=False)) if piece is None else \
            self._emit(piece)
