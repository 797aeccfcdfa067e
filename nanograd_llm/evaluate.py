"""
# Değerlendirme: bütün bir metin üzerinde kayıp, perplexity ve karakter başına bit

## Eğitimdeki "val loss" neden yalnızca bir tahmindir?
Eğitici her `eval_interval` adımda doğrulama kaybını `eval_iters` tane **rastgele** toplu işin
ortalamasıyla tahmin eder (`baby` ayarında 20 × 12 pencere × 64 konum ≈ 15 bin konum). Bu
ucuzdur ama bir örneklem ortalamasıdır. Pencereler (tohum, adım) ikilisiyle seçildiği için aynı
adımda aynı modeli yeniden ölçmek aynı sayıyı verir; ama başka bir adımın ya da başka bir
tohumun pencereleriyle okuma, modelin gerçek kaybı değişmese de nat'ın yüzde birkaçı kadar
oynar (`baby` ayarında standart sapma ≈ 0,013 nat; `benchmarks/RESULTS.md`, "baby" bölümü).
Bu modül doğrulama bölümünün (ya da herhangi bir metnin) ilki dışındaki **her konumunu tam bir
kez** tahmin ettirir ve kesin ortalamayı verir.

## Ölçütler
Metin `x_0 … x_N` belirteçlerinden oluşsun. Model, her `p ≥ 1` konumu için önceki
belirteçlere bakarak bir olasılık dağılımı verir; gerçek belirtecin negatif log-olasılığı o
konumun kaybıdır (çapraz entropi, birimi **nat**):

    ℓ_p = −ln P(x_p | bağlam_p) = logsumexp(z_p) − z_p[x_p]        z_p: p'yi tahmin eden logitler

| ölçüt | formül | anlamı |
|---|---|---|
| ortalama kayıp | H = (1/N) Σ_p ℓ_p | eğitimdeki `val_loss` ile aynı nicelik (nat/belirteç) |
| perplexity | e^H | model her adımda ortalama kaç belirteç arasında "kararsız"; tekdüze tahminde V |
| belirteç başına bit | H / ln 2 | metni bu modelle sıkıştırmanın bedeli, belirteç başına |
| karakter başına bit | (Σ_p ℓ_p / ln 2) / karakter sayısı | **farklı belirteçleyicileri** karşılaştırmanın doğru yolu |

Karakter düzeyindeki bir modelde belirteç = karakter olduğundan son iki ölçüt aynıdır. BPE
modelinde bir belirteç birkaç karakter kapsar: belirteç başına kayıp doğal olarak daha büyük
çıkar, ama karakter başına bit iki modeli aynı ölçekte gösterir. Bunun için iki model **aynı
metin** üzerinde ölçülmelidir (ör. `--data DOSYA --split all`). Yeni bir BPE eğitiminin `val`
bölümü metnin son %10 karakteridir (metin karakterlerle bölünür, iki parça ayrı ayrı kodlanır);
karakter düzeyindeki bir eğitiminki kimliklerin son %10'udur, NFC bir metinde aynı parça. Eski
bir sürümün BPE eğitimi ise kimliklerin son %10'unu ayırmıştı: belirteç dizileri farklı uzunlukta
olduğundan onun `val` bölümü metnin birebir aynı parçası değildir. Tekdüze
(hiçbir şey öğrenmemiş) bir modelin kaybı `ln V`'dir; bu değer karşılaştırma için birlikte
yazdırılır.

## Kayan pencere (sliding window)
Model en fazla `block_size` (= T) belirteçlik bağlam görebilir; metin çok daha uzundur. Metin,
uzunluğu `L = min(bağlam, N)` olan pencerelere bölünür (bağlam varsayılan olarak T'dir, `--context`
ile kısaltılabilir) ve her pencere tek bir ileri geçişle `L` konumun logitlerini verir.
Pencerenin j. çıktısı (j = 0 … L−1) girdinin 0 … j konumlarına bakar, yani **j + 1**
belirteçlik bağlamla tahmin eder.

* **Adım `S = L` (varsayılan):** pencereler art arda dizilir, bağlam 1 … L belirteçtir.
  Eğitimdeki toplu işlerin pencereleri de böyledir; tek fark, buradaki başlangıçların rastgele
  değil sabit olmasıdır. Bu yüzden sonuç, eğiticinin tahmin ettiği niceliğe çok yakındır ama onunla birebir
  aynı değildir.
* **Adım `S < L`:** her pencere bir öncekinden S konum ileride başlar ve yalnızca **yeni**
  (son S) konumlarını sayar. İlk pencere dışında her konum en az `L − S + 1` belirteçlik
  bağlam görür; kayıp genellikle düşer (daha uzun bağlam çoğu zaman yardım eder, ama
  zorunlu değildir), ileri geçiş sayısı ise yaklaşık `L / S` katına çıkar. `S = 1`, ilk pencere
  dışındaki her konuma tam `L` belirteçlik bağlam verir (en yavaş ölçüm).

Son pencere metnin sonuna dayanır: gerekirse geriye kayar ve bir öncekiyle örtüşür; örtüşen
konumları yeniden saymaz. Böylece her konum **tam bir kez** sayılır; hiçbir konum atlanmaz ya
da iki kez sayılmaz (`tests/test_evaluate.py`).

    pencere başı s, önceki pencerelerin saydığı son konum d  →  bu pencere d+1 … s+L'yi sayar
    (pencerede j = d − s … L−1 çıktıları; ilk pencerede d = 0, yani hepsi)

Bağlam sınırı olmayan bir model (bigram) `DEFAULT_CONTEXT` uzunluğunda pencerelerle okunur; o
yalnızca bir önceki belirtece baktığı için sonuç pencere uzunluğuna bağlı değildir.

## Şekiller
B: aynı ileri geçişe giren pencere sayısı, L: pencere uzunluğu, V: sözlük boyutu.

| tensör | şekil |
|---|---|
| girdiler / hedefler | (B, L) |
| logits | (B, L, V) |
| konum kayıpları ℓ, sayma maskesi | (B, L) |

Bellek: logitler B·L·V sayıdır; B, logitleri ve bir ileri geçişin etkinleştirmelerini sınırlı
tutacak biçimde seçilir, ama en az 1'dir (GPT-2 124M için L = 1024 ve V = 50 257 ile B = 1;
bu durumda logitler tek başına sınırı aşar). Geri geçiş olmadığından GPT etkinleştirmeleri
saklamaz (`keep_activations=False`: her bloğunki, blok çıktısını verir vermez bırakılır); kaybı
hesaplarken logitlerin boyunda yalnızca bir geçici dizi daha oluşur (`z − m`, üstel onun üstüne
yazılır).
"""
from __future__ import annotations

import inspect
import math
import time
import unicodedata
from dataclasses import asdict, dataclass

import numpy as np

from .atomic import with_command_line_message
from .backend import (check_finite_output, did_you_mean, get_array_module, is_integer, shown,
                      to_numpy)
from .checkpoint import model_vocab_size
from .data import (SPLIT_BY_CHARACTERS, SPLIT_BY_TOKENS, SPLIT_RULES, encode_corpus, same_source,
                   split_point, split_rule)

# Boyutlar: B pencere (toplu iş), L pencere uzunluğu, V sözlük
SPLITS = ("val", "train", "all")
MAX_LOGITS = 1 << 25            # bir ileri geçişte hedeflenen en çok logit (B ≥ 1 olduğu sürece)
MAX_WINDOW_TOKENS = 4096        # bir ileri geçişte en çok bu kadar konum (etkinleştirmeler)
DEFAULT_CONTEXT = 256           # bağlam sınırı olmayan modellerin (bigram) pencere uzunluğu


@dataclass
class EvalResult:
    """Totals of one evaluation; the derived figures are properties."""
    tokens: int              # predicted positions (each counted once)
    nll: float               # Σ −ln P(x_p | context), nats, summed in float64
    characters: int          # characters of the text that begin in those tokens (0 if unknown)
    windows: int             # forward passes' rows
    context: int             # window length L
    stride: int              # window step S
    vocab_size: int          # the V of the uniform-guess baseline
    seconds: float = 0.0

    @property
    def loss(self) -> float:
        """Mean negative log-likelihood per scored token, in nats (nll / tokens)."""
        return self.nll / self.tokens

    @property
    def perplexity(self) -> float:
        """e^loss; inf when that is beyond a float (a loss above about 709.78 nats)."""
        # Iraksamış bir modelin kaybı yüzlerce nat olabilir: e^H float'a sığmaz ve math.exp
        # OverflowError verirdi (eval'in raporu ve --json çıktısı bir hata iziyle düşerdi)
        try:
            return math.exp(self.loss)
        except OverflowError:
            return math.inf

    @property
    def bits_per_token(self) -> float:
        """loss in bits: loss / ln 2."""
        return self.loss / math.log(2)

    @property
    def bits_per_char(self) -> float | None:
        """Total bits over the characters scored (None when characters is 0, as
        evaluate_ids leaves it): comparable across tokenizers on the same text."""
        return self.nll / math.log(2) / self.characters if self.characters else None

    @property
    def uniform_loss(self) -> float:
        """ln vocab_size: the loss of a uniform guess, the baseline."""
        return math.log(self.vocab_size)

    def to_dict(self) -> dict:
        """The totals and the derived figures, every value valid JSON: a perplexity beyond a
        float is None (JSON null; `loss` still holds it), as bits_per_char is without
        characters."""
        d = asdict(self)
        ppl = self.perplexity
        # json.dumps inf'i "Infinity" diye yazar: JSON değildir (jq ve JSON.parse reddeder)
        d.update(loss=self.loss, perplexity=ppl if math.isfinite(ppl) else None,
                 bits_per_token=self.bits_per_token, bits_per_char=self.bits_per_char,
                 uniform_loss=self.uniform_loss)
        return d


def select_split(ids: np.ndarray, split: str, val_fraction: float = 0.1) -> np.ndarray:
    """The `val` (last val_fraction), `train` (the rest) or `all` ids of a corpus."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}"
                         f"{did_you_mean(split, SPLITS)}")
    if split == "all":
        return ids
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    cut = split_point(int(ids.size), val_fraction)
    return ids[cut:] if split == "val" else ids[:cut]


def _option_error(name: str, rest: str) -> ValueError:
    """ValueError(name + rest) about the keyword argument `name` (stride, max_tokens), told on
    the command line with the option as typed (--stride, --max-tokens)."""
    return with_command_line_message(ValueError(f"{name}{rest}"),
                                     f"--{name.replace('_', '-')}{rest}")


def sliding_windows(n_ids: int, context: int, stride: int | None = None) -> list[tuple[int, int]]:
    """Windows over `n_ids` token ids: a list of (start, first) pairs.

    Each window's inputs are ids[start : start + L] and its targets ids[start + 1 : start + L + 1],
    with L = min(context, n_ids - 1); it counts the targets at window positions first … L-1.
    Together the windows count every target 1 … n_ids-1 exactly once.
    """
    if n_ids < 2:
        raise ValueError(f"need at least 2 tokens to predict one, got {n_ids}")
    # Tam sayı olmayan bir bağlam pencereleri kesirli başlangıçlarla kurardı (sonra derin bir
    # TypeError), stride = 2.5 ise int() ile sessizce 2'ye inerdi
    for name, v in (("context", context), ("stride", stride)):
        if v is not None and not is_integer(v):
            raise _option_error(name, f" must be an integer, got {v!r}")
    if context < 1:
        raise _option_error("context", f" must be >= 1, got {context}")
    L = min(int(context), n_ids - 1)
    stride = L if stride is None else int(stride)
    if not 1 <= stride <= L:
        raise _option_error("stride", f" must be between 1 and the window length {L}, got "
                                      f"{stride}")
    last = n_ids - 1                   # sayılacak son hedefin konumu
    out = []
    start, done = 0, 0                 # done: şimdiye kadar sayılan son hedefin konumu
    while done < last:
        start = min(start, last - L)   # son pencere metnin sonuna dayanır
        out.append((start, done - start))
        done = start + L
        start += stride
    return out


def token_nll(logits, targets, vocab_limit: int | None = None):
    """−ln softmax(logits)[target] at every position: (B, L, V), (B, L) -> (B, L).

    With `vocab_limit`, the distribution is renormalised over the first vocab_limit ids (a model
    whose vocabulary is padded past its tokenizer's, as in sampling)."""
    xp = get_array_module(logits)
    z = logits[..., :vocab_limit] if vocab_limit else logits           # (B,L,V')
    m = z.max(axis=-1, keepdims=True)                                  # (B,L,1)
    # logsumexp: en büyük logit çıkarılarak hesaplanır (exp taşmasın); exp, farkın üstüne
    # yazılır (logitlerin boyunda ikinci bir geçici dizi ayrılmaz)
    e = z - m                                                          # (B,L,V')
    lse = xp.log(xp.exp(e, out=e).sum(axis=-1)) + m[..., 0]           # (B,L)
    del e
    picked = xp.take_along_axis(z, targets[..., None], axis=-1)[..., 0]  # (B,L)
    return lse - picked


def default_batch_size(context: int, vocab_size: int) -> int:
    """Windows per forward pass: logits and activations stay bounded (see the module text)."""
    return max(1, min(MAX_WINDOW_TOKENS // context, MAX_LOGITS // (context * vocab_size)))


def evaluate_ids(model, ids, *, context: int | None = None, stride: int | None = None,
                 batch_size: int | None = None, vocab_limit: int | None = None,
                 progress: bool | None = False) -> EvalResult:
    """Mean loss of `model` over every position of the 1-D id array `ids` (sliding windows;
    a (1, N) array is read as its one row, more rows are an error).

    context: window length (default: the model's block_size, or DEFAULT_CONTEXT for a model
    without one, the bigram); stride: see sliding_windows (default: context, windows that do
    not overlap); batch_size: windows per forward pass (default: default_batch_size);
    vocab_limit: see token_nll; progress: a progress bar on stderr (None: on a terminal only).
    The model is put in eval mode (no dropout) for the call and restored afterwards.
    `characters` of the result is 0: evaluate_text fills it in.
    """
    ids = np.asarray(to_numpy(ids))
    if ids.ndim > 1 and ids.size != ids.shape[-1]:
        # (B, T) bir toplu iş düzleştirilseydi satırlar tek bir metin gibi art arda okunurdu:
        # bir satırın başındaki belirteçler önceki satırın sonunu bağlam sanılarak, sessizce
        # yanlış bir kayıpla puanlanırdı
        raise ValueError(f"ids must be one sequence of token ids (1-D), got shape "
                         f"{ids.shape}: evaluate each row on its own (rows of a batch are not "
                         f"one text)")
    ids = ids.reshape(-1)
    if ids.dtype.kind not in "iu":
        raise ValueError(f"ids must be integers, got dtype {ids.dtype}")
    block = getattr(getattr(model, "config", None), "block_size", None)
    if context is None:
        context = DEFAULT_CONTEXT if block is None else block
    if block is not None and context > block:
        raise _option_error("context", f" {context} is longer than the model's block_size "
                                       f"{block}")
    V = model_vocab_size(model)
    # 5.0 gibi bir sayı aralık denetimini geçer, logitleri dilimlerken derin bir TypeError verirdi
    if vocab_limit is not None and (isinstance(vocab_limit, bool) or not isinstance(
            vocab_limit, (int, np.integer)) or not 1 <= vocab_limit <= V):
        raise ValueError(f"vocab_limit must be between 1 and the model's vocab_size {V}, "
                         f"got {vocab_limit}")
    vocab_limit = None if vocab_limit is None else int(vocab_limit)
    # Belirteç kimlikleri burada, ana bellekte denetlenir: modelin aygıtına taşınan pencereler
    # orada denetlenmez (GPU'da bu bir eşitleme olurdu) ve CuPy aralık dışı bir indeksi hata
    # vermeden başa sarar; vocab_limit ve üstündeki bir kimlik CPU'da da sessizce geçebilirdi
    limit = vocab_limit or V
    lo, hi = (int(ids.min()), int(ids.max())) if ids.size else (0, 0)
    if lo < 0 or hi >= limit:
        bad = lo if lo < 0 else hi
        raise ValueError(f"token id {bad} is outside [0, {limit}) (the model's "
                         f"{'vocab_limit' if vocab_limit else 'vocabulary'})")
    windows = sliding_windows(int(ids.size), context, stride)
    L = min(int(context), int(ids.size) - 1)
    stride = L if stride is None else int(stride)
    if batch_size is None:
        batch_size = default_batch_size(L, V)
    if not is_integer(batch_size) \
            or batch_size < 1:
        raise _option_error("batch_size", f" must be an integer >= 1, got {batch_size!r}")
    xp = getattr(model, "xp", np)
    ids64 = ids.astype(np.int64)
    offsets = np.arange(L + 1)                                          # (L+1,)
    positions = np.arange(L)                                            # (L,)
    from tqdm.auto import tqdm
    # progress=None: tqdm decides (a bar on a terminal, nothing when stderr is redirected)
    quiet = progress is False or len(windows) < 2
    bar = tqdm(total=len(windows), unit="window", leave=False,
               disable=True if quiet else (None if progress is None else False))
    total, count = 0.0, 0
    was_training = getattr(model, "training", False)
    model.eval()
    # Geri geçiş olmayacak: destekleyen model (GPT) etkinleştirmeleri biriktirmez; yoksa bir
    # ileri geçişin bütün katmanlarınınki logitlerin yanında boşuna dururdu
    keep = {"keep_activations": False} if "keep_activations" in \
        inspect.signature(model.forward).parameters else {}
    t0 = time.perf_counter()
    try:
        for i in range(0, len(windows), batch_size):
            chunk = windows[i:i + batch_size]
            starts = np.array([s for s, _ in chunk])                    # (B,)
            first = np.array([f for _, f in chunk])                     # (B,)
            w = xp.asarray(ids64[starts[:, None] + offsets])            # (B,L+1)
            logits, _ = model.forward(w[:, :-1], **keep)                # (B,L,V)
            nll = token_nll(logits, w[:, 1:], vocab_limit)              # (B,L)
            # Yalnızca bu pencerenin yeni konumları sayılır (j >= first)
            mask = xp.asarray(positions[None, :] >= first[:, None])     # (B,L)
            total += float(xp.sum(nll * mask, dtype=xp.float64))
            check_finite_output(total, "losses", " on this text")
            count += int(L * len(chunk) - first.sum())
            bar.update(len(chunk))
    finally:
        model.release_activations()
        model.train(was_training)
        bar.close()
    return EvalResult(tokens=count, nll=total, characters=0, windows=len(windows), context=L,
                      stride=stride, vocab_size=vocab_limit or V,
                      seconds=time.perf_counter() - t0)


def encode_for_eval(text: str, tokenizer, unknown: str = "strict",
                    progress: bool | None = False,
                    max_ids: int | None = None) -> tuple[np.ndarray, dict]:
    """Token ids of `text`; characters a character-level tokenizer lacks are an error
    (`unknown="strict"`) or removed (`"skip"`). Returns (ids, {char: count} removed); a
    character NFC forms where one between two is removed ("e©" and a combining cedilla give
    "ȩ") is removed and counted too when the tokenizer lacks it.
    `progress`: encode_corpus's progress bar (a long text). `max_ids`: only the first ids are
    needed; encoding stops once there are at least that many (the unknown characters are
    still looked for, and counted, in the whole text)."""
    if unknown not in ("strict", "skip"):
        raise ValueError(f"unknown must be strict or skip, got {unknown!r}"
                         f"{did_you_mean(unknown, ('strict', 'skip'))}")
    skipped: dict[str, int] = {}
    stoi = getattr(tokenizer, "stoi", None)
    if isinstance(stoi, dict):
        # Karakter sözlüğü NFC biçimindedir; bilinmeyenler tek tek değil, hepsi birden bildirilir
        text = unicodedata.normalize("NFC", text)
        missing = sorted(set(text) - set(stoi))
        if missing:
            skipped = {c: text.count(c) for c in missing}
            if unknown == "strict":
                shown = ", ".join(f"{c!r} ×{n}" for c, n in list(skipped.items())[:10])
                more = f" and {len(skipped) - 10} more" if len(skipped) > 10 else ""
                what = (f"the text has {len(skipped)} character(s) the tokenizer does not "
                        f"know ({shown}{more}); use")
                raise with_command_line_message(
                    ValueError(f"{what} unknown='skip' to leave them out"),
                    f"{what} --unknown skip to leave them out")
            text = text.translate({ord(c): None for c in missing})
            # Atılan bir karakter, iki yanındakileri NFC'de birleştirebilir: "e©" + birleştirici
            # çengel, © atılınca "ȩ" olur. Sözlükte o da yoksa belirteçleyici onu bulup "use
            # --unknown skip" diye dururdu (kullanıcı tam da onu vermişken): birleşen
            # karakter de bilinmiyorsa o da atılır ve sayılır, metin değişmeyene dek
            while True:
                text = unicodedata.normalize("NFC", text)
                joined = sorted(set(text) - set(stoi))
                if not joined:
                    break
                for c in joined:
                    skipped[c] = skipped.get(c, 0) + text.count(c)
                text = text.translate({ord(c): None for c in joined})
    ids = encode_corpus(text, tokenizer, progress=progress, max_ids=max_ids)
    return np.asarray(ids), skipped


def default_split_rule(tokenizer) -> str:
    """How `val`/`train` cut a text that is not a run's own recorded corpus (data.SPLIT_RULES):
    data.split_rule's decision for the tokenizer, the one a new run with it records (by tokens
    for a character-level tokenizer, by characters for any other)."""
    return split_rule(tokenizer)


def evaluate_text(model, tokenizer, text: str, *, split: str = "all", val_fraction: float = 0.1,
                  unknown: str = "strict", max_tokens: int | None = None,
                  split_by: str | None = None, **kwargs):
    """evaluate_ids on the `split` of `text` encoded with `tokenizer`, with the characters
    counted. Returns (EvalResult, {char: count} removed by unknown="skip" from the `split` part
    of the text: all of that part, also where max_tokens scores only its beginning).

    Where `val` and `train` are the last val_fraction of the ids and the rest, a character left
    out counts for the part of the next character kept (for `val` when none is kept after it).
    Where removing them lets NFC join two characters into one (an unknown letter between a
    letter and a combining accent), the ids no longer tell where each removed character was,
    and the whole text's count is given.

    `split_by` says where `val` and `train` part: "tokens" (the last val_fraction of the
    whole text's ids, select_split), "characters" (the text is cut at
    split_point(len(text), val_fraction) characters and each part encoded on its own, as a
    BPE run saved with extra.split_by = "characters" does), None: default_split_rule (by
    characters for a BPE tokenizer, by tokens for a character-level one)."""
    # 2.5 aralık denetimini geçer, bölümü dilimlerken derin bir TypeError verirdi ("slice
    # indices must be integers"); True ise sessizce 1 tahmin sayılırdı
    if max_tokens is not None and not is_integer(max_tokens):
        raise _option_error("max_tokens", f" must be an integer, got {max_tokens!r}")
    if max_tokens is not None and max_tokens < 1:
        raise _option_error("max_tokens", f" must be >= 1, got {max_tokens}")
    max_tokens = None if max_tokens is None else int(max_tokens)
    split_by = split_rule(tokenizer, split_by)       # the trainer's decision (data.split_rule)
    if split != "all" and split_by == SPLIT_BY_CHARACTERS:
        if split not in SPLITS:
            select_split(np.zeros(0, dtype=np.int64), split, val_fraction)   # its error
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        # Metin, eğiticinin bölüp iki parçasını ayrı ayrı kodladığı yerden kesilir: val bölümü
        # tam olarak eğitimin doğrulama kimlikleridir (eğitici de metni olduğu gibi, NFC'ye
        # çevirmeden keser). Yalnızca seçilen parça kodlanır
        c = split_point(len(text), val_fraction)
        text = text[c:] if split == "val" else text[:c]
        split_all = True
    else:
        split_all = split == "all"
    # Bütün metnin ölçüldüğü (split="all") bir değerlendirmede yalnızca ilk max_tokens + 1
    # belirteç gerekir: metnin geri kalanı kodlanmaz (100 MB'lık bir derlemde BPE ile yarım
    # dakika). Karakterlerle bölünen metinde de seçilen parçanın yalnızca gereken başı kodlanır;
    # kimliklerle bölünende (karakter düzeyi, eski BPE eğitimleri) ise val ve train bölümlerinin
    # sınırı bütün metnin belirteç sayısına bağlıdır
    need = max_tokens + 1 if max_tokens is not None and split_all else None
    ids, skipped = encode_for_eval(text, tokenizer, unknown,
                                   progress=kwargs.get("progress", False), max_ids=need)
    part = ids if split_all else select_split(ids, split, val_fraction)
    if skipped and not split_all:
        skipped = _skipped_in_part(text, skipped, ids.size, split, val_fraction)
    if max_tokens is not None:
        part = part[:max_tokens + 1]
    if part.size < 2:
        what = "the text" if split == "all" else f"the {split} part"
        raise ValueError(f"{what} has {part.size} token(s): at least 2 are needed (one to "
                         f"read, one to predict)")
    V = model_vocab_size(model)
    limit = getattr(tokenizer, "vocab_size", None)
    result = evaluate_ids(model, part, vocab_limit=limit if limit and limit < V else None,
                          **kwargs)
    # Karakterler: sayılan hedeflerde (ilk belirteç dışındakilerde) başlayan karakterler, NFC
    # biçiminde (bkz. target_characters)
    result.characters = target_characters(tokenizer, part[1:], before=part[:1])
    return result, skipped


def _skipped_in_part(text: str, skipped: dict, n_ids: int, split: str,
                     val_fraction: float) -> dict:
    """The counts of `skipped` (removed from the whole of `text`, whose other characters gave
    n_ids ids, one each) that lie in its `split` part ("val": after the character of id
    split_point(n_ids) − 1, "train": up to it). `skipped` itself when the ids are not one per
    kept character (see evaluate_text)."""
    # Bilinmeyen karakterler bütün metinden atılır, kimlikler sonra bölünür. Karakter düzeyinde
    # kalan her karaktere bir kimlik düşer (NFC); atılan bir karakter, ondan sonra kalan ilk
    # karakterin bölümüne sayılır: val bölümünün atılan karakterleri, eğitim bölümünün son
    # kimliğinin (k = split_point − 1) metindeki yerinden sonra gelenlerdir. Bir karakter
    # atılınca iki yanındaki karakterler NFC'de birleşip tek karakter olduysa (bir harf, atılan
    # karakter, birleştirici bir işaret) kimlik sayısı kalan karakter sayısından azdır: o zaman
    # hangi atılanın hangi bölümde olduğu kimliklerden bilinemez, bütün metnin sayısı döndürülür
    nfc = unicodedata.normalize("NFC", text)
    points = np.frombuffer(nfc.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    removed = np.isin(points, np.array([ord(c) for c in skipped], dtype=np.uint32))
    kept = np.flatnonzero(~removed)
    if kept.size != n_ids:
        return skipped
    s = split_point(n_ids, val_fraction)
    b = int(kept[s - 1]) + 1 if s > 0 else 0     # the val part's text: after the last train id's
    span = slice(b, None) if split == "val" else slice(0, b)
    found, counts = np.unique(points[span][removed[span]], return_counts=True)
    inside = {chr(int(p)): int(k) for p, k in zip(found, counts)}
    return {c: inside[c] for c in skipped if c in inside}


def target_characters(tokenizer, ids, before=()) -> int:
    """Characters of the text that begin in the tokens `ids` (the predicted targets), counted
    in NFC. `before`: the ids just before them (the part's first, unscored token); a character
    that begins there and is completed in `ids` is not counted.

    A byte-level tokenizer can cut a character into several tokens; the character is counted
    with the token holding its first byte, so the targets of consecutive parts count every
    character of the text once (decoding a part that starts inside a character would count
    each stray continuation byte as a U+FFFD). It also encodes text as it is: an "ş" written
    in NFD (s + a combining cedilla) is two code points, where the character tokenizer counts
    one (it works in NFC); counting in NFC keeps char and BPE models comparable. Such an "ş"
    whose s is the token before the targets and whose cedilla is the first target is one NFC
    character that begins before them: the count is NFC(before + ids) less NFC(before)."""
    ids, before = [int(i) for i in ids], [int(i) for i in before]

    def nfc_length(ids: list[int]) -> int:
        token_bytes = getattr(tokenizer, "token_bytes", None)
        if token_bytes is None:
            # Karakter düzeyinde belirteçleyici: belirteçler bütün karakterlerdir
            text = tokenizer.decode(ids)
        else:
            # UTF-8'de devam baytları 10xxxxxx biçimindedir: baştakiler önceki bir belirteçte
            # başlamış bir karaktere aittir, atılır. Sonda yarım kalan bir karakter burada
            # başlamıştır ve tek bir U+FFFD olarak sayılır.
            data = b"".join(token_bytes(i) for i in ids)
            k = 0
            while k < len(data) and (data[k] & 0xC0) == 0x80:
                k += 1
            text = data[k:].decode("utf-8", errors="replace")
        # NFD yazılmış bir "ş" (s + birleşen çengel) iki kod noktasıdır; karakter
        # belirteçleyicisi onu tek karakter sayar (NFC). Aynı metinde iki modelin karakter
        # başına biti karşılaştırılabilir kalsın diye karakterler NFC'de sayılır
        return len(unicodedata.normalize("NFC", text))
    if not before:
        return nfc_length(ids)
    # Hedeflerden önceki belirteçte başlayan bir karakter (s'si orada, çengeli ilk hedefte olan
    # NFD bir "ş"; iki belirtece bölünmüş bir karakter) sayılmaz: ikisinin birlikte NFC
    # uzunluğundan öncekinin NFC uzunluğu çıkarılır. Tek başına sayılsaydı ilk hedefteki çengel,
    # NFC'de birleşecek bir harfi olmadığından, ayrı bir karakter sayılırdı
    return max(0, nfc_length(before + ids) - nfc_length(before))


# What the error of a named corpus that cannot be had offers in its stead (data.load_text's
# `instead`; its own says "train on", which eval does not)
EVALUATE_A_FILE = "evaluate on any local text file with --data PATH"


def resolve_eval_data(ckpt, hf, data, split):
    """What `nanograd-llm eval` reads: (text, label, split, val_fraction, split_by).

    Without --data, a run directory is evaluated on the corpus it was trained on, by default on
    its validation part (the same ids the trainer held out). Any other text is evaluated whole
    by default: the model has not seen it. `split_by` (evaluate_text's): the run's recorded
    rule (extra.split_by; "tokens" for a run saved before it was recorded) on the run's own
    corpus; None (the tokenizer's default_split_rule) for --hf and for any other text."""
    import warnings

    from .checkpoint import MANIFEST, CheckpointError, find_run_dir, read_manifest
    from .data import EMBEDDED, load_text, text_sha256
    train_cfg, saved_sha = {}, None
    if ckpt is not None:
        m = read_manifest(find_run_dir(ckpt))
        train_cfg = m.get("train_config") or {}
        saved_sha = (m.get("extra") or {}).get("data_sha256")
        saved_split = (m.get("extra") or {}).get("split_by", SPLIT_BY_TOKENS)
    if data is None:
        if ckpt is None:
            raise ValueError("--hf needs --data: a text file or a corpus name to evaluate on")
        if "data" not in train_cfg:
            # Eğiticinin yazmadığı bir denetim noktası (elle save_checkpoint ile): hangi derlemle
            # eğitildiği bilinmiyor; load_text(None) gömülü derlemi verir ve onun val bölümü
            # "kendi verisi" sanılarak ölçülürdü
            raise ValueError(f"{find_run_dir(ckpt)} does not record the corpus it was trained "
                             f"on (no 'data' in its train_config); pass --data PATH|NAME")
        saved = train_cfg.get("data")
        # Elle düzenlenmiş bir bildirimde yol yerine bir liste ya da sayı: "unknown corpus '[]'"
        # iletisi, --data vermemiş kullanıcıya neyin bilinmediğini söylemezdi
        if saved is not None and not isinstance(saved, str):
            raise CheckpointError(f"{find_run_dir(ckpt) / MANIFEST}: 'data' in 'train_config' "
                                  f"must be a path or a corpus name, not {shown(saved)}; pass "
                                  f"--data PATH|NAME")
        try:
            text, label = load_text(saved, instead=EVALUATE_A_FILE)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"{e} (the corpus the run was trained on); pass --data PATH "
                                    f"to evaluate on a file that is there") from None
        except (ValueError, OSError) as e:
            # Kaydedilen değer bir klasör, bilinmeyen bir derlem adı…: ileti, değerin
            # kullanıcının değil eğitimin kaydından geldiğini söyler
            raise ValueError(f"{e} (the corpus the run was trained on, as "
                             f"{find_run_dir(ckpt) / MANIFEST} records it); pass --data "
                             f"PATH|NAME") from None
    else:
        text, label = load_text(data, instead=EVALUATE_A_FILE)
    digest = text_sha256(text) if saved_sha else None
    embedded_run = "data" in train_cfg and train_cfg["data"] in (None, EMBEDDED)
    if ckpt is None:
        own = False
    elif data is None:
        own = True
    elif saved_sha:                     # the same text, wherever it is now
        own = digest == saved_sha
    else:                               # older checkpoints: the same file
        # data=None (ayarın varsayılanı) da gömülü derlemdir: --data embedded onunla eğitilmiş
        # bir eğitimin kendi derlemidir, modelin görmediği başka bir metin değil
        own = same_source(train_cfg.get("data"), data) or (embedded_run and label == EMBEDDED)
    # Gömülü derlem her sürümde yeniden kurulur: yükseltmeden sonra önceki bir sürümün eğitimi
    # başka bir metinle ölçülür. Özeti kaydetmemiş (eski) bir eğitimde bu denetlenemez ve
    # bugünkü metnin val bölümü hiçbir uyarı olmadan eğitimin ayırdığı metin sanılırdı
    copy = ("; pass --data PATH naming a copy of the embedded text of the version that trained "
            "it (nanograd_llm/corpus/turkce_aciklamalar.txt there)")
    if data is None and saved_sha and digest != saved_sha:
        warnings.warn(f"the corpus {label!r} has changed since the run was trained (its sha256 "
                      f"differs): its val part is not the text the run held out"
                      f"{copy if label == EMBEDDED else ''}")
    elif saved_sha and digest != saved_sha and label == EMBEDDED and embedded_run:
        # --data embedded açıkça verildiğinde de söylenir: bugünkü metin başka bir metin olarak
        # (varsayılan olarak bütünüyle) ölçülür, oysa büyük bölümü eğitimin gördüğü metin olabilir
        warnings.warn(f"the run was trained on the embedded corpus of another version (its "
                      f"sha256 differs): this version's embedded text is measured as another "
                      f"text, not the run's own, though much of it may be text the run trained "
                      f"on{copy}")
    elif own and not saved_sha and label == EMBEDDED:
        # (--data embedded açıkça verildiğinde de: eğitimin kendi derlemi sayılır ve val bölümü
        # ölçülür)
        warnings.warn("the run was trained on the embedded corpus by an older version, which did "
                      "not record the text's sha256, and the embedded corpus is rebuilt with "
                      "each version: its val part may not be the text the run held out")
    val_fraction = train_cfg.get("val_fraction", 0.1)
    try:
        if isinstance(val_fraction, bool):
            raise TypeError
        val_fraction = float(val_fraction)
        if not 0.0 < val_fraction < 1.0:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        # OverflowError: float'a sığmayan bir tam sayı (10**400) bir hata izi verirdi. Aralık
        # dışındaki bir değer de burada, dosyanın adıyla reddedilir: select_split'in
        # "val_fraction must be in (0, 1)" iletisi, onu hiç vermemiş kullanıcıya yönelirdi
        raise CheckpointError(f"{find_run_dir(ckpt) / MANIFEST}: 'val_fraction' in "
                              f"'train_config' must be a number in (0, 1), not "
                              f"{shown(val_fraction)}") from None
    split_by = None
    if own:
        # Eğitimin kendi derlemi: bölümler eğitimin kaydettiği kuralla kesilir (alanı olmayan
        # eski bir BPE eğitimi kimliklerle bölmüştü); --split val tam olarak onun doğrulama
        # kimliklerini ölçer
        split_by = saved_split
        if split_by not in SPLIT_RULES:
            raise CheckpointError(f"{find_run_dir(ckpt) / MANIFEST}: 'split_by' in 'extra' "
                                  f"must be one of {', '.join(map(repr, SPLIT_RULES))}, not "
                                  f"{shown(split_by)}")
    return text, label, split or ("val" if own else "all"), val_fraction, split_by


def describe(result: EvalResult, source: str, label: str, split: str) -> str:
    """The human-readable report of `nanograd-llm eval`."""
    what = "the whole text" if split == "all" else f"the {split} part"
    lines = [
        f"model          {source}",
        f"data           {what} of {label!r}: {result.tokens:,} tokens predicted"
        + (f", {result.characters:,} characters" if result.characters else ""),
        f"windows        {result.windows:,} of {result.context} tokens, stride {result.stride}",
        f"loss           {result.loss:.4f} nats/token   (a uniform guess: ln {result.vocab_size}"
        f" = {result.uniform_loss:.4f})",
        # Çok büyük (ama sonlu) bir perplexity .3f ile 300 basamaklı bir sayı olurdu: üslü yazılır
        f"perplexity     {result.perplexity:.3f}" if result.perplexity < 1e9 else
        f"perplexity     {result.perplexity:.4g}" if math.isfinite(result.perplexity) else
        f"perplexity     inf (e^{result.loss:.4f} is beyond a float)",
        f"bits/token     {result.bits_per_token:.4f}",
    ]
    if result.bits_per_char is not None:
        lines.append(f"bits/character {result.bits_per_char:.4f}")
    rate = result.tokens / result.seconds if result.seconds > 0 else float("inf")
    lines.append(f"time           {result.seconds:.1f} s ({rate:,.0f} tokens/s)")
    return "\n".join(lines)
