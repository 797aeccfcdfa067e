"""
# Bigram dil modeli

## Ne yapar?
En basit dil modeli: bir sonraki belirteci **yalnızca şimdiki belirtece** bakarak tahmin
eder. Video dersindeki gibi karakter düzeyinde kullanıldığında her belirteç bir karakterdir.
`V × V` boyutlu bir tablo tutar; `tablo[a, b]`, `a`'dan sonra `b` gelmesinin logitidir
(normalize edilmemiş log-olasılık). Eğitim sonunda tablonun her satırı, o karakterden sonra
gelen karakterlerin sayımlarının logaritmasına (satır başına bir sabit farkla) yaklaşır:
"q'den sonra genelde u gelir" gibi.

Bağlam yoktur: "th" ve "sh"'den sonra gelecek karakter için model aynı şeyi söyler, çünkü
yalnızca "h"yi görür. GPT'nin dikkat katmanları tam olarak bu eksikliği giderir.

## İleri geçiş
    logits[b, t, :] = tablo[idx[b, t], :]           (gömme katmanı, C = V)
    kayıp = çapraz_entropi(logits, hedefler)

## Şekiller
| ad       | şekil     |
|----------|-----------|
| `idx`    | (B, T)    |
| `tablo`  | (V, V)    |
| `logits` | (B, T, V) |

## Geri yayılım
1. Çapraz entropinin geri geçişi: `dlogits = (softmax(logits) − onehot(hedef)) / M`
   (`M = B·T`, toplam konum sayısı).
2. Gömmenin geri geçişi: `dtablo[a] = Σ_{idx[b,t]=a} dlogits[b, t]` (scatter-add).

`a` karakteri toplu işte `n_a` kez girdi olmuşsa ve ardından `N[a, b]` kez `b` gelmişse,
bu toplam şudur:

    dtablo[a, b] = (n_a / M) · ( softmax(tablo[a])[b] − N[a, b] / n_a )

yani `a`'nın toplu işteki payıyla ağırlıklandırılmış "modelin a'dan sonra b'ye verdiği
olasılık eksi a'dan sonra b'nin gözlenen sıklığı". Satırın softmax'ı gözlenen dağılıma eşit
olduğunda gradyan sıfırdır; gradyan inişi tahmini bu sıklıklara yaklaştırır.

Gradyan denetimi: `tests/test_models.py::test_bigram_gradcheck`.
"""
from __future__ import annotations

import numpy as np

from ..backend import is_integer, to_numpy
from ..layers.cross_entropy import cross_entropy_backward, cross_entropy_forward
from ..layers.embedding import embedding_backward, embedding_forward
from .base import ParamModel

# Boyutlar: B = toplu iş, T = dizi uzunluğu, V = sözlük boyutu


class BigramLM(ParamModel):
    """logits = table[idx]; the tutorial's bigram with a hand-written backward.

    BigramLM(vocab_size, seed=0, dtype="float32", device="cpu"): one (V, V) table, drawn from
    `seed`, whose row i holds the logits of the token after token i.
    """

    kind = "bigram"
    # Sonraki belirtecin puanları yalnızca son belirtece bağlıdır: üretimde (generate.py) her
    # adımda bütün diziyi değil, yalnızca son belirteci vermek yeter
    context_window = 1

    def __init__(self, vocab_size: int, seed: int = 0, dtype="float32", device: str = "cpu",
                 *, init_weights: bool = True):
        """init_weights=False: a zero table instead of a drawn one, for a loader that
        overwrites it (see ParamModel)."""
        self.vocab_size = V = self.param_shapes(vocab_size)["token_embedding.weight"][0]
        self.block_size = None   # bağlam sınırı yok: her konum yalnızca kendine bakar
        specs = [("token_embedding.weight", (V, V),
                  lambda rng, s: rng.standard_normal(s) * 0.02)]
        super().__init__(specs, seed=seed, dtype=dtype, device=device,
                         init_weights=init_weights)
        self._cache = None

    @staticmethod
    def param_shapes(vocab_size: int, dtype=None, device: str = "cpu") -> dict:
        """name -> shape of the parameters a BigramLM(vocab_size) has, without building it
        (ValueError for a vocab_size it would refuse; dtype and device: as GPT.param_shapes
        takes them, unused: the one shape costs nothing to list)."""
        # int(65.9) sessizce 65 olurdu: yalnızca tam sayılar (GPTConfig'deki gibi)
        if not is_integer(vocab_size) \
                or vocab_size < 1:
            raise ValueError(f"vocab_size must be a positive integer, got {vocab_size!r}")
        V = int(vocab_size)
        return {"token_embedding.weight": (V, V)}

    def config_dict(self) -> dict:
        """{"model": "bigram", "vocab_size": V}: what a checkpoint records to rebuild it."""
        return {"model": "bigram", "vocab_size": self.vocab_size}

    def forward(self, idx, targets=None):
        """Returns (logits (B, T, V), loss or None)."""
        idx = self._check_idx(idx, self.vocab_size, None)
        # Gömme: her belirtecin tablo satırı doğrudan sonraki belirtecin logitleridir
        logits, c_emb = embedding_forward(idx, self.params["token_embedding.weight"])  # (B,T,V)
        loss = c_ce = None
        if targets is not None:
            targets = self._check_idx(targets, self.vocab_size, None, "targets")
            if targets.shape != idx.shape:
                raise ValueError(f"targets shape {tuple(targets.shape)} != idx shape {tuple(idx.shape)}")
            loss, c_ce = cross_entropy_forward(logits, targets)
        self._cache = (c_emb, c_ce)
        return logits, loss

    def backward(self, accumulate: bool = False) -> dict:
        """Gradients of the last forward's loss, keyed like params (views into grad_flat)."""
        if self._cache is None or self._cache[1] is None:
            raise RuntimeError("backward() needs a forward(idx, targets) with targets first")
        c_emb, c_ce = self._cache
        # İleri geçişte: `kayıp = CE(logits, hedefler)` → bu yüzden
        # `dlogits = (softmax(logits) − onehot(hedefler)) / M`
        dlogits = cross_entropy_backward(1.0, c_ce)                   # (B,T,V)
        # İleri geçişte: `logits = tablo[idx]` → bu yüzden `dtablo[idx[b,t]] += dlogits[b,t]`
        # (scatter-add: tekrarlanan kimliklerin katkıları toplanır)
        dtable = embedding_backward(dlogits, c_emb)                   # (V,V)
        return self._store_grads({"token_embedding.weight": dtable}, accumulate)

    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0, seed=None):
        """Sample tokens one at a time (the bigram only ever looks at the last token).

        idx: (T,) or (B, T) ids; returns a host int64 array (B, T + max_new_tokens), the
        prompt followed by the new tokens. temperature must be > 0 and seed None or an integer
        >= 0; for greedy decoding, top_k or top_p use nanograd_llm.generate.generate(model,
        idx, ...), which takes a BigramLM too.
        """
        from ..generate import _number, check_seed
        # generate()'in denetimleri: 2.5 ya da "3" gibi bir sayı, range() ya da `<`
        # karşılaştırmasının anlaşılmaz TypeError'ıyla, seed=-1 NumPy'ın içinden düşerdi
        if not is_integer(max_new_tokens) \
                or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
        check_seed(seed)
        # Sayı olmayan bir sıcaklık ("1", None) `<` karşılaştırmasının TypeError'ıyla, float'a
        # sığmayan bir tam sayı (10**400) OverflowError ile düşer, True ise 1 sayılırdı:
        # generate()'teki gibi önce bir sayı olduğu denetlenir
        t = _number("temperature", temperature, "a finite number > 0")
        if not 0 < t < float("inf"):                      # NaN da buradan geçmez
            raise ValueError(f"the bigram sampler needs a finite temperature > 0, "
                             f"got {temperature!r}")
        temperature = t
        # Ana bellekteki kimlikler orada denetlenir ve kalır (aygıta gidip geri okunmaz);
        # aygıttaki kimlikler bir kez okunur
        idx = np.asarray(to_numpy(self._check_idx(idx, self.vocab_size, None, move=False)))
        rng = np.random.default_rng(seed)
        table = np.asarray(to_numpy(self.params["token_embedding.weight"]), dtype=np.float64)
        out = [idx]
        last = idx[:, -1]
        for _ in range(max_new_tokens):
            z = table[last]                                           # (B, V)
            # Önce en büyüğü çıkar, sonra sıcaklığa böl: çok küçük bir sıcaklıkta bölüm taşıp
            # inf − inf = NaN vermesin (en büyük puan 0 olur, ötekiler −∞'a gider)
            with np.errstate(over="ignore"):                          # −∞'a taşma beklenir
                z = (z - z.max(axis=1, keepdims=True)) / temperature
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            last = np.array([rng.choice(self.vocab_size, p=row) for row in p])
            out.append(last[:, None])
        return np.concatenate(out, axis=1)
