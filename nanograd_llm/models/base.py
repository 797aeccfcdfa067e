"""
# Parametre deposu: modellerin ortak altyapısı

Modeller veriyi tutar, katmanlar matematiği yapar. Bir modelin bütün parametreleri tek
bir düz (1-B) dizide, gradyanları da aynı düzende ikinci bir düz dizide durur (bu ikinci dizi
ilk geri geçişte ayrılır: yalnızca örnekleyen bir model onu hiç tutmaz);
`params["wte.weight"]` gibi her ad, bu düz dizinin bir **görünümüdür** (view, kopya değil).
Bunun yararı:

* AdamW güncellemesi, gradyanların sıfırlanması ve gradyan normu, ~50 ayrı dizi yerine
  birkaç bütün-dizi işlemiyle yapılır (CPU'da Python döngüsü, GPU'da çekirdek başlatma
  maliyeti azalır).
* Ağırlık azaltma (weight decay) yalnızca 2-B ağırlık matrislerine uygulanır; düz dizide
  bu parametreler **başa** dizildiği için azaltma tek bir dilime (`flat[:n_decay]`) uygulanır.
* Aygıta taşıma tek bir kopyadır.

**Bellek ayırıcı ayarı (yalnızca Linux/glibc, CPU):** Her eğitim adımı aynı boyutlarda
onlarca ara dizi ayırır ve bırakır. glibc, bırakılan belleği varsayılan olarak işletim
sistemine geri verir: büyük diziler `mmap` ile ayrılıp `munmap` ile geri verilir, yığının
(heap) boş kalan tepesi kırpılır. Bir sonraki adım aynı belleği yeniden ister ve her sayfa
yeniden bir "sayfa hatası" (page fault) ile, işletim sistemi çekirdeği tarafından sıfırlanarak
gelir. Bu, hesap değil saf kayıptır: küçük modelde (baby) adımı yaklaşık %30 uzatıyordu
(148 → 193 ms); shakespeare ayarında adım başına 40–130 bin sayfa hatası ve 2–3,5 saniyelik
(ilk adımda 5,7) sistem (sys) süresi ölçüldü; bu, iki CPU çekirdeğinde adımın yaklaşık %10'u
eder (bkz. benchmarks/RESULTS.md).

Bu yüzden ilk model kurulurken `mallopt` ile glibc'ye üç şey söylenir:

* `M_MMAP_MAX = 0`: hiçbir dizi `mmap` ile ayrılmasın, hepsi yığından gelsin (glibc'nin
  `mmap` eşiği en fazla 32 MiB olabiliyor; shakespeare'in 50–100 MB'lık dikkat matrisleri
  bu eşiğin üstünde kalıyordu);
* `M_ARENA_MAX = 1`: bütün iş parçacıkları tek yığını (arena) paylaşsın; yoksa veri
  paralelliğinin iş parçacıkları kendi küçük yığınlarını açar ve bırakılan bellek bir
  yığından ötekine geçemez (ölçülen: tepe bellek ~450 MiB daha yüksek, sayfa hataları sürüyor);
* `M_TRIM_THRESHOLD = -1`: yığının tepesi hiç kırpılmasın.

Böylece bir adımın bıraktığı bellek süreçte kalır ve sonraki adımda sayfa hatası olmadan
yeniden kullanılır (ölçülen: adım başına ~0 sayfa hatası, sys süresi ~0). Bedeli: süreç,
ulaştığı en yüksek bellek miktarını işletim sistemine geri vermez (eğitim süreci için zaten
tepe değer gereklidir). Hesaplanan sayılar değişmez. `NANOGRAD_LLM_MALLOC_TUNING=0` ortam
değişkeni bu ayarı kapatır.

Ağırlıklar her zaman CPU'da, tohumlanmış bir `numpy.random.Generator` ile, parametre
adlarının sırasıyla üretilir; sonra istenen aygıta taşınır. Aynı tohum her iki arka uçta da
aynı modeli verir.
"""
from __future__ import annotations

import contextlib
import copy
import math
import os
from typing import Callable

import numpy as np

from ..backend import (as_float_dtype, check_device, copy_rng, device_memory, device_rng,
                       get_array_module, host_rng, is_integer, shown, to_numpy, xp_for)

_MALLOC_TUNED = False


def tune_host_allocator() -> bool:
    """Keep freed memory in the process (glibc only): no page faults per training step.

    Sets M_MMAP_MAX to 0 (every array comes from the heap), M_ARENA_MAX to 1 (one heap shared
    by all threads, so memory freed by one data-parallel worker is reused by the other) and
    M_TRIM_THRESHOLD to -1 (the heap is never trimmed). Done once per process, when the first
    model is built; a no-op elsewhere or with NANOGRAD_LLM_MALLOC_TUNING=0. Returns True when
    the settings were applied. The process keeps its peak memory until it exits.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return True
    import os
    import sys
    if os.environ.get("NANOGRAD_LLM_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):   # glibc olmayan sistemler (ör. musl)
        return False
    M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8     # glibc'nin malloc.h sabitleri
    # mmap kapalı: büyük diziler de yığından gelir ve bırakılınca yığında kalır
    ok = mallopt(M_MMAP_MAX, 0) == 1
    # Tek arena: iş parçacıklarının bıraktığı bellek ortak havuza döner
    ok = mallopt(M_ARENA_MAX, 1) == 1 and ok
    # Kırpma yok: yığının boş tepesi işletim sistemine geri verilmez (-1: hiçbir zaman)
    ok = mallopt(M_TRIM_THRESHOLD, -1) == 1 and ok
    _MALLOC_TUNED = ok
    return ok


# İlklendirme fonksiyonu: (rng, shape) -> float64 numpy dizisi
InitFn = Callable[[np.random.Generator, tuple], np.ndarray]


def physical_memory() -> int | None:
    """The machine's memory in bytes, or None where the OS does not say (no sysconf)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def count_text(n, grouped: bool = True) -> str:
    """A count (parameters, GiB) for a message: with thousands separators (grouped=False: as
    a setting is typed, 50257) below 10**15, in scientific notation from there (2.4e+89), also
    for an integer larger than a float holds."""
    # Elle düzenlenmiş bir config.json'daki vocab_size=3e88 gibi bir değerle ileti doksan
    # basamaklı sayılar yazardı; float'a sığmayan bir değer (10**400) ise bayt sayısı GiB'a
    # bölünürken OverflowError hata izi verirdi. 10**15'ten büyük sayılar bilimsel gösterimle
    # kısa yazılır
    try:
        f = float(n)
    except OverflowError:
        # Decimal bir tam sayıyı tam olarak tutar ve doğru yuvarlar: 9,99·10⁴⁰⁰ "1.0e+401"
        # olur (log10 ile ayrı hesaplanan bir çarpan "10.0e+400" yazıyordu)
        from decimal import Decimal
        return f"{Decimal(int(n)):.1e}"
    if abs(f) < 1e15:
        return (f"{n:,}" if grouped else f"{n}") if isinstance(n, (int, np.integer)) \
            else f"{f:,.1f}"
    return f"{f:.1e}"


def _gib(nbytes) -> str:
    """nbytes in GiB for a message (count_text), also for an integer no float holds."""
    if isinstance(nbytes, int) and nbytes.bit_length() > 1000:
        return count_text(nbytes >> 30)
    return count_text(nbytes / 2**30)


def check_grad_shape(name: str, g, view) -> None:
    """A ValueError naming the parameter when a backward gave it a gradient of another shape."""
    # Gradyan belleğine `view[...] = g` ile yazılır: yanlış şekilli bir gradyan bu denetim
    # olmadan ya yayınlanarak (broadcast) sessizce yazılırdı ya da hangi parametrenin olduğu
    # söylenmeden "could not broadcast" hatası verirdi
    if tuple(g.shape) != tuple(view.shape):
        raise ValueError(f"backward gave {name} a gradient of shape {tuple(g.shape)}, the "
                         f"parameter's shape is {tuple(view.shape)}")


class ModelTooLargeError(MemoryError):
    """check_fits_in_memory's refusal: the weights alone (or the training state) of the model
    need more than the machine's memory, whatever batch_size and block_size are. `advice`:
    what the caller can change (None: the CLI's general advice, a smaller model);
    `command_line_advice`: the same in the command line's words, which cli.report_errors
    prints (None: `advice` is said the same way to both)."""

    def __init__(self, message: str, advice: str | None = None,
                 command_line_advice: str | None = None):
        super().__init__(message)
        self.advice = advice
        self.command_line_advice = command_line_advice


@contextlib.contextmanager
def advice_when_too_large(advice: str):
    """A ModelTooLargeError raised inside gets `advice` (unless its raiser gave one): a loader
    says what its user can change, which is not the model's settings."""
    try:
        yield
    except ModelTooLargeError as e:
        if e.advice is None:
            e.advice = advice
        raise


# What a new training run that ran out of memory can change (its key=value settings)
TRAIN_MEMORY_ADVICE = "use a smaller batch_size, block_size or model (n_layer, n_embd)"


@contextlib.contextmanager
def advice_when_out_of_memory(advice: str, command_line_advice: str | None = None):
    """A MemoryError raised inside (an allocation that failed; a ModelTooLargeError keeps its
    own advice) gets `advice` as its `advice` attribute unless it has one: what the user of
    this command can change (the CLI's error line shows it, or `command_line_advice` when
    given: the same in the command line's words, e.g. --overwrite for overwrite=True)."""
    try:
        yield
    except ModelTooLargeError:
        raise
    except MemoryError as e:
        if getattr(e, "advice", None) is None:
            try:
                e.advice, e.command_line_advice = advice, command_line_advice
            except AttributeError:      # an exception type without attributes of its own
                pass
        raise


def check_fits_in_memory(n_params: int, dtype, what: str, copies: int = 1,
                         purpose: str = "to build", advice: str | None = None,
                         device: str = "cpu", command_line_advice: str | None = None) -> None:
    """MemoryError before anything is allocated when the weights alone (`copies` arrays of
    their size: 4 to train, see train.py) need more than the machine's memory (device="cuda":
    the GPU's free memory): a typo such as n_layer=1e6 fails at once instead of allocating
    layer after layer. `advice`, `command_line_advice`: see ModelTooLargeError."""
    # Kurmak yalnızca ağırlıkların düz dizisini ister: gradyan dizisi ilk geri geçişte ayrılır
    # (yalnızca örnekleyen bir model onu hiç tutmaz), float64 ilk değerler de parametre
    # parametre üretilip bırakılır (ParamModel.__init__)
    need = n_params * copies * as_float_dtype(dtype).itemsize
    if device == "cuda":
        # GPU'daki diziler ana bellekte değil, GPU'nun belleğindedir: bakılan, GPU'nun şimdi
        # boş olan belleğidir (başka süreçlerin tuttuğu bellek düşülmüş; CuPy'ın havuzunda bu
        # sürecin bırakıp yeniden kullanabileceği bloklar boş sayılır, backend.device_memory)
        mem = device_memory()
        if mem and need > mem[0]:
            raise ModelTooLargeError(f"{what} has about {count_text(n_params)} parameters, "
                                     f"which need over {_gib(need)} GiB {purpose}; the GPU "
                                     f"has {_gib(mem[0])} GiB free (of {_gib(mem[1])} GiB)",
                                     advice, command_line_advice)
        return
    total = physical_memory()
    if total and need > total:
        raise ModelTooLargeError(f"{what} has about {count_text(n_params)} parameters, which "
                                 f"need over {_gib(need)} GiB {purpose}; this machine has "
                                 f"{_gib(total)} GiB", advice, command_line_advice)


def check_weights_fit(n_params: int, dtype, what: str, device: str = "cpu",
                      init_weights: bool = True) -> None:
    """check_fits_in_memory for building a model's weights on `device`: a GPU model drawn
    from the seed (init_weights) is drawn on the host first, so both memories must hold it;
    one a loader fills (init_weights=False) is made on the GPU, a tensor at a time."""
    # Bir yükleyici (load_hf, load_checkpoint) GPU'ya tensör tensör kopyalar: ana bellekte
    # ağırlıkların tamamı hiç durmaz. 128 GB'lık bir makinedeki H200 (141 GB) sığdırabileceği
    # bir modeli ana belleğe göre reddederdi; GPU'ya sığmayan bir model de önceden değil,
    # ayırma sırasında düşerdi
    if device != "cuda" or init_weights:
        check_fits_in_memory(n_params, dtype, what)
    if device == "cuda":
        check_fits_in_memory(n_params, dtype, what, device="cuda")


class DeferredArray:
    """An array still in its file: its shape and dtype (from the file's header) are known, its
    values are read by read() when load_state_dict copies it into the model, one at a time."""

    # Bir klasörün bütün tensörlerini önce okuyup sonra modele kopyalamak, ağırlıkların bir
    # kopyasını daha (GPT-2 small'da 0,5 GB) bellekte tutardı. Adlar, şekiller ve türler dosya
    # başlıklarından denetlenir; değerler kopyalanırken tek tek okunur ve hemen bırakılır.
    __slots__ = ("shape", "dtype", "read")

    def __init__(self, shape, dtype, read: Callable[[], np.ndarray]):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.read = read

    @classmethod
    def of(cls, arr: np.ndarray) -> "DeferredArray":
        """An array already read, in the same wrapper."""
        return cls(arr.shape, arr.dtype, lambda: arr)

    def rows(self, n: int) -> "DeferredArray":
        """The first n rows (read with the rest, then cut)."""
        return DeferredArray((n,) + self.shape[1:], self.dtype, lambda: self.read()[:n])


def check_state_dict(shapes: dict, state: dict, source: str = "state dict") -> None:
    """The refusals of load_state_dict, given the model's shapes (name -> shape, in the order
    of its params): missing or unexpected names, then a tensor of the wrong shape."""
    missing = [k for k in shapes if k not in state]
    extra = [k for k in state if k not in shapes]
    if missing or extra:
        raise ValueError(
            f"{source} does not match the model: missing {missing[:5]}"
            f"{'…' if len(missing) > 5 else ''}, unexpected {extra[:5]}"
            f"{'…' if len(extra) > 5 else ''}")
    # Liste (ör. JSON'dan okunmuş) ya da başka bir kütüphanenin tensörü de kabul edilir
    # (`.shape`'i olmayan bir listede AttributeError alınıyordu)
    for k, want in shapes.items():
        shape = tuple(np.shape(state[k]))
        if shape != tuple(want):
            raise ValueError(f"{source}: tensor {k!r} has shape {shown(shape)}, "
                             f"the model expects {shown(tuple(want))}")


class ParamViews(dict):
    """`model.params` / `model.grads`: name -> a view into the model's flat buffer. The arrays
    are changed in place (`model.params[name][...] = value`); binding a name to another array
    is a TypeError."""

    # `model.params["wte.weight"] = yeni_dizi` sözlükteki görünümü düz diziden koparırdı: blok
    # parametreleri için ileri geçiş yeni diziyi hiç görmez (bloklar görünümleri önceden
    # toplar), wte için ise ileri geçiş yeni diziyi kullanır ama AdamW düz diziyi günceller;
    # iki durumda da eğitim ya da yükleme sessizce etkisiz kalırdı. Adlar bu yüzden yeniden
    # bağlanamaz; değerler yerinde değiştirilir.
    __slots__ = ("what",)

    def __init__(self, views: dict, what: str):
        super().__init__(views)
        self.what = what

    def _refuse(self, *args, **kwargs):
        """Refused with a TypeError: the names and their views are fixed (change the arrays
        in place instead)."""
        raise TypeError(f"model.{self.what} holds views into the model's flat buffer: change "
                        f"an array in place (model.{self.what}[name][...] = value); binding a "
                        f"name to another array would detach it from the model and the "
                        f"optimizer")

    __delitem__ = update = pop = popitem = clear = setdefault = __ior__ = _refuse

    def __setitem__(self, name, value):
        # `model.params[ad] -= lr * g` (elle yazılmış SGD) diziyi yerinde değiştirir, sonra aynı
        # nesneyi aynı ada yeniden bağlar: buna izin verilir
        if value is not dict.get(self, name):
            self._refuse()

    def __reduce__(self):
        return (dict, (dict(self),))        # kopyası (pickle, deepcopy) düz bir sözlüktür


_UNMADE = object()   # grad_flat before its first use: no value is it, so binding is refused


def _pending_seed(seed, xp):
    """The seed the dropout generator will be built from later (ParamModel.rng), taken now:
    checked as the generator would check it (same errors, at the call), a list or array
    copied (changing it afterwards changes nothing), None (fresh entropy) drawn now."""
    # Üreteç ilk çekilişte kurulur (`rng`), tohum ise verildiği anda alınır: üreteç hemen
    # kurulsaydı nasıl olacaksa öyle. Tohum şimdi denetlenir (negatif ya da tam sayı olmayan
    # bir tohumun hatası sonraki bir ileri geçişte değil, bu çağrıda verilir); bir liste
    # kopyalanır (sonradan değiştirilmesi maskeleri değiştirmez); None'ın rastgele tohumu şimdi
    # çekilir (modelin bir kopyası, deepcopy, asıl modelin çekeceği sayıların aynısını çeker)
    if seed is None:
        return int(np.random.SeedSequence().entropy)
    if not (xp is np and isinstance(seed, (np.random.SeedSequence, np.random.BitGenerator,
                                           np.random.Generator))):
        np.random.SeedSequence(seed)            # üreteç kurulurken yapılacak denetim
    if isinstance(seed, (list, np.ndarray)):
        seed = copy.deepcopy(seed)
    return seed


class ParamModel:
    """Holds named parameters as views into one flat buffer, and gradients likewise."""

    def __init__(self, specs: list[tuple[str, tuple, InitFn]], seed: int = 0,
                 dtype="float32", device: str = "cpu", *, init_weights: bool = True):
        """init_weights=False: the weights are zeros instead of drawn from the seed, for a
        loader that overwrites every one of them at once (load_state_dict); the seed,
        model.rng and everything else are the same."""
        # GPT(cfg, seed=-1) ya da seed=1.5, NumPy'ın tohum kodunun derinlerinden, argümanın
        # adını vermeyen bir hatayla ("expected non-negative integer") düşerdi
        if seed is not None and (not is_integer(seed)
                                 or seed < 0):
            raise ValueError(f"seed must be an integer >= 0 (or None for a random one), got "
                             f"{seed!r}")
        self.dtype = as_float_dtype(dtype)
        self.device = check_device(device)
        check_weights_fit(sum(math.prod(shape) for _, shape, _ in specs), self.dtype,
                          f"the {type(self).__name__} model", self.device, init_weights)
        tune_host_allocator()
        self.seed = seed
        self.training = True
        # Düzen: 2-B ve üstü (ağırlık azaltması uygulanan) parametreler önce. Düzen yalnızca
        # şekillerden kurulur; değerler üretilmeden önce bilinir
        shapes = {name: tuple(int(d) for d in shape) for name, shape, _ in specs}
        order = [n for n, s, _ in specs if len(s) >= 2] + [n for n, s, _ in specs if len(s) < 2]
        self.layout = []
        offset = 0
        for name in order:
            shape = shapes[name]
            size = int(np.prod(shape))
            self.layout.append((name, offset, shape))
            offset += size
        self.n_decay = sum(int(np.prod(s)) for n, _, s in self.layout if len(s) >= 2)
        self._param_names = [n for n, _, _ in specs]
        if not init_weights:
            # Yükleyici (load_hf, load_checkpoint) her ağırlığın üzerine hemen yazar: float64
            # ilk değerleri üretmek boşuna zaman (GPT-2 small'da 124 milyon normal sayı) ve
            # yüklemenin bellek tepesiydi (en büyük parametrenin float64 kopyası, ağırlıkların
            # 0,6 katı). Düz dizi sıfırlarla, doğrudan modelin aygıtında ayrılır. Tohum ve
            # dropout üreteci (model.rng, aşağıda _set_buffers) ilk değerlerden bağımsızdır:
            # onlar değişmez. Yarıda kalan bir yükleme bu modeli döndürmez, hatası yükselir
            self._set_buffers(xp_for(self.device).zeros(offset, dtype=self.dtype))
            return
        rng = host_rng(seed)
        host = np.empty(offset, dtype=self.dtype)
        where = {name: off for name, off, _ in self.layout}
        # Üretim sırası: adların sırası (düzenden bağımsız, böylece sonuç değişmez). Her
        # parametrenin float64 değerleri üretilir üretilmez düz diziye (modelin türüne çevrilerek)
        # yazılır ve bırakılır: hepsini önce float64 olarak toplamak, float32 bir modelde
        # parametrelerin iki katı kadar (GPT-2 small'da 1 GB) fazladan bellek isterdi
        for name, shape, init in specs:
            value = np.asarray(init(rng, shape), dtype=np.float64).reshape(shapes[name])
            off = where[name]
            host[off:off + value.size] = value.reshape(-1)
            del value
        self._set_buffers(host)

    # -- buffers -----------------------------------------------------------------------
    def _set_buffers(self, host_flat: np.ndarray) -> None:
        xp = xp_for(self.device)
        self.xp = xp
        self._flat = xp.asarray(host_flat)
        # Gradyan dizisi ilk gerektiğinde (ilk geri geçişte, `grad_flat`/`grads` ilk
        # okunduğunda) ayrılır: örnekleme, değerlendirme ve sohbet geri geçiş yapmaz, onlar için
        # parametreler kadar (GPT-2 small'da 0,5 GB) boşuna sıfır tutulurdu. Değerler aynıdır:
        # yeni ayrılan dizi sıfırdır, önceden ayrılmış olsaydı da sıfır olurdu
        self._grad_flat = self._grads = None
        self.params = ParamViews(self._views(self.flat), "params")
        # Dropout üreteci ilk çekilişte kurulur (`rng`): tohumu modelinki
        self._rng, self._rng_seed = None, _pending_seed(self.seed, xp)

    # `model.flat = yeni_dizi` de (params'taki gibi) adları düz diziden koparırdı: ileri geçiş
    # eski görünümleri okumayı sürdürür, yeni dizi sessizce hiçbir yere bağlanmazdı. Dizi
    # yerinde değiştirilir (`model.flat[...] = değer`, `model.flat *= 0.5`).
    @property
    def flat(self):
        """All parameters in one 1-D buffer; model.params are views into it."""
        return self._flat

    @flat.setter
    def flat(self, value):
        self._refuse_rebind("flat", self._flat, value)

    @property
    def grad_flat(self):
        """All gradients in one 1-D buffer; model.grads are views into it. Made (zeros) on
        first use: a model that only samples or evaluates never holds one."""
        if self._grad_flat is None:
            self._grad_flat = self.xp.zeros_like(self._flat)
            self._grads = ParamViews(self._views(self._grad_flat), "grads")
        return self._grad_flat

    @property
    def grads(self):
        """name -> a view into grad_flat (made on first use, like grad_flat)."""
        if self._grads is None:
            self.grad_flat
        return self._grads

    def grad_flat_if_made(self):
        """grad_flat if something has made it, else None (without making it)."""
        return self._grad_flat

    @grad_flat.setter
    def grad_flat(self, value):
        self._refuse_rebind("grad_flat", self._grad_flat if self._grad_flat is not None
                            else _UNMADE, value)

    @staticmethod
    def _refuse_rebind(name, current, value) -> None:
        if value is not current:            # `model.flat *= 0.5` aynı nesneyi yeniden bağlar
            raise TypeError(f"model.{name} is the buffer model.params/grads are views into: "
                            f"change it in place (model.{name}[...] = value); binding it to "
                            f"another array would detach it from the model")

    def _views(self, flat) -> dict:
        by_name = {name: flat[off:off + int(np.prod(shape))].reshape(shape)
                   for name, off, shape in self.layout}
        return {name: by_name[name] for name in self._param_names}   # adların sırasıyla

    # Tampona bağlı alanlar: kopyada yeniden kurulur (görünümler yeni düz dizinin görünümleri
    # olmalı; `xp` bir modüldür, kopyalanamaz)
    _BUFFER_FIELDS = ("xp", "_flat", "_grad_flat", "params", "_grads", "_rng", "_rng_seed",
                      "_block_params", "_cache")

    def __deepcopy__(self, memo):
        """copy.deepcopy(model): an independent model with the same weights, gradients, mode
        and dropout generator state (on the GPU too: the copy draws the dropout numbers the
        original will draw); its params are views into its own flat buffer. A generator that
        cannot be copied (another object assigned to model.rng) restarts in the copy from the
        last seed given to set_dropout_seed (at first, the model's seed)."""
        # Varsayılan deepcopy `xp` modülünde "cannot pickle 'module' object" ile düşüyordu;
        # kopyalayabilseydi de görünümler ayrı ayrı kopyalanır, düz diziyle bağları kopardı
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            if k not in self._BUFFER_FIELDS:
                new.__dict__[k] = copy.deepcopy(v, memo)
        new._set_buffers(to_numpy(self.flat).copy())
        if self._grad_flat is not None:     # henüz ayrılmamışsa kopyada da ayrılmaz
            new.grad_flat[...] = self._grad_flat
        new._rng_seed = copy.deepcopy(self._rng_seed, memo)
        if self._rng is not None:           # kurulmamışsa kopyada da son tohumdan kurulur
            try:
                # CuPy'ınki de: kilidi yenilenerek (backend.copy_rng)
                new._rng = copy_rng(self._rng, memo)
            except TypeError:               # kopyalanamayan bir üreteç: aynı tohumdan yenisi
                pass
        new._cache = None                   # etkinleştirmeler kopyalanmaz: önce forward
        return new

    def to(self, device: str) -> "ParamModel":
        """Move parameters to 'cpu' or 'cuda' (gradients are reset; an AdamW built on this
        model moves its moments along at its next step)."""
        self.device = check_device(device)
        self._set_buffers(to_numpy(self.flat))
        return self

    # -- modes -------------------------------------------------------------------------
    def train(self, mode: bool = True) -> "ParamModel":
        """Training mode (dropout active) or, with mode=False, eval mode; returns the model."""
        self.training = mode
        return self

    def eval(self) -> "ParamModel":
        """Eval mode (no dropout), the same as train(False); returns the model."""
        return self.train(False)

    # ## Dropout üreteci ne zaman kurulur
    # Eğitim her adımda üreteci (tohum, akış, adım) ile yeniden tohumlar (train.py). Üreteci
    # kurmanın bir bedeli vardır: GPU'da her seferinde yeni bir CuPy üreteci (aygıtta cuRAND
    # durumları ve onları dolduran bir çekirdek) demektir. Dropout 0 iken (ya da değerlendirme
    # kipinde) hiçbir maske çekilmez; o üreteç boşuna kurulurdu. Bu yüzden set_dropout_seed
    # yalnızca tohumu denetleyip saklar (_pending_seed), üreteç ilk çekilişte (`rng` ilk
    # okunduğunda) o tohumdan kurulur. Çekilen sayılar aynıdır: aynı tohumdan, aynı sırayla.
    @property
    def rng(self):
        """The generator dropout masks are drawn from (on the model's device): built on first
        use from the last seed given to set_dropout_seed (at first, the model's seed)."""
        if self._rng is None:
            self._rng = device_rng(self.xp, self._rng_seed)
        return self._rng

    @rng.setter
    def rng(self, value):
        self._rng = value                   # None: yeniden, son tohumdan kurulur

    def set_dropout_seed(self, seed) -> None:
        """Re-seed the generator dropout masks are drawn from (an int or a list of ints). The
        generator is built from it at the first draw: a model that draws no mask (dropout 0,
        eval mode) builds none. The seed is checked (and a list copied) at once."""
        self._rng, self._rng_seed = None, _pending_seed(seed, self.xp)

    def release_activations(self) -> None:
        """Drop the activations the last forward pass kept for backward (frees their memory)."""
        self._cache = None

    # -- bookkeeping -------------------------------------------------------------------
    def num_params(self) -> int:
        """The number of parameters (a tied output layer counted once: model.flat.size)."""
        return int(self.flat.size)

    def zero_grad(self) -> None:
        """Set every gradient to 0 (nothing to do before grad_flat is made)."""
        # Gradyan dizisi henüz yoksa sıfırlanacak bir şey yoktur (ilk kullanımda sıfır ayrılır)
        if self._grad_flat is not None:
            self._grad_flat.fill(0)

    def state_dict(self, copy: bool = True) -> dict:
        """Parameters as host NumPy arrays (copies), keyed by name.

        copy=False: on the CPU the arrays are views into the parameter buffer (no second copy
        of the weights), to be written out at once (a checkpoint, a GPT-2 folder); they change
        with the model."""
        host = to_numpy(self.flat)
        views = self._views(host)
        # Kaydetmek için kopya gerekmez: dosyaya hemen yazılacak diziler düz dizinin görünümleri
        # olabilir (CPU'da ağırlıkların ikinci bir kopyası ayrılmaz; GPU'dakiler ana belleğe
        # yalnızca bir kez okunur)
        if not copy:
            return views
        return {k: v.copy() for k, v in views.items()}

    def load_state_dict(self, state: dict, source: str = "state dict") -> None:
        """Copy arrays (host or device) into the parameters; every name must be present with
        the right shape. A DeferredArray is read as it is copied."""
        # Önce hepsi denetlenir, sonra kopyalanır: yarıda reddedilen bir sözlük modeli yarı
        # yüklenmiş bırakmasın
        check_state_dict({k: p.shape for k, p in self.params.items()}, state, source)
        for k, p in self.params.items():
            arr = state[k]
            if isinstance(arr, DeferredArray):
                # Dosyada duran bir dizi şimdi okunur; bir sonraki ad onu bırakır
                arr = arr.read()
            if self.xp is np:
                # GPU'daki bir dizi (ör. başka bir modelin `params`'ı) NumPy'a örtük olarak
                # çevrilemez (CuPy TypeError verir): açıkça ana belleğe okunur
                arr = to_numpy(arr)
            p[...] = self.xp.asarray(arr, dtype=self.dtype)

    def _store_grads(self, grads: dict, accumulate: bool) -> dict:
        """Write fresh layer gradients into the flat gradient buffer (or add to it)."""
        for name, g in grads.items():
            check_grad_shape(name, g, self.grads[name])
        if accumulate:
            for name, g in grads.items():
                self.grads[name] += g
            return self.grads
        # Biriktirme yoksa gradyanlar doğrudan yazılır (önce sıfırlayıp sonra toplamak, düz
        # dizi üzerinden fazladan bir geçiş olurdu); gradyanı gelmeyen parametreler sıfırlanır.
        for name, view in self.grads.items():
            g = grads.get(name)
            if g is None:
                view.fill(0)
            else:
                view[...] = g
        return self.grads

    def _check_idx(self, idx, vocab_size: int, max_len: int | None, name: str = "idx",
                   ignore_index: int | None = None, *, move: bool = True):
        """Validate token ids (on the host when they come from the host) and move them to
        the model's device; move=False returns host ids checked but still on the host (for a
        caller that reads them there: uploading them only to read them back would cost a
        device→host copy). Ids already on the device are returned as they are."""
        xp = self.xp if move else np
        if not isinstance(idx, np.ndarray) and get_array_module(idx) is np:
            # Liste, demet ya da başka bir kütüphanenin dizisi (ör. bir PyTorch tensörü: dtype'ı
            # NumPy'ınki değildir, `.kind` yoktur) NumPy dizisine çevrilir
            try:
                idx = np.asarray(idx)
            except (ValueError, TypeError) as e:
                raise ValueError(f"{name} must be an integer array of shape (B, T) ({e})") \
                    from None
        if not hasattr(idx, "dtype") or not hasattr(idx, "ndim"):
            raise ValueError(f"{name} must be an integer array of shape (B, T)")
        if idx.dtype.kind not in "iu":
            raise ValueError(f"{name} must hold integer token ids, got dtype {idx.dtype}")
        if idx.ndim == 1:
            idx = idx[None, :]
        if idx.ndim != 2:
            raise ValueError(f"{name} must have shape (B, T), got {tuple(idx.shape)}")
        if idx.shape[1] == 0:
            raise ValueError(f"{name} is empty: need at least one token")
        if idx.shape[0] == 0:
            # Boş bir toplu iş (B = 0) sessizce 0 kaybı verir, geri geçişi anlaşılmaz bir
            # şekil hatasıyla düşerdi (ör. veri sonunun ötesinden kesilmiş bir toplu iş)
            raise ValueError(f"{name} has no rows (shape {tuple(idx.shape)}): need a batch of "
                             f"at least one sequence")
        if max_len is not None and idx.shape[1] > max_len:
            raise ValueError(f"sequence length {idx.shape[1]} is longer than "
                             f"block_size={max_len}")
        if type(idx).__module__.startswith("cupy"):
            # Zaten GPU'da olan belirteç kimlikleri güvenilir kabul edilir (eğitimde bunlar
            # belirteçleyicinin ürettiği, aralık içindeki kimliklerdir): burada aralık denetimi
            # bir GPU→CPU eşitlemesi (sync) gerektirirdi. CPU'dan gelen kimlikler aşağıda,
            # GPU'ya taşınmadan önce denetlenir.
            return idx
        ids = idx if ignore_index is None else idx[idx != ignore_index]
        if ids.size == 0:
            return xp.asarray(idx)
        lo, hi = ids.min(), ids.max()
        if int(lo) < 0 or int(hi) >= vocab_size:
            bad = int(lo) if int(lo) < 0 else int(hi)
            raise ValueError(f"token id {bad} in {name} is outside [0, {vocab_size})")
        return xp.asarray(idx)
