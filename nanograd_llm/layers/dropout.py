"""
# Dropout (ters ölçekli / inverted)

## Ne yapar?
Eğitim sırasında her öğeyi `p` olasılıkla sıfırlar. Ağ tek bir nörona güvenemediği için
daha dağıtık, daha iyi genelleşen temsiller öğrenir (aşırı öğrenmeyi/overfitting azaltır).
Kalan öğeler `1/(1−p)` ile büyütülür ("inverted dropout"); böylece çıktının beklenen
değeri girdiyle aynı kalır ve **değerlendirme (eval) modunda hiçbir şey yapmak gerekmez**:
katman orada birim (identity) fonksiyondur. `p = 0` iken de birimdir.

## İleri geçiş
    m_i ~ Bernoulli(1 − p)        (tutulacak mı?)
    out = x ⊙ m / (1 − p)

## Şekiller
| ad    | şekil                                              |
|-------|----------------------------------------------------|
| `x`   | herhangi; ör. (B, T, C) ya da dikkatte (B, nh, T, T) |
| `m`   | `x` ile aynı (önbellekte bool)                     |
| `out` | `x` ile aynı                                       |

## Geri yayılım
1. `out = x ⊙ s`, burada `s = m/(1−p)` rastgele ama **sabit** bir ölçek vektörüdür.
2. Bu yüzden `dx = dout ⊙ s`: ileri geçişte hangi öğe düşürüldüyse geri geçişte de onun
   gradyanı sıfırdır. Bunu sağlamak için maske önbellekte (cache) saklanır; geri geçişte
   yeni bir maske çekmek yanlış olurdu.
3. Önbellekte `m` bool (öğe başına 1 bayt) olarak durur, `c = 1/(1−p)` ise verinin
   türünde tek bir sayıdır: `s`'yi verinin türünde saklamak öğe başına 4 (float32) ya da
   8 (float64) bayt, dikkat ağırlıklarında (B, nh, T, T) bool maskenin 4 ya da 8 katı bellek
   isterdi. Çarpım iki adımdır: önce `x ⊙ m` (bool değerler 1 ya da 0 olarak çarpılır),
   sonra sonuç yerinde `c` ile çarpılır. Sonuç, `x ⊙ s` ile bit bit aynıdır: tutulan öğede
   `(x·1)·c = x·c`, düşürülende `(x·0)·c = x·0` (işaretli sıfır ve NaN da aynı kalır; `c`
   pozitif ve sonludur).

## Rastgele sayılar nereden gelir? (CPU'da satır üreteçleri)
Maske, modelin üretecinden (`model.rng`) çekilir. CPU'da eğitim adımı toplu işi çekirdek
sayısı kadar parçaya bölebilir (veri paralelliği, bkz. models/gpt.py); her parça kendi
maskelerini çekeceği için, sayılar tek bir üreteçten sırayla alınsaydı maskeler parça
sayısına, yani makinenin çekirdek sayısına bağlı olurdu. Bu yüzden CPU'da her ileri geçişte
toplu işin her satırı (her örnek) kendi üretecini alır (`RowGenerators`: modelin üretecinden
çekilen tek bir tohumdan türetilir); bir parça yalnızca kendi satırlarının üreteçlerini
kullanır. Aynı tohumla eğitim, kaç iş parçacığında çalışırsa çalışsın aynı öğeleri düşürür
(`tests/test_data_parallel.py::test_dropout_does_not_depend_on_the_thread_count`). GPU'da
toplu iş bölünmez; maske tek çağrıyla bütün toplu iş için çekilir.

Gradyan denetimi (sabit maskeyle): `tests/test_layers.py::test_dropout_gradcheck`.
PyTorch ile karşılaştırma (ileri ve geri geçiş):
`tests/test_layers_torch.py::test_dropout_with_a_fixed_mask`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..backend import get_array_module

# Boyutlar: işlem öğe düzeyindedir; `x` herhangi bir şekilde olabilir, ör. (B, T, C) ya da
# dikkat ağırlıklarında (B, nh, T, T). Maske `x` ile aynı şekildedir.


class DropoutCache(NamedTuple):
    """What dropout_forward keeps for dropout_backward."""

    # Maske m (bool: tutulan öğe True) ve 1/(1−p) (verinin türünde tek bir sayı); ya da
    # dışarıdan verilmiş bir 0 / 1/(1−p) ölçeği (o zaman factor None); birim fonksiyonda None
    mask: Any
    factor: Any = None

    @property
    def scale(self):
        """The scale m/(1-p) as an array of the data's dtype (None for the identity)."""
        if self.mask is None or self.factor is None:
            return self.mask
        return self.mask * self.factor

    def apply(self, a):
        """a ⊙ m/(1-p): a new array, bit for bit the product with the scale."""
        if self.mask is None:
            return a
        out = a * self.mask
        if self.factor is not None:
            out *= self.factor
        return out


class RowGenerators:
    """A dropout generator (CPU) that draws each batch row from that row's own generator.

    Every `random(shape, dtype)` call of a training forward asks for a (B, …) array; row b of
    it comes from generator b. A part of the batch (`rows(slice(a, b))`, data parallelism)
    therefore draws exactly the numbers the whole batch draws for those rows, however the batch
    is split: the masks do not depend on the thread count.
    """

    def __init__(self, gens):
        self.gens = tuple(gens)

    @classmethod
    def spawn(cls, rng, n: int) -> "RowGenerators":
        """n independent row generators, seeded by one number drawn from `rng`."""
        # Tohum `rng.random` ile çekilir (float64'ün bitleri): modelin üreteci yerine geçen
        # ReplayRandom (cuda_graph.py) yalnızca `random`'ı bilir
        seed = int(rng.random((1,), dtype=np.float64).view(np.uint64)[0])
        return cls(np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n))

    def rows(self, sl: slice) -> "RowGenerators":
        """The generators of the rows in `sl` (one data-parallel part)."""
        return RowGenerators(self.gens[sl])

    def random(self, size, dtype=np.float64):
        """Uniform [0, 1) numbers of shape `size`, row b from generator b (as Generator.random)."""
        shape = tuple(size)
        if not shape or shape[0] != len(self.gens):
            raise ValueError(f"row generators for {len(self.gens)} rows cannot draw {shape}")
        out = np.empty(shape, dtype=dtype)
        # Satır b, b. üreteçten; doğrudan çıktıya çekilir (ara dizi yok, aynı sayılar)
        for gen, row in zip(self.gens, out.reshape(shape[0], -1)):
            gen.random(dtype=dtype, out=row)
        return out


def dropout_mask(shape, p: float, rng, xp, dtype):
    """A float mask holding 0 or 1/(1-p), drawn from `rng` (a generator on the data's device)."""
    keep = rng.random(shape, dtype=dtype) >= p   # True olasılığı 1 − p
    mask = keep.astype(dtype)
    mask *= 1.0 / (1.0 - p)                       # Python float: dtype korunur (float32 kalır)
    return mask


def dropout_cache(shape, p: float, rng, train: bool, xp, dtype) -> DropoutCache:
    """The cache of a dropout on an input of `shape`: the kept elements (drawn from `rng`) and
    1/(1-p), or DropoutCache(None) where dropout is the identity (p == 0 or train is False).
    Checks p and that a generator is given."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if p == 0.0 or not train:
        return DropoutCache(None)
    if rng is None:
        raise ValueError("dropout with p > 0 in training mode needs a random generator")
    keep = rng.random(shape, dtype=dtype) >= p    # True olasılığı 1 − p
    # 1/(1−p) verinin türünde: eskiden maskeyle çarpılan Python float'u da bu türe çevriliyordu
    return DropoutCache(keep, np.dtype(dtype).type(1.0 / (1.0 - p)))


def dropout_forward(x, p: float, rng=None, train: bool = True, mask=None):
    """Inverted dropout. `mask` (0 or 1/(1-p) values) may be given to fix the pattern; else
    `rng` (a generator on x's device) draws it, and is required when p > 0 in training.

    Identity when p == 0 or train is False. Returns (out, cache).
    """
    if mask is None:
        cache = dropout_cache(x.shape, p, rng, train, get_array_module(x), x.dtype)
    elif not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    else:
        cache = DropoutCache(mask)                # verilen ölçek olduğu gibi kullanılır
    if cache.mask is None:
        return x, cache
    return cache.apply(x), cache


def dropout_backward(dout, cache: DropoutCache):
    """Returns dx."""
    if cache.mask is None:
        # İleri geçişte: `out = x` (birim fonksiyon) → bu yüzden `dx = dout`
        return dout
    # İleri geçişte: `out = x ⊙ m/(1−p)` → bu yüzden `dx = dout ⊙ m/(1−p)` (aynı maske)
    return cache.apply(dout)
