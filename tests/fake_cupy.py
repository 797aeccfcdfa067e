"""A fake `cupy` for running the package's `--device cuda` code on the CPU (tests only).

Sahte CuPy: `ndarray`'i NumPy'ın dizisinden ayrı bir türdür (`type(x).__module__` "cupy" ile
başlar, backend.get_array_module onu CuPy dizisi sayar); hesabı alttaki bir NumPy dizisi
yapar. CuPy'ın şu kurallarını izler:

* Örtük dönüşüm yok: `np.asarray(x)`, `np.array(x)` ve bir ana bellek dizisi isteyen her yer
  CuPy'ın iletisiyle TypeError verir ("Implicit conversion to a NumPy array is not allowed").
* Karışık işlem yok: sahte bir dizi ile bir NumPy dizisi (0-B olanlar dahil) aynı aritmetik
  işleme, ufunc'a ya da `cupy.` fonksiyonuna girerse TypeError ("Unsupported type
  <class 'numpy.ndarray'>"); Python ve NumPy skalerleri kabul edilir. `x[...] = numpy_dizisi`
  CuPy'daki gibi ValueError'dır ("non-scalar numpy.ndarray cannot be used for fill").
* NumPy fonksiyonları (`np.exp(x)`, `np.sum(x)`, `np.linalg.norm(x)`) CuPy'daki gibi
  `__array_ufunc__` ve `__array_function__` ile sahte modüle (aynı alt modül yoluyla) yönlenir
  ve sahte dizi döndürür; CuPy'da karşılığı olmayan bir NumPy fonksiyonu (`np.insert(x, …)`)
  TypeError verir.
* `x.flags` CuPy'ınki gibi yalnızca `c_contiguous`, `f_contiguous`, `owndata` (ve `fnc`,
  `forc`) tutar: `x.flags.writeable` AttributeError'dır.
* Adlar ve argümanlar gerçek CuPy'ınkilerdir (`cupy_api.json`, CuPy 14.2'den
  scripts/cupy_api.py ile yazıldı): CuPy'da olmayan bir ad (`cupy.errstate`, `cupy.insert`,
  `cupy.seterr`) AttributeError, bir fonksiyonun ya da `ndarray` yönteminin almadığı
  anahtar sözcüklü argüman (`x.max(initial=0)`, `cupy.take(…, mode=…)`, `x.astype(…,
  casting=…)`, ufunc'larda `out`, `casting`, `dtype`, `where` dışındakiler) TypeError'dır.
* İndirgemeler (`x.sum()`, `x[0, 0]`) CuPy'daki gibi 0-B *aygıt* dizisi döndürür, NumPy
  skaleri değil: kaybın ne zaman Python sayısına çevrildiği böylece görünür.
* Aygıt→ana bellek okumaları (`.get()`, `cupy.asnumpy`, `float/int/bool/.item()/.tolist()`,
  `repr/str/format`, boolean maskeyle indeksleme: CuPy öğe sayısını okur) ve ana
  bellek→aygıt kopyaları (`cupy.asarray`/`cupy.array` ile bir ana bellek nesnesi, `.set()`,
  NumPy dizisi ya da listeyle indeksleme) `TRANSFERS`'ta sayılır; her olayın yanında onu
  tetikleyen nanograd_llm satırı (`dosya.py:satır`) tutulur. `RANDOM` da aynı biçimde
  `cupy.random.default_rng` ile kurulan üreteçleri ('build') ve çekilişleri ('draw') sayar.
* Tamsayı dizisiyle indekslemede (`x[idx]`, `x[idx] = v`, `take`, `take_along_axis`,
  `cupy.add.at`) sınır dışı bir indeks CuPy'daki gibi hata vermez, başa sarılır (`idx mod n`):
  denetlenmeden aygıta taşınmış bir kimlik CPU'da IndexError verirken burada sessizce yanlış
  sonuç verir, CPU ile karşılaştıran testler bunu görür. Tek bir tamsayıyla indeksleme
  NumPy'daki gibi IndexError'dır.
* CuPy dizisinin `__index__`'i yoktur: 0-B bir aygıt tam sayısı `range(n)`'de, bir listenin ya
  da demetin indeksinde, `operator.index`'te TypeError verir ("'ndarray' object cannot be
  interpreted as an integer"); önce `int(n)` ile (açıkça, bir eşitlemeyle) okunmalıdır.
  `__imatmul__` da yoktur: `a @= b`, `a`'yı yeni bir diziye bağlar, eski dizi değişmez.
* `cupy.cuda.runtime.getDeviceCount()` 1, `memGetInfo()` `DEVICE_MEMORY`'yi (boş, toplam;
  varsayılanı 1 TiB) döndürür; Device, Stream, MemoryPool,
  using_allocator, get_current_stream, get_default_memory_pool, `cupy.random.default_rng` ve
  `cupy._core._routines_linalg.set_compute_type`/`get_compute_type` (TF32 anahtarı) en az
  hâlleriyle vardır.
* Aygıt belleği ana bellek değildir: `DEVICE_MEMORY_UNTRACED` açıkken (bir testin
  monkeypatch'iyle) aygıta kopyalar ve `cupy.zeros`, tracemalloc'un görmediği bir bellekte
  (anonim mmap) ayrılır; böylece tracemalloc yalnızca ana belleği ölçer (ör. bir yüklemenin ana
  bellekte tuttuğu en çok bayt). Kapalıyken (varsayılan) her şey sıradan NumPy dizisidir.

Modellenmeyenler: gerçek eşzamansızlık ve akışlar (her işlem hemen biter; bir "eşitleme"
yalnızca sayılır), CUDA grafikleri (Stream.begin_capture NotImplementedError verir),
cuda_kernels.py'nin ElementwiseKernel/RawModule/cuBLAS çağrıları (NANOGRAD_LLM_FUSED=0 ile
çalışılır), CuPy'ın rastgele sayı dizileri (sahte üreteç NumPy'ın PCG64'üdür: dropout maskeleri
gerçek GPU'daki gibi CPU'dakinden farklıdır ama sayıları başkadır; üreteç CuPy'ınki gibi bit
üretecinde bir `threading.Lock` tutar, `copy.deepcopy` onu CuPy'daki gibi TypeError ile
reddeder), bellek sınırları, birden çok aygıt, tür yükseltmenin CuPy'a özgü ayrıntıları (NumPy
2'nin kuralları uygulanır) ve ufunc olmayan `cupy.` fonksiyonlarına verilen Python listeleri
(ufunc'lar ve işleçler onları CuPy gibi reddeder; öbürleri burada kabul eder).
"""
from __future__ import annotations

import contextlib
import json
import math
import mmap
import os
import sys
import threading
import types

import numpy as np

import nanograd_llm

_PKG_DIR = os.path.dirname(os.path.abspath(nanograd_llm.__file__)) + os.sep
_HERE = os.path.abspath(__file__)

# Gerçek CuPy'ın API'si (adlar ve argüman adları; scripts/cupy_api.py yazar): CuPy'da olmayan bir
# ad burada da AttributeError, CuPy'ın almadığı bir anahtar sözcüklü argüman TypeError'dır
with open(os.path.join(os.path.dirname(_HERE), "cupy_api.json"), encoding="utf-8") as _f:
    API = json.load(_f)
UFUNC_KEYWORDS = ("out", "casting", "dtype", "where")     # cupy.ufunc.__call__'ın aldıkları


def _check_call(name: str, params, args: tuple, kw: dict) -> None:
    """TypeError, as CuPy's, for a keyword argument (or too many positional ones) that CuPy's
    `name` does not take; params: its parameter names from API ("*": any number of positional
    arguments; None: it takes any keyword)."""
    if params is None:
        return
    for k in kw:
        if k not in params or k == "*":
            raise TypeError(f"{name}() got an unexpected keyword argument {k!r} (CuPy "
                            f"{API['cupy']}'s {name} takes {', '.join(params) or 'none'})")
    if "*" not in params and len(args) > len(params):
        raise TypeError(f"{name}() takes at most {len(params)} positional arguments "
                        f"({len(args)} given)")


# -- transfer bookkeeping ------------------------------------------------------------------------

class Transfers:
    """Counts of device→host reads ('d2h') and host→device copies ('h2d'), with their sites."""

    def __init__(self):
        self.events: list[tuple[str, str, str]] = []     # (kind, what, site)

    def reset(self) -> None:
        self.events.clear()

    def note(self, kind: str, what: str) -> None:
        self.events.append((kind, what, _site()))

    def count(self, kind: str) -> int:
        return sum(1 for k, _, _ in self.events if k == kind)

    def mark(self) -> int:
        return len(self.events)

    def since(self, mark: int) -> list:
        return list(self.events[mark:])


TRANSFERS = Transfers()
# cupy.random.default_rng'in kurduğu üreteçler ('build') ve onlardan çekilişler ('draw'),
# yerleriyle: GPU'da bir üreteç kurmak aygıtta cuRAND durumları ayırıp dolduran bir çekirdektir
RANDOM = Transfers()


def _site() -> str:
    """'module.py:line' of the innermost nanograd_llm frame that caused the event ('test' else)."""
    f = sys._getframe(2)
    while f is not None:
        fn = f.f_code.co_filename
        if fn.startswith(_PKG_DIR):
            return f"{fn[len(_PKG_DIR):]}:{f.f_lineno}"
        f = f.f_back
    return "test"


# -- argument handling -----------------------------------------------------------------------------

IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to "
            "construct a NumPy array explicitly.")


def _unsupported(x):
    return TypeError(f"Unsupported type {type(x)}")


_PLAIN = frozenset({int, float, bool, complex, str, slice, type(None), type(Ellipsis)})


def _unwrap(x):
    """The NumPy array under a fake array; NumPy arrays are refused (CuPy's TypeError)."""
    t = type(x)
    if t is ndarray:
        return x._a
    if t in _PLAIN:
        return x
    if t is tuple or t is list:
        return t(_unwrap(v) for v in x)
    if isinstance(x, np.ndarray):
        raise _unsupported(x)
    return x


def _unwrap_kw(kw: dict) -> dict:
    return {k: _unwrap(v) for k, v in kw.items()} if kw else kw


def _wrap(x):
    if isinstance(x, np.ndarray):
        return ndarray(x)
    if isinstance(x, np.generic):             # CuPy: reductions give 0-d device arrays
        return ndarray(np.asarray(x))
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


def _index(key):
    """An index for the NumPy array underneath, noting what CuPy would transfer."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    if isinstance(key, ndarray):
        if key.dtype == np.bool_:
            TRANSFERS.note("d2h", "boolean mask index (CuPy reads the count)")
        return key._a
    if isinstance(key, (np.ndarray, list)):
        TRANSFERS.note("h2d", "host index array")
        return np.asarray(key)
    return key


def _wrap_around(key, shape):
    """key with its integer-array entries taken modulo their axis length, as CuPy wraps an
    out-of-bounds index around instead of raising (NumPy raises IndexError)."""
    keys = key if isinstance(key, tuple) else (key,)

    def width(k):                                 # axes an entry consumes
        if k is None or k is Ellipsis:
            return 0
        return k.ndim if isinstance(k, np.ndarray) and k.dtype == np.bool_ else 1
    rest = len(shape) - sum(width(k) for k in keys)
    out, axis = [], 0
    for k in keys:
        if k is Ellipsis:
            axis += rest
        elif isinstance(k, np.ndarray) and k.dtype.kind in "iu" and axis < len(shape) \
                and shape[axis] > 0:
            k = np.mod(k, shape[axis])
        axis += width(k)
        out.append(k)
    return tuple(out) if isinstance(key, tuple) else out[0]


# -- the array -------------------------------------------------------------------------------------

class _Flags:
    """cupy.ndarray.flags: only the attributes CuPy's Flags has (API["flags"]: c_contiguous,
    f_contiguous, owndata …); `writeable`, `aligned` … are an AttributeError, as on CuPy."""

    __slots__ = ("_f",)

    def __init__(self, f):
        self._f = f

    def __getattr__(self, name):
        if name in API["flags"]:
            return getattr(self._f, name)
        raise AttributeError(f"'Flags' object has no attribute {name!r}")

    def __getitem__(self, key):
        if key in ("C_CONTIGUOUS", "F_CONTIGUOUS", "OWNDATA"):
            return self._f[key]
        raise KeyError(f"{key} is not defined for cupy.ndarray.flags")



class ndarray:
    """A 'device' array: NumPy underneath, CuPy's rules on top."""

    __module__ = "cupy"          # backend.get_array_module: type(x).__module__.startswith("cupy")
    __slots__ = ("_a",)
    __array_priority__ = 100

    def __init__(self, a):
        if not isinstance(a, np.ndarray):
            raise TypeError("fake cupy.ndarray wraps a numpy array")
        self._a = a

    # attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: _Flags(self._a.flags))
    T = property(lambda self: ndarray(self._a.T))
    base = property(lambda self: None if self._a.base is None else _wrap(self._a.base))

    # NumPy must never read us implicitly
    def __array__(self, *a, **k):
        raise TypeError(IMPLICIT)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        f = ufunc if method == "__call__" else getattr(ufunc, method)
        out = kwargs.get("out")
        res = f(*_unwrap(inputs), **_unwrap_kw(kwargs))
        if out is not None:
            return out[0] if isinstance(out, tuple) and len(out) == 1 else out
        return _wrap(res)

    def __array_function__(self, func, types_, args, kwargs):
        # CuPy'ınki gibi: NumPy fonksiyonunun modül yolu CuPy'da izlenir (np.linalg.norm →
        # cupy.linalg.norm); CuPy'da karşılığı olmayan (np.insert) NotImplemented, yani TypeError
        path = ".".join(func.__module__.split(".")[1:])
        if func.__name__ not in API["modules"].get(path, ()):
            return NotImplemented
        impl = _MODULE
        for part in (path.split(".") if path else ()):
            impl = getattr(impl, part, None)
        impl = getattr(impl, func.__name__, None)
        if impl is None or not callable(impl):
            return NotImplemented
        return impl(*args, **kwargs)

    # device → host
    def get(self, stream=None, order="C", out=None, blocking=True):
        TRANSFERS.note("d2h", "ndarray.get")
        if out is not None:
            out[...] = self._a
            return out
        return np.array(self._a, order=order, copy=True)

    def set(self, arr, stream=None):
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray, got {type(arr)}")
        if arr.shape != self.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self.shape}, new shape: {arr.shape}")
        if arr.dtype != self.dtype:
            raise TypeError(f"{arr.dtype} array cannot be set to {self.dtype} array")
        TRANSFERS.note("h2d", "ndarray.set")
        self._a[...] = arr

    def item(self):
        TRANSFERS.note("d2h", "ndarray.item")
        return self._a.item()

    def tolist(self):
        TRANSFERS.note("d2h", "ndarray.tolist")
        return self._a.tolist()

    def __float__(self):
        TRANSFERS.note("d2h", "float()")
        return float(self._a)

    def __int__(self):
        TRANSFERS.note("d2h", "int()")
        return int(self._a)

    def __complex__(self):
        TRANSFERS.note("d2h", "complex()")
        return complex(self._a)

    def __bool__(self):
        TRANSFERS.note("d2h", "bool()")
        return bool(self._a)

    def __repr__(self):
        TRANSFERS.note("d2h", "repr()")
        return repr(self._a)

    def __str__(self):
        TRANSFERS.note("d2h", "str()")
        return str(self._a)

    def __format__(self, spec):
        TRANSFERS.note("d2h", "format()")
        return format(self._a.item() if self.ndim == 0 else self._a, spec)

    # containers
    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (ndarray(np.asarray(self._a[i])) if self.ndim == 1 else ndarray(self._a[i])
                for i in range(len(self._a)))

    def __getitem__(self, key):
        return _wrap(self._a[_wrap_around(_index(key), self.shape)])

    def __setitem__(self, key, value):
        if isinstance(value, np.ndarray):
            if value.ndim != 0:
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
            value = value.item()
        self._a[_wrap_around(_index(key), self.shape)] = _unwrap(value)

    # methods
    def fill(self, value):
        if isinstance(value, np.ndarray):
            if value.ndim != 0:
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
            value = value.item()
        self._a.fill(_unwrap(value))

    def take(self, indices, axis=None, out=None):
        return take(self, indices, axis=axis, out=out)

    def copy(self, order="C"):
        return ndarray(self._a.copy(order=order))

    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        if casting is not None:
            raise TypeError("casting is not supported yet")         # CuPy'ın iletisi
        return ndarray(self._a.astype(dtype, order=order, copy=copy))

    def view(self, *a, **k):
        return ndarray(self._a.view(*a, **k))

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __reduce__(self):
        raise TypeError("the fake cupy.ndarray is not picklable here (use .get())")


def _method(name):
    def call(self, *a, **k):
        _check_call(f"ndarray.{name}", API["ndarray"][name], a, k)
        if name in _DATA_DEPENDENT:
            TRANSFERS.note("d2h", f"ndarray.{name} (reads the output size)")
        return _wrap(getattr(self._a, name)(*_unwrap(a), **_unwrap_kw(k)))
    call.__name__ = name
    return call


for _name in ("reshape", "transpose", "swapaxes", "ravel", "flatten", "squeeze", "sum", "max",
              "min", "mean", "var", "std", "prod", "all", "any", "argmax", "argmin", "cumsum",
              "clip", "round", "nonzero", "repeat", "sort", "argsort", "dot", "conj",
              "diagonal", "trace", "ptp"):
    setattr(ndarray, _name, _method(_name))


def _binary(ufunc, reflected=False, inplace=False):
    def op(self, other):
        if isinstance(other, (list, tuple, np.ndarray)):
            raise _unsupported(other)
        o = _unwrap(other)
        if inplace:
            ufunc(self._a, o, out=self._a)
            return self
        return _wrap(ufunc(o, self._a) if reflected else ufunc(self._a, o))
    return op


for _ops, _uf in ((("add",), np.add), (("sub",), np.subtract), (("mul",), np.multiply),
                  (("truediv",), np.true_divide), (("floordiv",), np.floor_divide),
                  (("mod",), np.remainder), (("pow",), np.power), (("matmul",), np.matmul),
                  (("and",), np.bitwise_and), (("or",), np.bitwise_or),
                  (("xor",), np.bitwise_xor), (("lshift",), np.left_shift),
                  (("rshift",), np.right_shift)):
    for _o in _ops:
        setattr(ndarray, f"__{_o}__", _binary(_uf))
        setattr(ndarray, f"__r{_o}__", _binary(_uf, reflected=True))
        if _o != "matmul":                      # CuPy'da `a @= b` yerinde değildir (yukarıda)
            setattr(ndarray, f"__i{_o}__", _binary(_uf, inplace=True))
for _o, _uf in (("eq", np.equal), ("ne", np.not_equal), ("lt", np.less),
                ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal)):
    setattr(ndarray, f"__{_o}__", _binary(_uf))
ndarray.__hash__ = None
ndarray.__neg__ = lambda self: ndarray(np.negative(self._a))
ndarray.__pos__ = lambda self: ndarray(np.positive(self._a))
ndarray.__abs__ = lambda self: ndarray(np.absolute(self._a))
ndarray.__invert__ = lambda self: ndarray(np.invert(self._a))


# -- the module ------------------------------------------------------------------------------------

class _Ufunc:
    """A NumPy ufunc on fake arrays (with `.at`, `.reduce`, …), refusing NumPy arrays."""

    def __init__(self, uf):
        self._uf = uf
        self.__name__ = uf.__name__

    def __call__(self, *args, **kw):
        bad = {k: v for k, v in kw.items() if k not in UFUNC_KEYWORDS}
        if bad:
            raise TypeError(f"Wrong arguments {bad}")       # CuPy'ın iletisi (ör. order=)
        for a in args:
            if isinstance(a, (list, tuple, np.ndarray)):
                raise _unsupported(a)          # CuPy's ufuncs take arrays and scalars only
        out = kw.get("out")
        res = self._uf(*_unwrap(args), **_unwrap_kw(kw))
        if out is not None:
            return out[0] if isinstance(out, tuple) and len(out) == 1 else out
        return _wrap(res)

    def __getattr__(self, name):
        f = getattr(self._uf, name)
        if not callable(f):
            return f
        if name == "at":
            def at(a, indices, b=None):          # CuPy wraps out-of-bounds indices around
                key = _wrap_around(_index(indices), a.shape)
                args = (a._a, key) if b is None else (a._a, key, _unwrap(b))
                f(*args)
            return at

        if name not in API["ufunc"]:
            raise AttributeError(f"'cupy.ufunc' object has no attribute {name!r}")

        def call(*args, **kw):
            _check_call(f"{self.__name__}.{name}", API["ufunc"][name], args, kw)
            return _wrap(f(*_unwrap(args), **_unwrap_kw(kw)))
        return call


# Fonksiyonlar ki çıktılarının boyu veriye bağlıdır: CuPy önce öğe sayısını okur (eşitleme)
_DATA_DEPENDENT = {"nonzero", "flatnonzero", "argwhere", "unique", "compress", "extract"}


def _function(f, params=None):
    name = getattr(f, "__name__", "function")

    def call(*args, **kw):
        _check_call(f"cupy.{name}", params, args, kw)
        if name in _DATA_DEPENDENT:
            TRANSFERS.note("d2h", f"cupy.{name} (reads the output size)")
        out = kw.get("out")
        res = f(*_unwrap(args), **_unwrap_kw(kw))
        if out is not None and isinstance(out, ndarray):
            return out
        return _wrap(res)
    call.__name__ = name
    return call


class _FakeCupyModule(types.ModuleType):
    """`cupy`: NumPy's names, each working on fake arrays only (see the module docstring)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        kind = API["modules"][""].get(name)
        try:
            if kind is None:                        # CuPy'da yok (frombuffer, errstate …)
                raise AttributeError
            f = getattr(np, name)
        except AttributeError:
            raise AttributeError(f"module 'cupy' (fake) has no attribute {name!r}") from None
        if isinstance(f, np.ufunc):
            w = _Ufunc(f)
        elif isinstance(f, type) or not callable(f):
            w = f                                   # dtypes, np.float32, np.inf …
        else:
            w = _function(f, None if kind in ("value", "ufunc") else kind)
        setattr(self, name, w)
        return w


DEVICE_MEMORY_UNTRACED = False
# cupy.cuda.runtime.memGetInfo(): (free, total) bytes of the device (a test sets them), and the
# bytes the memory pool holds freed (MemoryPool.free_bytes)
DEVICE_MEMORY = (1 << 40, 1 << 40)
POOL_FREE_BYTES = 0


def _untraced(shape, dtype) -> np.ndarray:
    """A zeroed NumPy array in memory tracemalloc does not see (an anonymous mmap): device
    memory, when DEVICE_MEMORY_UNTRACED is set."""
    shape = tuple(int(d) for d in shape) if isinstance(shape, (tuple, list)) else (int(shape),)
    dtype = np.dtype(dtype)
    n = math.prod(shape)
    buf = mmap.mmap(-1, max(n * dtype.itemsize, 1))
    return np.frombuffer(buf, dtype=dtype, count=n).reshape(shape)


def _host_to_device(a, dtype, what):
    if isinstance(a, ndarray):
        return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
    TRANSFERS.note("h2d", what)
    if DEVICE_MEMORY_UNTRACED:
        # Kopya (tür dönüşümü dahil) doğrudan aygıt belleğine yazılır: ana bellekte ara kopya yok
        src = np.asarray(a)
        out = _untraced(src.shape, src.dtype if dtype is None else dtype)
        out[...] = src
        return ndarray(out)
    return ndarray(np.array(a, dtype=dtype, copy=True))


def zeros(shape, dtype=float, order="C"):
    if DEVICE_MEMORY_UNTRACED:
        return ndarray(_untraced(shape, dtype))
    return ndarray(np.zeros(shape, dtype=dtype, order=order))


def asarray(a, dtype=None, order=None, *, blocking=False):
    return _host_to_device(a, dtype, "cupy.asarray")


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    if isinstance(obj, ndarray):
        out = obj.astype(dtype or obj.dtype, copy=copy)
        return out
    return _host_to_device(obj, dtype, "cupy.array")


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    if isinstance(a, ndarray):
        return a.get(out=out)
    return np.asarray(a, order=order)


def copyto(dst, src, casting="same_kind", where=None):
    if not isinstance(dst, ndarray):
        raise TypeError(f"dst must be a cupy.ndarray, got {type(dst)}")
    if isinstance(src, np.ndarray):
        if src.size != 1:
            raise ValueError("non-scalar numpy.ndarray cannot be used for copyto")
        src = src.item()
    np.copyto(dst._a, _unwrap(src), casting=casting,
              where=True if where is None else _unwrap(where))


def take(a, indices, axis=None, out=None):
    """cupy.take: an out-of-bounds index wraps around (CuPy has no mode= to raise)."""
    n = a.size if axis is None else a.shape[axis]
    idx = np.mod(_unwrap(indices), n) if n else _unwrap(indices)
    res = np.take(a._a, idx, axis=axis)
    if out is not None:
        out._a[...] = res
        return out
    return _wrap(res)


def take_along_axis(arr, indices, axis):
    """cupy.take_along_axis: advanced indexing underneath, so out-of-bounds indices wrap."""
    n = arr.size if axis is None else arr.shape[axis]
    idx = np.mod(_unwrap(indices), n) if n else _unwrap(indices)
    return _wrap(np.take_along_axis(arr._a, idx, axis=axis))


def get_array_module(*args):
    return _MODULE if any(isinstance(a, ndarray) for a in args) else np


class _BitGenerator:
    """cupy.random.XORWOW stand-in: its state is NumPy's PCG64 Generator. Like CuPy's
    BitGenerator it holds a threading.Lock (`lock`), so copy.deepcopy of it, and of the
    Generator holding it, is a TypeError ("cannot pickle '_thread.lock' object"), as on CuPy
    14.2."""

    def __init__(self, seed=None):
        self.lock = threading.Lock()
        self._g = np.random.default_rng(seed)


class _Generator:
    """cupy.random.Generator stand-in: NumPy's PCG64 draws into device arrays. RANDOM notes
    each one built ('build') and each draw ('draw'). Its state is in `bit_generator`, as in
    CuPy (there with the cuRAND states on the device)."""

    def __init__(self, seed=None):
        RANDOM.note("build", "cupy.random.default_rng")
        self.bit_generator = _BitGenerator(seed)
        self._binomial_state = None

    _g = property(lambda self: self.bit_generator._g)

    @staticmethod
    def _check_out(dtype, size, out) -> None:
        """cupy.random.Generator._check_output_array: out is a device array of dtype, C or F
        contiguous, of shape size when both are given."""
        if not isinstance(out, ndarray):
            raise TypeError(f"out must be a cupy.ndarray, got {type(out)}")
        if out.dtype.char != np.dtype(dtype).char:
            raise TypeError(f"Supplied output array has the wrong type. Expected "
                            f"{np.dtype(dtype)}, got {out.dtype}")
        if not (out.flags.c_contiguous or out.flags.f_contiguous):
            raise ValueError("Supplied output array is not contiguous, writable or aligned.")
        if size is not None:
            shape = tuple(size) if isinstance(size, (tuple, list)) else (size,)
            if shape != out.shape:
                raise ValueError("size must match out.shape when used together")

    def random(self, size=None, dtype=np.float64, out=None):
        # out=: CuPy 14.2 checks it, draws into a new array of `size` (one number when size
        # is None) and copies that into out element by element (elementwise_copy: an F-ordered
        # out gets the numbers by index, not in memory order); standard_normal draws into out
        # itself. RANDOM tells the calls apart
        RANDOM.note("draw", "Generator.random" if out is None else "Generator.random(out=)")
        if out is not None:
            self._check_out(dtype, size, out)
            out._a[...] = self._g.random(size, dtype=dtype)
            return out
        return ndarray(np.asarray(self._g.random(size, dtype=dtype)))

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        RANDOM.note("draw", "Generator.standard_normal" if out is None else
                    "Generator.standard_normal(out=)")
        if out is not None:
            self._check_out(dtype, size, out)
            self._g.standard_normal(out.shape, dtype=out.dtype, out=out._a)
            return out
        return ndarray(np.asarray(self._g.standard_normal(size, dtype=dtype)))

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        RANDOM.note("draw", "Generator.integers")
        return ndarray(np.asarray(self._g.integers(low, high, size, dtype=dtype,
                                                   endpoint=endpoint)))


class _MemoryPool:
    def __init__(self, allocator=None):
        self.allocated = 0

    def malloc(self, size):
        self.allocated += size
        return None

    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self, stream=None):
        pass

    def free_bytes(self):
        return POOL_FREE_BYTES


class _Stream:
    null = None

    def __init__(self, null=False, non_blocking=False, ptds=False):
        self.ptr = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def synchronize(self):
        TRANSFERS.note("sync", "Stream.synchronize")

    def begin_capture(self, mode=None):
        raise NotImplementedError("the fake cupy has no CUDA graphs")

    def end_capture(self):
        raise NotImplementedError("the fake cupy has no CUDA graphs")


class _Device:
    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)

    def synchronize(self):
        TRANSFERS.note("sync", "Device.synchronize")

    def use(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def make_module():
    """(the fake `cupy` module, {name: module} to put into sys.modules)."""
    global _MODULE
    cp = _FakeCupyModule("cupy")
    cp.__file__ = _HERE
    cp.__version__ = "13.0.0+fake"
    cp.ndarray = ndarray
    cp.asarray = asarray
    cp.zeros = zeros
    cp.array = array
    cp.asnumpy = asnumpy
    cp.copyto = copyto
    cp.take = take
    cp.take_along_axis = take_along_axis
    cp.get_array_module = get_array_module
    cp.TRANSFERS = TRANSFERS
    cp.RANDOM = RANDOM
    RANDOM.reset()
    pool = _MemoryPool()
    cp.get_default_memory_pool = lambda: pool
    cp.get_default_pinned_memory_pool = lambda: _MemoryPool()
    cp.random = types.SimpleNamespace(default_rng=lambda seed=None: _Generator(seed),
                                      Generator=_Generator)
    cp.linalg = types.SimpleNamespace(norm=_function(np.linalg.norm,
                                                     API["modules"]["linalg"]["norm"]))
    runtime = types.SimpleNamespace(getDeviceCount=lambda: 1, memGetInfo=lambda: DEVICE_MEMORY)

    @contextlib.contextmanager
    def using_allocator(allocator=None):
        yield

    stream = _Stream()
    cuda = types.ModuleType("cupy.cuda")
    cuda.runtime = runtime
    cuda.Device = _Device
    cuda.Stream = _Stream
    cuda.MemoryPool = _MemoryPool
    cuda.using_allocator = using_allocator
    cuda.get_current_stream = lambda: stream
    cuda.device = types.SimpleNamespace(get_cublas_handle=lambda: 0)
    cp.cuda = cuda
    compute_types = []                 # (dtype, tür) çiftleri, set_compute_type sırasıyla
    linalg_mod = types.ModuleType("cupy._core._routines_linalg")
    linalg_mod.set_compute_type = lambda dtype, kind: compute_types.append((np.dtype(dtype),
                                                                            kind))

    def get_compute_type(dtype):
        # CuPy'daki gibi: son ayarlanan, yoksa 1 (COMPUTE_TYPE_DEFAULT; CUPY_TF32 ayarsızken)
        kinds = [k for d, k in compute_types if d == np.dtype(dtype)]
        return kinds[-1] if kinds else 1
    linalg_mod.get_compute_type = get_compute_type
    linalg_mod.compute_types = compute_types
    core = types.ModuleType("cupy._core")
    core._routines_linalg = linalg_mod
    cp._core = core
    _MODULE = cp
    return cp, {"cupy": cp, "cupy.cuda": cuda, "cupy._core": core,
                "cupy._core._routines_linalg": linalg_mod}


_MODULE = None
