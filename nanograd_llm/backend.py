"""
# Dizi arka ucu: NumPy (CPU) ve CuPy (GPU) için tek kod yolu

Bu projedeki her katman, dizinin hangi kütüphaneye ait olduğunu bilmeden yazılır.
`xp = get_array_module(x)` satırı, `x` bir NumPy dizisiyse `numpy` modülünü, bir CuPy
dizisiyse `cupy` modülünü döndürür. Katman kodu bundan sonra yalnızca `xp.exp`,
`xp.matmul` gibi çağrılar kullanır; böylece aynı ileri ve geri geçiş kodu hem CPU'da
hem GPU'da değişmeden çalışır.

Kurallar:

* Katmanlar `cupy`'ı asla doğrudan içe aktarmaz; ihtiyaç duydukları her şeyi bu
  dosyadan alırlar.
* Katmanların içinde `np.array(...)` ile sabit oluşturulmaz: GPU'da çalışırken bu, CPU'da
  kalan bir dizi olur ve işlemi bozar. Sabitler `xp` ile, girdinin dtype'ıyla kurulur.
* Ağırlıklar her zaman CPU'da, tohumlanmış tek bir `numpy.random.Generator` ile üretilir
  ve ancak sonra istenen aygıta taşınır. Böylece aynı tohum (seed), iki arka uçta bit
  düzeyinde aynı başlangıç ağırlıklarını verir.

`scatter_add`: gömme (embedding) katmanının geri geçişinde aynı belirteç kimliği bir
toplu işte (batch) birden çok kez geçebilir. `dW[idx] += dout` yazmak tekrarlanan
indekslerde yalnızca son katkıyı tutar; doğru olan hepsini toplamaktır. NumPy'da bunu
`np.add.at`, CuPy'da `cupy.add.at` (CuPy 12'den eski sürümlerde `cupyx.scatter_add`) yapar.
"""
from __future__ import annotations

import contextlib
import difflib
import functools
import importlib
import math
import os
import re
import sys
import threading
from types import ModuleType
from typing import Any

import numpy as np

DEVICES = ("cpu", "cuda")

_GPU_HELP = (
    "CuPy with a working NVIDIA GPU is needed for device='cuda'. "
    "Install the CuPy that matches your CUDA version, e.g. "
    '`pip install cupy-cuda12x` (in a source checkout: `pip install -e ".[gpu]"`), and check '
    '`nvidia-smi`.'
)


class DeviceError(RuntimeError):
    """Raised when the requested device cannot be used."""


def _cupy() -> ModuleType | None:
    """Return the cupy module if it can be imported, else None (never raises)."""
    try:
        return importlib.import_module("cupy")
    except Exception:  # ImportError, or a broken CUDA install raising at import time
        return None


def cuda_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    cp = _cupy()
    if cp is None:
        return False
    try:
        return cp.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def device_memory() -> tuple[int, int] | None:
    """(free, total) bytes of the current GPU, counting the blocks CuPy's memory pool keeps
    freed as free; None where CuPy cannot say."""
    # Katmanlar ve modeller cupy'ı içe aktarmaz: GPU belleğini (models/base.py'deki bellek
    # denetimi için) buradan sorarlar
    cp = _cupy()
    if cp is None:
        return None
    try:
        free, total = cp.cuda.runtime.memGetInfo()
        free += cp.get_default_memory_pool().free_bytes()
        return int(free), int(total)
    except Exception:   # sürücü hatası, eksik bir CuPy: denetim yapılmaz, ayırma kendisi söyler
        return None


def shown(value, limit: int = 120, plain: bool = False) -> str:
    """repr(value) (str(value) when plain) for an error message, with its middle cut out when
    it is longer than `limit` characters."""
    # Yanlışlıkla yapıştırılmış bir metin ya da binlerce basamaklı bir sayı hata iletisinde
    # olduğu gibi yazılsaydı terminali doldururdu; başı ve sonu (ör. bir yolun dosya adı)
    # kalır, kesilen yerin uzunluğu söylenir. Python'un basamak sınırını (4300) aşan bir tam
    # sayı metne hiç çevrilemez: onun yalnızca yaklaşık basamak sayısı söylenir. Eğitim
    # ayarları, checkpoint.json'daki değerler ve örnekleme seçenekleri hep bu fonksiyondan geçer.
    try:
        text = str(value) if plain else repr(value)
    except ValueError:
        digits = int(abs(value).bit_length() * math.log10(2)) + 1
        return f"<a{' negative' if value < 0 else 'n'} integer of about {digits:,} digits>"
    if len(text) <= limit:
        return text
    return f"{text[:limit - 40]}…{text[-20:]} ({len(text):,} characters)"


PROGRESS_DELAY = 2.0        # seconds before a long step's progress bar appears (progress_bar)


class _NoBar:
    """What progress_bar(False, ...) gives: a bar that shows nothing."""

    def update(self, n=1):
        pass

    def close(self):
        pass


def progress_bar(show, total: int, desc: str, unit: str):
    """A tqdm bar on stderr that appears once the work has taken PROGRESS_DELAY seconds and
    goes when closed. show: True, None (on a terminal only) or False (a bar that shows
    nothing, without importing tqdm)."""
    if show is False:
        return _NoBar()
    import sys

    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=unit == "char",
                delay=PROGRESS_DELAY, leave=False, dynamic_ncols=True, file=sys.stderr,
                disable=None if show is None else False)


def is_unicode(s: str) -> bool:
    """Whether str `s` is valid Unicode: no lone surrogate (JSON's "\\ud800" gives one)."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown_items(items, limit: int, sep: str = ", ") -> str:
    """The first `limit` of `items` (strings) joined by `sep` for a message, with `sep` + '…'
    after them when there are more."""
    # Binlerce dosyalı bir klasör ya da yüzlerce bilinmeyen karakter iletiyi doldurmasın
    items = list(items)
    return sep.join(items[:limit]) + (f"{sep}…" if len(items) > limit else "")


# Names users give for a known name that difflib does not find close to it (gpu is nearer to
# cpu than to cuda), each with the known names it stands for, in order: in a matmul precision
# fp32 and float32 are "highest" (true float32 products), not the nearer-looking tf32
# (looked up without the - _ or space inside a name: float-32, fp_32 and FP 32 are float32 too)
_OTHER_NAMES = {"gpu": ("cuda",), "fp32": ("float32", "highest"), "fp64": ("float64",),
                "f32": ("float32", "highest"), "f64": ("float64",), "float32": ("highest",)}


def did_you_mean(given, known) -> str:
    """' (did you mean X?)' for a name the user typed that is not one of `known` (strings),
    naming the known names closest to it, or '' when none is close. Every refusal of a typed
    name (a command, a preset, a corpus, a config key, a setting's value) adds it."""
    close = closest_names(given, known)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def closest_names(given, known) -> list[str]:
    """The names of `known` that did_you_mean suggests for `given` (none: [])."""
    # En yakın ad difflib ile bulunur, büyük-küçük harf farkı yok sayılarak: `device=CUDA` ya da
    # `--preset Shakespeare` de doğru adı önerir. Hiçbiri yakın değilse, verilenin ilk üç
    # harfiyle başlayan adlar önerilir (ör. `eval=` için eval_interval, eval_iters)
    # Seçeneklerin baştaki --'su ve sohbet komutlarının /'ı karşılaştırılmaz: ortak oldukları
    # için "--bogus"u "--out"a benzetirlerdi
    def bare(name: str) -> str:
        return name.strip().lower().lstrip("-/")

    if not isinstance(given, str) or not bare(given):
        return []
    # Sayıları farklı iki ad birbirinin yazım yanlışı değildir, başka bir boyutu ya da sürümü
    # adlandırır: float16 float64'ün, bfloat16 ve float128 float32'nin, gpt4 gpt2'nin yanlış
    # yazılışı değildir. Sayısı olan bir ada, verilende olmayan bir sayıyı taşıyan ad önerilmez
    # Yine de sayının kendisindeki bir yazım yanlışı (float23, float322, tf23, gpt22, floa3t2)
    # bir yazım yanlışıdır: verilenin rakamları adınkilerin aynısıysa, yalnızca iki komşu rakamın
    # yeri değişmişse ya da bir rakam iki kez basılmışsa ad önerilir. Başka bir rakam (16 ile
    # 64, 4 ile 2) ya da düşmüş bir rakam ayrı bir ad olabilir: float4 ve float6 da birer
    # biçimdir, float64'ün yanlış yazılışı sayılmaz. Bir rakamın yerine basılmış bir harf ya da
    # işaret (float3w, tfe2, floatx2) ise bir sayı adlandırmaz, parmak kaymasıdır: ad önerilir
    # (bir harfin yerine basılmış bir rakam da öyle: floa632)
    numbers = set(re.findall(r"\d+", given))
    digits = "".join(re.findall(r"\d", given))
    known = [k for k in known if isinstance(k, str)
             and not (numbers and not set(re.findall(r"\d+", k)) <= numbers
                      and not _a_slip_of_digits(digits, "".join(re.findall(r"\d", k)))
                      and not _a_digit_mistyped_as_a_sign(given, k))]
    by_lower = {}
    for k in known:
        by_lower.setdefault(bare(k), []).append(k)
    text = bare(given)
    close = list(by_lower.get(text, []))
    if not close:
        alias = re.sub(r"[-_\s]", "", text)
        close = [k for k in _OTHER_NAMES.get(alias, ()) if k in known][:1]
    if not close:
        for match in difflib.get_close_matches(text, list(by_lower), n=1, cutoff=0.6):
            close += by_lower[match]
    if not close and len(text) >= 3:
        close = [k for k in known if bare(k).startswith(text[:3])]
    return [k for k in close if k != given]


def _a_slip_of_digits(typed: str, meant: str) -> bool:
    """Whether the digits `typed` are `meant` mistyped: the same digits, two neighbours swapped
    or one digit typed twice (not another digit, 16 for 64, nor one left out, 4 for 64)."""
    swaps = [meant[:i] + meant[i + 1] + meant[i] + meant[i + 2:] for i in range(len(meant) - 1)]
    doubled = [meant[:i] + meant[i] + meant[i:] for i in range(len(meant))]
    return bool(meant) and typed in (meant, *swaps, *doubled)


def _a_digit_mistyped_as_a_sign(typed: str, meant: str) -> bool:
    """Whether `typed` is `meant` with one character changed between a digit and a letter or
    sign (float3w, floatx2, tfe2 for float32, tf32; floa632 for float32): a slip of a key,
    not another number (a digit for a digit, float62, still is)."""
    typed, meant = typed.strip().lower(), meant.lower()
    if len(typed) != len(meant):
        return False
    changed = [(a, b) for a, b in zip(typed, meant) if a != b]
    return len(changed) == 1 and changed[0][0].isdigit() != changed[0][1].isdigit()


def is_integer(value: Any) -> bool:
    """Whether value is an integer: a Python int or a NumPy integer, not a bool (True is an int
    in Python, but `max_iters=True` or `seed=True` is a mistake, not 1)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_device(device: str) -> str:
    """Validate a device name; raise a clear error when 'cuda' cannot be used."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {shown(device)}: expected one of {', '.join(DEVICES)}"
                         f"{did_you_mean(device, DEVICES)}")
    if device == "cuda" and not cuda_available():
        raise DeviceError(_GPU_HELP)
    return device


def get_array_module(*arrays: Any) -> ModuleType:
    """numpy for host arrays, cupy when any argument is a CuPy array."""
    for a in arrays:
        t = type(a)
        if t is np.ndarray:             # en sık durum: tek bir tip karşılaştırması yeter
            continue
        if t.__module__.startswith("cupy"):
            return importlib.import_module("cupy")
    return np


def xp_for(device: str) -> ModuleType:
    """The array module for a device name."""
    if check_device(device) == "cuda":
        return importlib.import_module("cupy")
    return np


def device_of(x: Any) -> str:
    """'cuda' for a CuPy array, else 'cpu'."""
    return "cuda" if get_array_module(x) is not np else "cpu"


def to_numpy(x: Any) -> np.ndarray:
    """Copy (or pass through) an array to host memory as a NumPy array."""
    if get_array_module(x) is np:
        return np.asarray(x)
    return x.get()


# ## Modelin çıktısında NaN ya da sonsuz
# NaN ya da sonsuz değer içeren ağırlıklar (ıraksamış bir eğitim, elle bozulmuş bir denetim
# noktası) hata vermeden NaN çıktı üretir: örnekleme anlamsız belirteçler seçer, değerlendirme
# "loss nan" yazar, dikkat haritaları boş çizilir. Modelin çıktısını kullanan her komut
# (sample/chat logitleri, eval kayıpları, attention ağırlıkları) bu yüzden çıktıyı aynı
# denetimden geçirir ve aynı tek satırlık hatayla durur. Denetim ağırlıklara değil çıktıya
# bakar: çıktıya hiç katılmayan bir ağırlıktaki NaN (ör. dikkat haritalarında çıkış katmanı)
# sonucu bozmaz, komutu da durdurmaz.

class NonFiniteOutput(RuntimeError):
    """The model's output (logits, losses, attention weights) holds NaN or inf."""


def check_finite_output(values: Any, what: str, where: str = "") -> None:
    """Raise NonFiniteOutput, the one error every command gives for it, when `values` (a host
    array or a number the model produced; the callers have it on the host already) hold NaN or
    inf. `what` names the output ("logits"), `where` (" in layer 1") says where it was found."""
    if not bool(np.isfinite(values).all()):
        raise NonFiniteOutput(f"the model produced non-finite {what} (NaN or inf){where}; "
                              f"its weights may have diverged")


def to_device(x: Any, device: str) -> Any:
    """Move an array to 'cpu' (NumPy) or 'cuda' (CuPy); a no-op when it is already there."""
    if device == "cpu":
        return to_numpy(x)
    xp = xp_for(device)
    return xp.asarray(x)


def scatter_add(target: Any, indices: Any, values: Any) -> None:
    """In place: target[indices] += values, summing repeated indices (unlike fancy assignment)."""
    xp = get_array_module(target)
    if xp is np:
        np.add.at(target, indices, values)
    elif hasattr(xp.add, "at"):          # CuPy ≥ 12; cupyx.scatter_add is deprecated since 13
        xp.add.at(target, indices, values)
    else:
        cupyx = importlib.import_module("cupyx")
        cupyx.scatter_add(target, indices, values)


def host_rng(seed: int | None) -> np.random.Generator:
    """The one seeded generator weights are drawn from, always on the host."""
    return np.random.default_rng(seed)


def device_rng(xp: ModuleType, seed: Any):
    """A generator living next to the data (used for dropout masks).

    On the CPU this is numpy's PCG64 Generator; on the GPU CuPy's own generator, so masks are
    drawn on the device without host<->device copies. `seed` may be an int or a sequence of ints
    (NumPy); CuPy takes a single int, derived deterministically from the sequence.
    """
    if xp is np:
        return np.random.default_rng(seed)
    if not isinstance(seed, int):
        # Kaydırma Python tam sayısında yapılır: NumPy 1.x'te `np.uint64 >> 1` bir TypeError'dır
        # (uint64 ile Python int'i float64'e yükseltilir ve float kaydırılamaz)
        seed = int(np.random.SeedSequence(seed).generate_state(1, dtype=np.uint64)[0]) >> 1
    return xp.random.default_rng(seed)


# ## Bir üretecin kopyası
# `copy.deepcopy(model)` dropout üretecini de kopyalar: kopya, asıl modelin bundan sonra
# çekeceği sayıları çeker. NumPy'ın üreteci doğrudan kopyalanır. CuPy'ınki
# (cupy.random.Generator) olduğu gibi kopyalanamaz: bit üreteci (`bit_generator`, ör. XORWOW)
# bir `threading.Lock` tutar ve deepcopy "cannot pickle '_thread.lock' object" (TypeError) ile
# düşer (CuPy 14.2'de denetlendi). Kilit, üretecin durumunun (çekilecek sayıları belirleyen
# bilginin) bir parçası değildir: kopyaya yeni bir kilit verilir (deepcopy'nin `memo`'suna
# önceden konur), gerisi olduğu gibi kopyalanır; aygıttaki cuRAND durumları da (bir cupy
# dizisi: kopyası aygıtta yapılır). Kopya böylece asıl üretecin çekeceği sayıların aynısını
# çeker.
_LOCKS = {type(threading.Lock()): threading.Lock, type(threading.RLock()): threading.RLock}


def copy_rng(rng: Any, memo: dict | None = None):
    """A deep copy of a dropout generator that draws the numbers the original will draw.

    NumPy's Generator is deep-copied as it is. CuPy's Generator holds a threading.Lock in its
    bit generator, which copy.deepcopy refuses (TypeError): each lock there gets a new lock in
    the copy, everything else (the cuRAND states on the device included) is deep-copied.
    Raises TypeError for a generator that still cannot be copied."""
    import copy
    memo = {} if memo is None else memo
    for obj in (rng, getattr(rng, "bit_generator", None)):
        for value in getattr(obj, "__dict__", {}).values():
            if type(value) in _LOCKS:
                memo.setdefault(id(value), _LOCKS[type(value)]())
    return copy.deepcopy(rng, memo)


def cache_allocation(xp: ModuleType):
    """Context for building a device array that a module-level cache keeps for the whole process
    (attention's causal masks, the sinusoidal position table): on CuPy the array comes from
    CuPy's default memory pool even while another allocator is active; on NumPy nothing changes.

    cuda_graph.TrainStep runs its first step with a private MemoryPool. A CuPy array from a pool
    holds only a weak reference to it: once the TrainStep (or a failed recording) drops the pool,
    the pool's memory is freed, and a cached array made there would point to freed memory.
    """
    if xp is np:
        return contextlib.nullcontext()
    # Önbellekteki dizi süreç boyunca yaşar: özel bir havuzdan (TrainStep) değil, CuPy'ın
    # varsayılan havuzundan ayrılır
    return xp.cuda.using_allocator(xp.get_default_memory_pool().malloc)


def as_float_dtype(dtype: Any) -> np.dtype:
    """Accept 'float32'/'float64'/np dtypes; reject the rest with a clear message."""
    try:
        dt = np.dtype(dtype)
    except Exception:
        # NumPy bir dizeyi kendi biçim diliyle ayrıştırır: "1_000" ValueError, "(f4,2)" bir
        # SyntaxError (hata izi), "foo" TypeError verir; hepsi aynı açık iletiyle reddedilir
        raise ValueError(f"unknown dtype {shown(dtype)}: use 'float32' or 'float64'") from None
    if dt not in (np.float32, np.float64):
        raise ValueError(f"unsupported dtype {shown(str(dt), plain=True)}: use 'float32' or "
                         f"'float64'")
    return dt


MATMUL_PRECISIONS = ("highest", "tf32")


def set_matmul_precision(mode: str) -> None:
    """'highest' (true float32 matrix products) or 'tf32' (TensorFloat-32 tensor cores on NVIDIA
    Ampere and newer: float32 inputs rounded to a 10-bit mantissa inside cuBLAS, float32
    accumulation). Only CuPy's float32 matmuls are affected; NumPy ignores it."""
    if mode not in MATMUL_PRECISIONS:
        raise ValueError(f"unknown matmul precision {shown(mode)}: expected one of "
                         f"{', '.join(MATMUL_PRECISIONS)}{did_you_mean(mode, MATMUL_PRECISIONS)}")
    # CuPy reads CUPY_TF32 the first time a float32 product runs and then caches the choice;
    # set both the variable and (when CuPy is already imported) the cached compute type.
    os.environ["CUPY_TF32"] = "1" if mode == "tf32" else "0"
    cp = _cupy() if "cupy" in sys.modules else None
    if cp is not None:
        try:
            linalg = importlib.import_module("cupy._core._routines_linalg")
            linalg.set_compute_type(np.float32, 7 if mode == "tf32" else 1)  # 7: TF32, 1: default
        except Exception as e:  # pragma: no cover - depends on the CuPy build
            raise DeviceError(f"this CuPy build cannot switch matmul precision: {e}") from e


@contextlib.contextmanager
def matmul_precision(mode: str):
    """set_matmul_precision(mode) while the body runs; afterwards CUPY_TF32 (set, or not set)
    and, where CuPy is imported, its float32 compute type are what they were before."""
    # Hassasiyet bir eğitimin ayarıdır, sürecin değil: train() dönünce (ya da bir hatayla
    # çıkınca) aynı süreçte sonra çalışan kod (evaluate, kullanıcının kendi CuPy kodu, kabuktan
    # gelen CUPY_TF32=1) eğitimin seçtiğiyle değil, önceki ayarla çalışır.
    before_env = os.environ.get("CUPY_TF32")
    linalg = None
    before_type = None
    if "cupy" in sys.modules and _cupy() is not None:
        with contextlib.suppress(Exception):   # get_compute_type'ı olmayan bir CuPy sürümü
            linalg = importlib.import_module("cupy._core._routines_linalg")
            before_type = linalg.get_compute_type(np.float32)
    try:
        set_matmul_precision(mode)
        yield
    finally:
        if before_env is None:
            os.environ.pop("CUPY_TF32", None)
        else:
            os.environ["CUPY_TF32"] = before_env
        if before_type is not None:
            linalg.set_compute_type(np.float32, before_type)


def fused_kernels(x: Any):
    """The module of fused kernels for x, or None to run the layers' generic xp code.

    On the GPU: cuda_kernels.py (CuPy). On the CPU: cpu_kernels.py (Numba) for float32 arrays,
    when Numba is installed (the `fast` extra). None for float64 CPU arrays, without Numba, and
    whenever the environment variable NANOGRAD_LLM_FUSED is "0" (read at each call, so a test or
    a benchmark can switch it)."""
    if os.environ.get("NANOGRAD_LLM_FUSED", "1") == "0":
        return None
    if type(x) is np.ndarray or get_array_module(x) is np:
        if x.dtype != np.float32:
            return None
        return cpu_kernels()
    return importlib.import_module("nanograd_llm.cuda_kernels")


_CPU_KERNELS: list = []     # [modül ya da None]: içe aktarma bir kez denenir


def cpu_kernels():
    """The CPU fused-kernel module (cpu_kernels.py), or None when Numba cannot be imported."""
    if not _CPU_KERNELS:
        try:
            _CPU_KERNELS.append(importlib.import_module("nanograd_llm.cpu_kernels"))
        except ImportError:   # Numba kurulu değil: genel NumPy yolu
            _CPU_KERNELS.append(None)
        except Exception as e:   # ör. Numba'nın derleme önbelleği için yazılabilir yer yok
            import warnings
            warnings.warn(f"CPU fused kernels unavailable ({e}); using the generic NumPy code",
                          RuntimeWarning, stacklevel=2)
            _CPU_KERNELS.append(None)
    return _CPU_KERNELS[0]


# -- Devrik (transpoze) kopyası çıkarmadan matris çarpımı ------------------------------------
# Geri geçişte sık sık `Aᵀ·B` ya da `A·Bᵀ` gerekir. `a.T @ b` yazmak NumPy'da sorun değildir
# (BLAS devriği "T" bayrağıyla okur), ama CuPy ikiden çok boyutlu dizilerde bitişik olmayan
# işlenenleri (devrik görünümler dahil) önce bitişik (contiguous) kopyalara çevirir:
# (B, nh, T, T) boyutlu bir dikkat matrisinin devriği, shakespeare ayarında her seferinde
# 100 MB'lık bir kopya demektir. `matmul_t` devriği bir bayrak olarak alır;
# GPU'da cuBLAS'ın kendi "T" bayrağını kullanır (cuda_kernels.gemm), kopya yapılmaz. İsteğe
# bağlı `alpha` çarpanı da çarpımın içinde uygulanır (ör. dikkat puanlarındaki 1/√hs).


def matmul_t(a: Any, b: Any, trans_a: bool = False, trans_b: bool = False,
             alpha: float = 1.0, out: Any = None) -> Any:
    """alpha · op(a) @ op(b), with op(x) = x.swapaxes(-1, -2) when its flag is set.

    a, b: (..., r, c) arrays with the same leading (batch) dimensions, or 1-D vectors (a as a
    row, b as a column, as in `@`). On the GPU the product goes to cuBLAS with transpose flags
    and alpha (no transposed copies, TF32 when selected); on the CPU it is NumPy's matmul, with
    alpha applied to the smaller operand.
    """
    if (trans_a and a.ndim < 2) or (trans_b and b.ndim < 2):
        raise ValueError("matmul_t: a 1-D operand cannot be transposed")
    xp = get_array_module(a, b)
    fused = fused_kernels(a) if xp is not np else None
    if fused is not None:
        return fused.gemm(a, b, trans_a, trans_b, alpha, out)
    if trans_a and a.ndim >= 2:
        a = a.swapaxes(-1, -2)
    if trans_b and b.ndim >= 2:
        b = b.swapaxes(-1, -2)
    if alpha != 1.0:
        if a.size <= b.size:
            a = a * alpha
        else:
            b = b * alpha
    if out is None:
        return xp.matmul(a, b)
    return xp.matmul(a, b, out=out)


def row_major(x: Any, trans: bool, xp: ModuleType) -> tuple:
    """(y, t) with y C-contiguous and op_t(y) equal to op_trans(x): a transposed view of a
    C-contiguous array is read through the flag (no copy); anything else is copied once."""
    if x.flags.c_contiguous:
        return x, trans
    if x.ndim >= 2:
        xt = x.swapaxes(-1, -2)
        if xt.flags.c_contiguous:
            return xt, not trans
    return xp.ascontiguousarray(x), trans


def gemm_plan(a_shape: tuple, b_shape: tuple, trans_a: bool, trans_b: bool) -> dict:
    """The arguments of one strided-batched cuBLAS GEMM computing op(a) @ op(b) for C-contiguous
    row-major a, b (same batch dimensions) into a C-contiguous result.

    cuBLAS is column-major: a row-major (r, c) block is a column-major (c, r) block with leading
    dimension c. So C = op(A)·op(B) is computed as Cᵀ = op(B)ᵀ·op(A)ᵀ with B first.
    Returns dict(transa, transb, m, n, k, lda, ldb, ldc, stride_a, stride_b, stride_c, batch,
    out_shape) where 'a'/'b' name cuBLAS's first/second operand (our b, our a).
    """
    a_shape, b_shape = tuple(a_shape), tuple(b_shape)
    if len(a_shape) == 1:
        a_shape, a_vec = (1,) + a_shape, True
    else:
        a_vec = False
    if len(b_shape) == 1:
        b_shape, b_vec = b_shape + (1,), True
    else:
        b_vec = False
    if a_vec and trans_a or b_vec and trans_b:
        raise ValueError("matmul_t: a 1-D operand cannot be transposed")
    if a_shape[:-2] != b_shape[:-2]:
        raise ValueError(f"matmul_t: batch shapes differ: {a_shape} and {b_shape}")
    ra, ca = a_shape[-2:]
    rb, cb = b_shape[-2:]
    m, k = (ca, ra) if trans_a else (ra, ca)
    kb, n = (cb, rb) if trans_b else (rb, cb)
    if k != kb:
        raise ValueError(f"matmul_t: shapes {a_shape} (trans={trans_a}) and {b_shape} "
                         f"(trans={trans_b}) do not align")
    batch = int(np.prod(a_shape[:-2], dtype=np.int64))
    out_shape = a_shape[:-2] + ((m,) if not a_vec else ()) + ((n,) if not b_vec else ())
    return dict(transa=int(trans_b), transb=int(trans_a), m=n, n=m, k=k,
                lda=cb, ldb=ca, ldc=n, stride_a=rb * cb, stride_b=ra * ca, stride_c=m * n,
                batch=batch, out_shape=out_shape)


# -- CPU'da büyük öğe-öğe işleri iki (ya da daha çok) çekirdeğe bölme ------------------------
# NumPy'ın öğe-öğe işlemleri (exp, çarpma, toplama …) tek çekirdekte çalışır; matris çarpımını
# yapan BLAS ise bütün çekirdekleri kullanır. NumPy bu işlemler sırasında Python'un genel
# kilidini (GIL) bıraktığı için, bir dizinin satırlarını parçalara bölüp parçaları küçük, kalıcı
# bir iş parçacığı havuzunda (thread pool) işlemek gerçek bir paralellik verir. Parçalar ayrıca
# önbelleğe sığacak kadar küçük tutulur: bir katmanın art arda gelen geçişleri (ör. GELU'nun
# sekiz dizi işlemi) aynı parça önbellekteyken yapılır, büyük diziyi bellekten defalarca okumak
# gerekmez. Parçalar yalnızca dizinin şeklinden hesaplanır (iş parçacığı sayısından değil);
# bu yüzden bir parçanın içinde satır toplamları BLAS'ın matris-vektör çarpımıyla alınsa bile
# sonuç, kaç iş parçacığı çalışırsa çalışsın bit düzeyinde aynıdır. GPU'da (CuPy) bölme
# yapılmaz: iş tek seferde, tüm dizi üzerinde yürür.
#
# Küçük dizilerde bölme yapılmaz: her NumPy çağrısından sonra iş parçacığı GIL'i geri almak
# zorundadır ve iki iş parçacığı kilidi sık sık el değiştirince bekleme süresi hesabın kendisini
# aşar (ölçülen: (768, 512)'lik bir dizide 32 K öğelik parçalarla yedi işlem, tek iş
# parçacığında 0,45 ms, iki iş parçacığında 0,86 ms). Bu yüzden yalnızca 1 M öğeden büyük
# dizilere (ör. shakespeare ayarında GELU ve dikkat matrisleri) ve 256 K öğelik parçalarla
# uygulanır; orada (shakespeare şekilleri, B=16) GELU'nun ileri geçişi 30 ms'den 13 ms'ye
# iner (benchmarks/RESULTS.md).

_POOL = None
_POOL_SIZE = None
PARALLEL_MIN_ELEMS = 1 << 20         # bundan küçük dizilerde bölmenin ek maliyeti kazancı aşar
BLOCK_ELEMS = 1 << 18               # bir parçadaki öğe sayısı hedefi (float32'de 1 MiB)


def num_threads() -> int:
    """Threads for the CPU row-parallel helper: NANOGRAD_LLM_THREADS, else OMP_NUM_THREADS,
    else OPENBLAS_NUM_THREADS (read only, never set), else the usable cores."""
    for var in ("NANOGRAD_LLM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        v = os.environ.get(var, "").strip()
        if v.isdigit() and int(v) > 0:
            return int(v)
    return _usable_cores()


@functools.lru_cache(maxsize=None)
def _usable_cores() -> int:
    # Çekirdek sayısı süreç boyunca değişmez; sistem çağrısı her adımda yüzlerce kez
    # yinelenmesin diye bir kez sorulur.
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):   # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def _pool(n: int):
    global _POOL, _POOL_SIZE
    if _POOL is None or _POOL_SIZE != n:
        from concurrent.futures import ThreadPoolExecutor
        if _POOL is not None:
            _POOL.shutdown(wait=False)
        _POOL = ThreadPoolExecutor(max_workers=n - 1, thread_name_prefix="nanograd-rows")
        _POOL_SIZE = n
    return _POOL


def for_row_blocks(fn, n_rows: int, row_size: int, xp=np, min_elems: int | None = None) -> None:
    """Call fn(rows) for slices `rows` that together cover range(n_rows) once.

    On NumPy with large arrays (n_rows * row_size >= min_elems, default PARALLEL_MIN_ELEMS)
    the rows are cut into cache-sized blocks of about BLOCK_ELEMS elements that num_threads()
    threads take one at a time (fn must only write its own rows); otherwise, and always on
    CuPy, fn(slice(0, n_rows)) runs once in the calling thread. The blocks depend only on the
    array's shape, never on the thread count, so results are bit-identical for any count.
    """
    limit = PARALLEL_MIN_ELEMS if min_elems is None else min_elems
    if xp is not np or n_rows * row_size < limit or n_rows < 2:
        fn(slice(0, n_rows))
        return
    per = max(1, BLOCK_ELEMS // max(row_size, 1))                   # satır / parça
    blocks = [slice(i, min(i + per, n_rows)) for i in range(0, n_rows, per)]
    n_all = 1 if in_shard() else num_threads()
    if n_all <= 1 or len(blocks) < 2:
        # Tek iş parçacığı (ya da veri paralelliğinin bir parçası içindeyiz): parçalar sırayla,
        # yine önbellek boyunda işlenir
        for b in blocks:
            fn(b)
        return
    # Parçalar sabit bölüştürülmez: her iş parçacığı sıradaki parçayı kendisi alır (ortak
    # sayaçtan; `next` GIL altında bölünmez bir işlemdir). Makinede başka bir süreç bir çekirdeği
    # meşgul ederse, çalışabilen iş parçacığı işin çoğunu yapar; çağıran iş parçacığı yalnızca o an
    # işlenmekte olan parçaları bekler, hiç başlamamış bir yardımcıyı beklemez.
    todo = iter(range(len(blocks)))
    state = {"done": 0, "error": None}
    cond = threading.Condition()

    def run():
        for i in todo:
            try:
                fn(blocks[i])
            except BaseException as e:   # hata çağırana iletilir
                state["error"] = e
            with cond:
                state["done"] += 1
                if state["done"] == len(blocks):
                    cond.notify_all()

    pool = _pool(n_all)
    for _ in range(min(n_all, len(blocks)) - 1):
        pool.submit(run)
    run()                                                # çağıran iş parçacığı da çalışır
    with cond:
        while state["done"] < len(blocks):
            cond.wait()
    if state["error"] is not None:
        raise state["error"]


# -- Veri paralelliği: bir toplu işin parçaları aynı anda, ayrı iş parçacıklarında ------------
# Küçük bir modelde tek bir NumPy çağrısı (ör. (768, 512)'lik bir GELU geçişi) iki çekirdeğe
# bölünmeye değmeyecek kadar kısadır (yukarıya bakın). Bölünmeye değen şey, bütün bir ileri ve
# geri geçiştir: toplu işin (batch) yarısı bir iş parçacığında, öbür yarısı ötekinde, baştan
# sona birbirinden bağımsız hesaplanır; gradyanlar en sonda toplanır. Bu, çok GPU'lu eğitimdeki
# veri paralelliğinin (DDP) tek makinedeki karşılığıdır. NumPy her çağrıda GIL'i bıraktığı için
# iki iş parçacığı gerçekten aynı anda hesap yapar; ara sıra el değiştiren tek şey, çağrılar
# arasındaki kısa Python kodudur.
#
# Bu sırada BLAS (matris çarpımı) tek iş parçacığıyla çalışmalıdır: her parça zaten bir
# çekirdeği doldurur; BLAS da kendi iş parçacıklarını açarsa iki çekirdekte dört iş parçacığı
# birbirini bekler. BLAS'ın iş parçacığı sayısı `threadpoolctl` ile yalnızca paralel bölüm
# boyunca 1'e indirilir ve sonra geri verilir (ortam değişkenlerine dokunulmaz). threadpoolctl
# yoksa toplu iş hiç bölünmez (`shard_count` 1 döner); sonuç, bölünmüş hesaptan yalnızca
# yuvarlama farkı kadar ayrılır.

_LOCAL = threading.local()
SHARD_MIN_WORK = 1 << 15      # bir etkinleştirmede bundan az öğe varsa bölmek kazandırmaz


def in_shard() -> bool:
    """True inside run_shards' worker functions (nested row-block threading is turned off)."""
    return getattr(_LOCAL, "in_shard", False)


@functools.lru_cache(maxsize=None)
def _blas_controller():
    """threadpoolctl's controller of the loaded BLAS (made once), or None without it."""
    try:
        from threadpoolctl import ThreadpoolController
        return ThreadpoolController()
    except Exception:   # kurulu değil ya da BLAS bulunamadı: paralellik yok
        return None


def blas_threads() -> tuple[str, int] | None:
    """(threadpoolctl's API name of the loaded BLAS, e.g. "openblas", its thread count), or
    None when threadpoolctl is missing or finds no single BLAS."""
    controller = _blas_controller()
    if controller is None:
        return None
    try:
        found = {(d["internal_api"], int(d["num_threads"])) for d in controller.info()
                 if d.get("user_api") == "blas"}
    except Exception:   # noqa: BLE001 (threadpoolctl'ün başka bir sürümü: bilinmiyor sayılır)
        return None
    return found.pop() if len(found) == 1 else None


def shard_count(batch: int, work: int, xp=np) -> int:
    """How many parts run_shards should split a batch of `batch` rows into.

    1 (no splitting) on the GPU, inside a part, with fewer than two rows, for small work
    (`work` = elements of one activation, below SHARD_MIN_WORK), when num_threads() is 1
    (e.g. NANOGRAD_LLM_THREADS=1), or when threadpoolctl is missing; otherwise
    min(num_threads(), batch, work // SHARD_MIN_WORK): one part per thread (measured: smaller
    parts, to balance unequal cores, made a step slower).
    """
    if xp is not np or in_shard() or batch < 2 or work < SHARD_MIN_WORK:
        return 1
    n = num_threads()
    if n <= 1 or _blas_controller() is None:
        return 1
    n = min(n, batch)
    # Çok çekirdekli makinede parçalar çok küçülmesin: her parçanın sabit bir maliyeti var
    # (ölçülen: tek satırlık bir parça, altı satırlığın üçte biri kadar sürer); her parça en
    # az SHARD_MIN_WORK öğelik bir etkinleştirme taşısın
    if SHARD_MIN_WORK > 0:
        n = min(n, max(1, work // SHARD_MIN_WORK))
    return n


def run_shards(fn, n: int) -> list:
    """Call fn(0), …, fn(n−1) on up to num_threads() threads (the caller is one of them; a
    thread that finishes takes the next part) and return their results in order. BLAS runs on
    one thread meanwhile; the first error is re-raised. With num_threads() == 1 (or without
    threadpoolctl) the parts run one after another in the calling thread."""
    if n <= 1:
        return [fn(0)]
    ctl = _blas_controller()
    if num_threads() <= 1 or ctl is None:
        # Tek iş parçacığı (ör. ileri geçiş bölündükten sonra NANOGRAD_LLM_THREADS=1 yapıldıysa)
        # ya da threadpoolctl yok: parçalar sırayla, çağıran iş parçacığında (havuz kurulmaz)
        return [fn(i) for i in range(n)]
    results: list = [None] * n
    errors: list = []
    todo = iter(range(n))            # sıradaki parça (`next` GIL altında bölünmez)

    def work():
        _LOCAL.in_shard = True
        try:
            for i in todo:
                try:
                    results[i] = fn(i)
                except BaseException as e:   # hata çağırana iletilir
                    errors.append(e)
        finally:
            _LOCAL.in_shard = False

    n_threads = min(n, num_threads())
    pool = _pool(num_threads())
    with ctl.limit(limits=1, user_api="blas"):
        futures = [pool.submit(work) for _ in range(n_threads - 1)]
        work()
        for f in futures:
            f.result()
    if errors:
        raise errors[0]
    return results
