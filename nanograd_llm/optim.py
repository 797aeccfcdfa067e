"""
# Eniyileme (optimizasyon): AdamW, öğrenme oranı takvimi, gradyan kırpma

## AdamW
Adam, her parametre için gradyanın iki hareketli ortalamasını tutar:

    m ← β₁·m + (1 − β₁)·g          birinci moment (yön; "momentum")
    v ← β₂·v + (1 − β₂)·g²         ikinci moment (büyüklük)
    m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)     yanlılık düzeltmesi (başta m, v sıfırdır)
    θ ← θ − lr · m̂ / (√v̂ + ε)

Bölme, adımı gradyanın ölçeğinden bağımsız kılar. Bir parametrenin gradyanı adımdan adıma
aşağı yukarı aynıysa |m̂| ≈ √v̂ olur ve adım yaklaşık lr kadardır; gradyanın büyüklüğü 10⁻³
de olsa 10³ de olsa sonuç değişmez. Gradyanın işareti adımdan adıma değişiyorsa
(gürültülüyse) ortalama m̂ küçülür ama v̂ küçülmez, adım da lr'nin altına düşer. Başka bir
deyişle adım (lr/√v̂)·m̂'dir; her parametrenin etkin öğrenme oranı lr/√v̂, büyük gradyan alan
parametre için küçük, küçük gradyan alan için büyüktür.

**Ayrıştırılmış ağırlık azaltma (decoupled weight decay):** L2 cezasını kayba eklemek
(`g + λθ`), Adam'ın ölçeklemesinden geçtiği için büyük gradyanlı ağırlıkları daha az
küçültür. AdamW azaltmayı güncellemeden **ayrı** uygular: `θ ← θ·(1 − lr·λ)`. Azaltma
yalnızca 2-B ağırlık matrislerine (doğrusal katmanlar, gömmeler) uygulanır; sapmalar
(bias) ve katman normalizasyonu kazançları gibi 1-B parametreler azaltılmaz — onları
sıfıra çekmek modelin ölçeğini bozar.

## Hızlı yol: tek düz dizi
Modelin bütün parametreleri tek bir düz dizinin (`model.flat`) görünümleridir ve azaltılan
2-B parametreler başa dizilmiştir. Bu yüzden güncelleme, parametre başına bir Python döngüsü
yerine bütün dizi üzerinde birkaç yerinde (in-place) işlemdir; azaltma tek bir dilime
(`flat[:n_decay]`) uygulanır. `m` ve `v` de düz dizilerdir. Aynı kod CuPy'da da çalışır ve
öğrenme oranı gibi sayılar Python `float` olarak kaldığı için ana bellek ile GPU arasında
gizli bir eşitleme olmaz. Model, eniyileyici kurulduktan sonra `model.to(...)` ile başka bir
aygıta taşınırsa `m` ve `v` de sonraki adımda, değerleri korunarak modelin aygıtına taşınır.

## Öğrenme oranı takvimi
Isınma (warmup): ilk `warmup_iters` adımda oran doğrusal olarak artar; başta `v` tahmini
güvenilmezken büyük adımlar atmayı önler. Sonra kosinüs eğrisiyle `lr_decay_iters` adımına
kadar `min_lr`'ye iner ve orada kalır.

## Gradyan kırpma
Bütün gradyanların birleşik (global) normu `max_norm`'u aşarsa hepsi aynı oranla küçültülür:
yön korunur, yalnızca boy sınırlanır. Ara sıra gelen çok büyük bir gradyanın eğitimi
dağıtmasını önler.

Norm, bileşenlerin karelerinin toplamının kareköküdür. float32'nin en büyük sayısı yaklaşık
3,4·10³⁸ olduğu için yaklaşık 1,8·10¹⁹'u aşan bir bileşenin karesi taşar: bütün gradyanlar
sonlu olduğu hâlde norm sonsuz çıkar (PyTorch'un `clip_grad_norm_`'u da burada sonsuz döndürür).
Her adımda norm bir kez, ölçeklemeden hesaplanır; ancak sonuç sonlu değilse (nadir yol; GPU'da
yalnızca `train.py`'nin denetlediği adımlarda) `rescaled_grad_norm` gradyanların en büyük mutlak
değerine (`max|g|`) bakar. Bu değer sonluysa bütün gradyanlar sonludur ve norm ölçeklenerek
yeniden hesaplanır: `norm(g) = max|g| · norm(g / max|g|)`. Bölünmüş bileşenler mutlak değerce en çok 1
olduğundan kareleri taşmaz; kırpma doğru normla yapılır ve adım atılır. Gradyanlardan biri NaN
ya da sonsuzsa, ya da gerçek norm bile float32'ye sığmıyorsa (3,4·10³⁸'i aşıyorsa), norm sonlu
olmayan değeriyle kalır ve eğitim açık bir iletiyle durur (`train.py`).

## Gradyan biriktirme
Bellek büyük bir toplu işe yetmediğinde, K küçük toplu işin (micro-batch) gradyanları
toplanır (`model.backward(accumulate=True)`) ve K'ya bölünür. Her küçük toplu işin kaybı
kendi ortalaması olduğu için, eşit boylu K parçanın ortalaması büyük toplu işin
ortalamasıyla aynıdır: 2 × B'lik biriktirme, 1 × 2B'lik adımla aynı gradyanı verir.
"""
from __future__ import annotations

import inspect
import math

import numpy as np

from . import backend
from .backend import (device_of, for_row_blocks, fused_kernels, get_array_module, to_device,
                      to_numpy)


def get_lr(step: int, lr: float, min_lr: float, warmup_iters: int, lr_decay_iters: int) -> float:
    """The learning rate of step `step` (0-based): linear warmup over warmup_iters, then cosine
    decay to min_lr at lr_decay_iters (a step, 1 or more: TrainConfig's lr_decay_iters=0, 'at
    max_iters', is cfg.decay_iters here; less than 1 is a ValueError).

    Warmup: lr * (step + 1) / (warmup_iters + 1) for step < warmup_iters (never 0). When
    warmup_iters < lr_decay_iters: lr at step warmup_iters, then the cosine, min_lr from
    lr_decay_iters on. Otherwise (lr_decay_iters <= warmup_iters, as TrainConfig(max_iters=30)
    with the default warmup_iters=50) the warmup runs its whole length, past lr_decay_iters,
    and min_lr follows from step warmup_iters on: lr itself is never reached."""
    if lr_decay_iters < 1:
        # TrainConfig'de lr_decay_iters=0 "kosinüs max_iters'ta biter" demektir; burada 0, eğrinin
        # 0. adımda bittiği, yani oranın ısınmadan hemen sonra min_lr'ye düştüğü anlamına gelirdi
        # (nanoGPT'deki gibi). Kendi döngüsüne cfg.lr_decay_iters veren biri eğitimi sessizce
        # min_lr ile yapardı: iki anlam karışmasın diye 0 reddedilir ve ne verileceği söylenir.
        # Negatif bir değer bir adım değildir: ileti onu "0. adım" diye anmaz
        what = ("would end the cosine at step 0" if lr_decay_iters == 0 else
                "is not a step: it would end the cosine before step 0")
        raise ValueError(f"get_lr: lr_decay_iters={lr_decay_iters} {what} "
                         f"(the rate would drop to min_lr right after warm-up); pass "
                         f"the step where it reaches min_lr: cfg.decay_iters for a "
                         f"TrainConfig (its lr_decay_iters=0 means max_iters), or max_iters")
    if step < warmup_iters:
        return lr * (step + 1) / (warmup_iters + 1)
    if step >= lr_decay_iters or lr_decay_iters <= warmup_iters:
        return min_lr
    ratio = (step - warmup_iters) / (lr_decay_iters - warmup_iters)   # 0 → 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * ratio))                   # 1 → 0
    # min_lr + coeff·(lr − min_lr) yuvarlanır: ısınmanın bittiği adımda (coeff = 1) ve yakınında
    # lr'nin bir ulp üstüne çıkabilir (lr − min_lr yukarı yuvarlanınca). Oran hiçbir zaman lr ile
    # min_lr'nin dışına çıkmasın diye bu iki değerle sınırlanır
    return min(max(min_lr + coeff * (lr - min_lr), min(lr, min_lr)), max(lr, min_lr))


def _grad_arrays(grads_or_flat) -> list:
    """The gradient arrays of a dict (model.grads), a list or tuple of arrays, or one array."""
    # Liste (PyTorch'un clip_grad_norm_'u gibi) tek bir dizi sanılıp `.size`'ı aranıyordu
    if isinstance(grads_or_flat, dict):
        return list(grads_or_flat.values())
    if isinstance(grads_or_flat, (list, tuple)):
        return list(grads_or_flat)
    return [grads_or_flat]


def global_grad_norm(grads_or_flat):
    """sqrt(sum of squares) over all gradients (a dict, a list of arrays or the flat buffer),
    as a 0-d array on the gradients' device (0, on the host, for no gradients at all)."""
    arrays = _grad_arrays(grads_or_flat)
    if not arrays:
        # Hiç gradyan yok (ör. süzülüp boş kalan bir liste): norm 0'dır, PyTorch'un
        # clip_grad_norm_'undaki gibi. Yoksa toplam None kalır ve NumPy'ın derinlerinden
        # anlaşılmaz bir TypeError gelirdi
        return np.zeros((), np.float32)
    xp = get_array_module(*arrays)
    total = None
    for g in arrays:
        s = xp.vdot(g.reshape(-1), g.reshape(-1)) if g.size else xp.zeros((), g.dtype)
        total = s if total is None else total + s
    return xp.sqrt(total)


def rescaled_grad_norm(grads_or_flat, norm):
    """The global norm again, for the rare step whose global_grad_norm `norm` is not finite.

    When every gradient is finite only the sum of squares overflowed (float32 entries above
    ~1.8e19): the norm is recomputed as max|g| * ||g / max|g|||, so it is the true norm. When a
    gradient is NaN or inf, or the true norm is beyond the largest number of its dtype,
    `norm` is returned as it is. Reads a few numbers on the host (a sync on the GPU)."""
    arrays = _grad_arrays(grads_or_flat)
    arrays = [g for g in arrays if g.size]
    if not arrays:
        return norm
    xp = get_array_module(*arrays)
    # En büyük mutlak değer sonluysa bütün gradyanlar sonludur: NaN ya da sonsuz bir bileşen
    # max'ı da NaN ya da sonsuz yapar
    peaks = [float(xp.abs(g).max()) for g in arrays]
    if not all(math.isfinite(p) for p in peaks) or max(peaks) == 0.0:
        return norm
    peak = max(peaks)
    total = 0.0
    for g in arrays:
        # peak bir Python sayısıdır: bölüm g'nin dtype'ında kalır, GPU'ya kopyalanmaz; bölünmüş
        # bileşenler mutlak değerce en çok 1'dir, karelerinin toplamı en çok n olur, taşmaz
        s = (g / peak).reshape(-1)
        total += float(xp.vdot(s, s))
    # Çarpım Python float'uyla (float64): float32 bir gradyanın normu burada taşmaz; float64
    # gradyanlarda sonsuz çıkarsa o da aşağıda yakalanır
    value = peak * math.sqrt(total)
    if not value <= float(np.finfo(norm.dtype).max):
        return norm                          # gerçek norm bile bu dtype'a sığmıyor
    return xp.asarray(value, dtype=norm.dtype)


def clip_grad_norm(grads_or_flat, max_norm: float, norm=None):
    """Scale gradients in place so their global norm is at most max_norm; returns the norm
    before clipping (a 0-d device array).

    `norm`: that norm, when the caller has computed it already (global_grad_norm); it is used
    as given, with no host sync (the caller checks it: train.py, on its checked steps, takes
    rescaled_grad_norm when it is not finite). Without it the norm is computed here and read
    once on the host (a sync on the GPU): a norm that only overflowed while every gradient is
    finite is recomputed with rescaled_grad_norm, so the clip scales by the true norm instead
    of zeroing every gradient."""
    if norm is None:
        norm = global_grad_norm(grads_or_flat)
        if not math.isfinite(float(norm)):
            norm = rescaled_grad_norm(grads_or_flat, norm)      # nadir yol: toplam taştı
    if max_norm is None or max_norm <= 0:
        return norm
    xp = get_array_module(norm)
    # katsayı aygıtta hesaplanır: min(1, max_norm / (norm + 1e-6))
    # Python sayıları GPU çekirdeğine argüman olarak gider: GPU'ya kopyalama (ve eşitleme) olmaz
    coef = xp.minimum(max_norm / (norm + 1e-6), 1.0)
    arrays = _grad_arrays(grads_or_flat)
    for g in arrays:
        g *= coef.astype(g.dtype)
    return norm


class AdamW:
    """AdamW with decoupled weight decay on 2-D (and higher) parameters only.

    `params` is a model (fast path over `model.flat`), or a dict name -> array (updated in place,
    one parameter at a time). `step(grads, lr=None)` takes the model's `grads` dict (or its
    `grad_flat`), or for dicts a dict with the same keys and shapes; a refused step changes
    nothing (parameters, moments, step count). A model moved with `model.to(device)` after the
    optimizer was built takes the moments along at the next step.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.1):
        for name, x in (("lr", lr), ("eps", eps), ("weight_decay", weight_decay)):
            _check_nonneg(name, x)
        check_eps(eps)
        # Parametrelerin türünde 0 olan bir eps (float32'de 1e-50) de eps = 0 gibi NaN verir
        if hasattr(params, "flat") and hasattr(params, "n_decay"):
            check_eps(eps, dtype=params.flat.dtype)
        elif isinstance(params, dict):
            for p in params.values():
                if getattr(getattr(p, "dtype", None), "kind", None) == "f":
                    check_eps(eps, dtype=p.dtype)
        # betas=0.9 ("'float' object is not iterable") ya da üç sayı ("too many values to
        # unpack") Python'un kendi iletisiyle düşerdi: iki sayılık bir çift olduğu burada denetlenir
        try:
            pair = None if isinstance(betas, str) else tuple(betas)
        except TypeError:
            pair = None
        if pair is None or len(pair) != 2 or not all(_is_number(b) for b in pair):
            raise ValueError(f"betas must be a pair of numbers (beta1, beta2) in [0, 1), "
                             f"got {betas!r}")
        b1, b2 = (float(b) for b in pair)
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        self.lr, self.betas, self.eps, self.weight_decay = float(lr), (b1, b2), float(eps), \
            float(weight_decay)
        self.t = 0
        self.model = None
        if hasattr(params, "flat") and hasattr(params, "n_decay"):
            self.model = params
            # Momentler ilk kullanıldıklarında ayrılır (bkz. m, v): kaldığı yerden devam ederken
            # load_state_dict(..., adopt=True) okunan momentleri alır, sıfır dizileri hiç
            # ayrılmaz (yoksa bir an için momentlerin iki kopyası birden bellekte dururdu)
            self._m = self._v = None
        elif isinstance(params, dict):
            if not params:
                raise ValueError("AdamW got no parameters")
            for k, p in params.items():
                _check_param(k, p)
            self.params = params
            self.m = {k: get_array_module(p).zeros_like(p) for k, p in params.items()}
            self.v = {k: get_array_module(p).zeros_like(p) for k, p in params.items()}
        else:
            raise TypeError("AdamW(params) expects a model (ParamModel) or a dict of arrays")

    @classmethod
    def from_model(cls, model, **kwargs) -> "AdamW":
        """AdamW(model, **kwargs): the optimizer of a model's flat buffer."""
        return cls(model, **kwargs)

    # -- moments (a model's: zeros made on first use) -------------------------------------
    @property
    def m(self):
        """First moment: one flat array like model.flat (a dict of arrays for a dict)."""
        if self._m is None:
            self._m = self.model.xp.zeros_like(self.model.flat)
        return self._m

    @m.setter
    def m(self, value):
        self._m = value

    @property
    def v(self):
        """Second moment, laid out like m."""
        if self._v is None:
            self._v = self.model.xp.zeros_like(self.model.flat)
        return self._v

    @v.setter
    def v(self, value):
        self._v = value

    # -- update --------------------------------------------------------------------------
    def step(self, grads=None, lr: float | None = None) -> None:
        """One AdamW update of the parameters, in place.

        grads: for a model, None (its own `grads`), its `grads` dict or `grad_flat`, or another
        dict with the keys and shapes of `model.params`; for a dict of parameters, a dict with
        the same keys and shapes. lr: this step's learning rate (the schedule's get_lr), else
        the one given at construction. Gradients of the wrong keys, shapes or type, or a bad
        lr, are an error that changes nothing. Gradient values are not checked (that would
        be a host sync on the GPU): a NaN or infinite gradient is applied and makes the
        weights it reaches NaN (train() checks the loss, the gradient norm and the weights
        and stops with NonFiniteLoss).
        """
        if isinstance(grads, (int, float, np.integer, np.floating)):
            # `opt.step(0.001)` (bölümlerdeki küçük AdamW'nin imzası): sayı gradyan sanılmasın
            raise TypeError(f"AdamW.step(grads=None, lr=None): got the number {grads!r} as "
                            f"grads; pass a learning rate as lr={grads!r}")
        if lr is not None:
            # Kurucudaki denetimin aynısı: negatif bir oran adımı gradyan yönünde (kaybı
            # artıran) yapardı
            _check_nonneg("lr", lr)
        lr = self.lr if lr is None else float(lr)
        # Gradyanlar her şeyden önce denetlenir: reddedilen bir adım parametreleri, momentleri
        # ve adım sayısını (t) değiştirmez (yoksa sonraki adımın yanlılık düzeltmesi kayardı)
        if self.model is not None:
            g = self._flat_grad(grads)
            self._follow_model()
        else:
            _check_grads(grads, {k: p.shape for k, p in self.params.items()})
        self.t += 1
        b1, b2 = self.betas
        bc1 = 1.0 - b1 ** self.t
        bc2 = 1.0 - b2 ** self.t
        if self.model is not None:
            self._step_flat(g, lr, bc1, bc2)
        else:
            self._step_dict(grads, lr, bc1, bc2)

    def _follow_model(self) -> None:
        """Keep the moments on the parameters' device: a model moved with `model.to(device)`
        after this optimizer was built takes its moments along at the next step (once)."""
        flat = self.model.flat
        if type(self.m) is not type(flat):
            # Momentler eski aygıtta kaldıysa GPU ile CPU dizileri aynı işleme girerdi (CuPy
            # bunu TypeError ile reddeder): değerleri korunarak modelin aygıtına taşınırlar
            dev = device_of(flat)
            self.m, self.v = to_device(self.m, dev), to_device(self.v, dev)

    def _flat_grad(self, grads):
        model = self.model
        # Modelin gradyan dizisi henüz ayrılmamışsa verilen nesne o (ya da onun görünümleri)
        # olamaz: karşılaştırmak için ayrılmaz. `model.grads` okumak onu ayırırdı: kendi
        # gradyan sözlüğünü veren ya da reddedilen bir adım (step(model)) parametreler kadar
        # (GPT-2 small'da 0,5 GB) boşuna sıfır tutardı
        made = getattr(model, "grad_flat_if_made", None)
        own = made() if made is not None else model.grad_flat
        if grads is None or (own is not None and (grads is own or grads is model.grads)):
            return model.grad_flat
        if isinstance(grads, dict):
            # başka bir sözlük: düz diziye topla (yavaş yol). Şekiller tam tutmalı: öğe sayısı
            # aynı ama şekli başka bir gradyan (ör. PyTorch'un (çıkış, giriş) düzenindeki devrik)
            # reshape(-1) ile hata vermeden, öğeleri yanlış yerlere düşerek yazılırdı
            _check_grads(grads, {name: shape for name, _, shape in model.layout})
            flat = model.xp.empty_like(model.flat)
            for name, off, shape in model.layout:
                n = int(np.prod(shape))
                flat[off:off + n] = model.xp.asarray(grads[name]).reshape(-1)
            return flat
        if not hasattr(grads, "shape"):
            # opt.step(model) ya da bir dizi listesi: derindeki bir AttributeError yerine
            hint = " (pass model.grads, not the model)" if _has_grads(grads) else ""
            raise TypeError(f"step(grads) expects model.grads, model.grad_flat or a dict with "
                            f"the parameters' names, got {type(grads).__name__}{hint}")
        if grads.shape != model.flat.shape:
            raise ValueError(f"flat gradient has shape {grads.shape}, expected {model.flat.shape}")
        return grads

    def _step_flat(self, g, lr, bc1, bc2) -> None:
        b1, b2 = self.betas
        xp, flat, m, v = self.model.xp, self.model.flat, self.m, self.v
        fused = fused_kernels(flat)
        if fused is not None:
            # Birleşik çekirdek (GPU ya da CPU'da Numba): on üç geçiş yerine tek geçiş; azaltılan
            # (2-B) ve azaltılmayan dilimler ayrı çağrılır. Çekirdek parametrelerin türünde
            # çalışır: başka türde bir gradyan (ör. float64) genel yoldaki gibi o türe çevrilir
            nd = self.model.n_decay
            if g.dtype != flat.dtype:
                g = g.astype(flat.dtype)
            for sl, wd in ((slice(0, nd), self.weight_decay), (slice(nd, None), 0.0)):
                if flat[sl].size:
                    fused.adamw_update(flat[sl], g[sl], m[sl], v[sl], lr, b1, b2, self.eps, wd,
                                       bc1, bc2)
            return
        nd, wd, eps = self.model.n_decay, self.weight_decay, self.eps

        def block(r):
            # Düz dizinin bir dilimi; büyük modelde dilimler iş parçacıklarına paylaştırılır ve
            # aşağıdaki adımların hepsi dilim önbellekteyken yapılır (bkz. backend.for_row_blocks).
            # Ara sonuçlar (tb) dilim boyunda, adım içinde ayrılan bir dizidedir: parametre
            # boyunda kalıcı bir ara dizi, momentlerin yanında parametrelerin bir katı daha
            # (GPT-2 small'da 0,5 GB) bellek tutardı
            mb, vb, gb, pb = m[r], v[r], g[r], flat[r]
            tb = xp.empty_like(mb)
            # Sonlu olmayan bir gradyan (kırpma kapalıyken) inf/inf = NaN verir: NumPy'ın
            # "invalid value" uyarısı, eğiticinin sonraki adımdaki açık "loss is nan" hatasından
            # önce optim.py'nin bir satırını gösterirdi (kaynaştırılmış çekirdek sessizdir).
            # errstate yalnızca onu kuran iş parçacığında geçerlidir: dilimler ayrı iş
            # parçacıklarında işlenebildiği için her dilim onu kendisi kurar; CuPy'da etkisizdir
            with np.errstate(over="ignore", invalid="ignore"):
                # m ← β₁m + (1−β₁)g
                mb *= b1
                xp.multiply(gb, 1.0 - b1, out=tb)
                mb += tb
                # v ← β₂v + (1−β₂)g²
                vb *= b2
                xp.multiply(gb, gb, out=tb)
                tb *= 1.0 - b2
                vb += tb
                # payda: √v / √(1−β₂ᵗ) + ε
                xp.sqrt(vb, out=tb)
                tb *= 1.0 / math.sqrt(bc2)
                tb += eps
                # adım: −lr · m̂ / payda, m̂ = m / (1−β₁ᵗ)
                xp.divide(mb, tb, out=tb)
                tb *= -lr / bc1
                # ayrıştırılmış ağırlık azaltma: yalnızca 2-B parametreler (düz dizinin başı,
                # [0, nd))
                if wd and r.start < nd:
                    pb[:nd - r.start] *= 1.0 - lr * wd
                pb += tb

        # 256 K öğeden büyük modellerde dilimler iş parçacıklarına paylaştırılır: on üç geçişin
        # hepsi dilim önbellekteyken yapılır; her çağrı uzun olduğundan GIL el değiştirmesi ucuzdur
        for_row_blocks(block, flat.shape[0], 1, xp,
                       min_elems=min(backend.PARALLEL_MIN_ELEMS, 1 << 18))

    def _step_dict(self, grads, lr, bc1, bc2) -> None:
        b1, b2 = self.betas
        for k, p in self.params.items():
            g = grads[k]
            m, v = self.m[k], self.v[k]
            # düz yoldaki gibi: sonlu olmayan bir gradyan uyarısız NaN verir
            with np.errstate(over="ignore", invalid="ignore"):
                m *= b1
                m += (1.0 - b1) * g
                v *= b2
                v += (1.0 - b2) * (g * g)
                denom = get_array_module(p).sqrt(v) / math.sqrt(bc2) + self.eps
                if self.weight_decay and p.ndim >= 2:
                    p *= 1.0 - lr * self.weight_decay
                p -= (lr / bc1) * (m / denom)

    # -- state ---------------------------------------------------------------------------
    def state_dict(self, copy: bool = True) -> dict:
        """Hyper-parameters, step count and host copies of the moments.

        copy=False: on the CPU the moments are the optimizer's own arrays (no copy), to be
        written out at once (a checkpoint); they change with the next step."""
        # Kaydetmek için kopya gerekmez (bkz. ParamModel.state_dict): CPU'da momentlerin
        # kendileri verilir, GPU'da yalnızca ana belleğe okunurlar
        def host(a):
            a = to_numpy(a)
            return a.copy() if copy else a
        if self.model is not None:
            m, v = {"flat": host(self.m)}, {"flat": host(self.v)}
        else:
            m = {k: host(a) for k, a in self.m.items()}
            v = {k: host(a) for k, a in self.v.items()}
        return {"t": self.t, "lr": self.lr, "betas": list(self.betas), "eps": self.eps,
                "weight_decay": self.weight_decay, "m": m, "v": v}

    def load_state_dict(self, state: dict, source: str = "optimizer state",
                        adopt: bool = False, eps: float | None = None) -> None:
        """Restore a state_dict(): the step count, the moments (host or device arrays) and the
        hyper-parameters it holds.

        eps: the eps to take instead of the saved one (a resume's setting); the saved one is
        still checked as a number > 0, but need not be one the parameters' dtype holds.

        adopt=True (a model's optimizer on the CPU): a moment that is already a writeable,
        contiguous NumPy array of the parameters' dtype becomes the optimizer's own, without a
        copy; the caller must not use it afterwards (a resume hands over the arrays it read).
        A moment that shares memory with the other moment or with the model's parameters or
        gradients is copied instead."""
        try:
            t = state["t"]
            m, v = state["m"], state["v"]
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{source} is incomplete ({e!r})") from None
        _check_hyper(state, source)
        if eps is not None:
            _check_nonneg("eps", eps)
        if eps is not None or "eps" in state:
            # Kullanılacak eps parametrelerin türünde 0 olmamalı (kurucudaki denetimin aynısı).
            # Yerine başkası verilen (devam eden eğitimin ayarı) kaydedilmiş eps'in yalnızca
            # sayı olması yeter: eski bir sürümün kaydettiği, float32'de 0 olan eps, devam
            # ederken verilen eps=1e-8 ile düzeltilebilir
            used = (eps, "eps") if eps is not None else (state["eps"], f"{source}: 'eps'")
            for a in ([self.model.flat] if self.model is not None else self.m.values()):
                check_eps(used[0], used[1], dtype=a.dtype)
        t = int(t)
        # Şekiller momentler ayrılmadan denetlenir (modelin momentleri düz dizinin şeklindedir)
        shapes = {"flat": tuple(self.model.flat.shape)} if self.model is not None else \
            {k: tuple(a.shape) for k, a in self.m.items()}
        for name, new in (("m", m), ("v", v)):
            if set(new) != set(shapes):
                raise ValueError(f"{source}: moment {name!r} does not match the parameters")
            for k, shape in shapes.items():
                if tuple(new[k].shape) != shape:
                    raise ValueError(f"{source}: {name}[{k!r}] has shape {tuple(new[k].shape)}, "
                                     f"expected {shape}")
        if self.model is not None and adopt:
            # Devralma: okunan dizi kopyalanmadan momentin kendisi olur (uygunsa); kopyalamak,
            # momentlerin bir an için iki kopyasını birden tutardı
            # Belleğini öteki momentle ya da modelin ağırlık veya gradyan dizisiyle paylaşan bir
            # dizi (aynı dizi ya da örtüşen iki görünüm m ve v olarak verilmiş) devralınmaz:
            # birine yazılan ötekini de (m'ye yazılan v'yi ya da ağırlıkları) değiştirirdi ve her
            # adım sessizce yanlış olurdu. Kopyalanır.
            # (Gradyan dizisi henüz ayrılmamışsa onun için ayrılmaz: ilk geri geçişe kadar
            # bellekte momentlerle birlikte bir de sıfır dizisi tutulurdu)
            flat = self.model.flat
            made = getattr(self.model, "grad_flat_if_made", None)
            taken = [b for b in (flat, made() if made is not None else None)
                     if type(b) is np.ndarray]
            for name, new in (("_m", m), ("_v", v)):
                a = new["flat"]
                if type(a) is np.ndarray and type(flat) is np.ndarray and \
                        a.dtype == flat.dtype and a.flags.c_contiguous and a.flags.writeable \
                        and not any(np.may_share_memory(a, b) for b in taken):
                    setattr(self, name, a)
                    taken.append(a)
        own_m = {"flat": self.m} if self.model is not None else self.m
        own_v = {"flat": self.v} if self.model is not None else self.v
        for own, new in ((own_m, m), (own_v, v)):
            for k, a in own.items():
                if a is new[k]:
                    continue                        # devralındı
                xp = get_array_module(a)
                # GPU'daki momentler CPU'daki bir eniyileyiciye açıkça okunur (örtük çeviri yok)
                src = to_numpy(new[k]) if xp is np else new[k]
                a[...] = xp.asarray(src, dtype=a.dtype)
        self.t = t
        for key in ("lr", "eps", "weight_decay"):
            if key in state:
                setattr(self, key, float(state[key]))
        if eps is not None:
            self.eps = float(eps)
        if "betas" in state:
            self.betas = tuple(float(b) for b in state["betas"])


def _check_param(name, p) -> None:
    """A parameter of a dict handed to AdamW: a writeable floating-point array (updated in
    place)."""
    # Tam sayı bir dizi (np.array([[1, 2], [3, 4]])) ilk adımda, adım sayısı ve momentler
    # değiştikten sonra derin bir UFuncTypeError'la düşerdi (momentleri de tam sayı olurdu);
    # bir liste AttributeError'la, salt okunur bir dizi yarıda kalmış bir güncellemeyle
    if not (hasattr(p, "dtype") and hasattr(p, "shape")):
        raise TypeError(f"AdamW: parameter {name!r} must be an array (updated in place), got "
                        f"{type(p).__name__}")
    if p.dtype.kind != "f":
        raise TypeError(f"AdamW: parameter {name!r} must be a floating-point array, got dtype "
                        f"{p.dtype} (make it with dtype=float)")
    # CuPy dizisinin bayraklarında `writeable` yoktur (AttributeError): CuPy'da salt okunur
    # dizi de yoktur, her CuPy dizisi yazılabilir sayılır
    flags = getattr(p, "flags", None)
    if flags is not None and not getattr(flags, "writeable", True):
        raise ValueError(f"AdamW: parameter {name!r} is read-only (a view such as "
                         f"np.broadcast_to's cannot be updated in place); pass a copy")


def _has_grads(x) -> bool:
    """Whether x has a `grads` attribute (a model given in place of its gradients), found
    without reading it."""
    # hasattr(model, "grads") özelliği (property) okur: bir ParamModel'in gradyan dizisi
    # (parametreler kadar sıfır) yalnızca hata iletisine bir ipucu eklemek için ayrılırdı.
    # getattr_static özelliği çalıştırmadan bulur (sınıfta ya da nesnenin kendi sözlüğünde)
    return inspect.getattr_static(x, "grads", None) is not None


def _check_grads(grads, shapes: dict) -> None:
    """A dict of gradients must hold every parameter's name, each with that parameter's shape."""
    if not isinstance(grads, dict):
        hint = " (pass model.grads, not the model)" if _has_grads(grads) else ""
        raise TypeError(f"step(grads) expects a dict with the parameters' names, got "
                        f"{type(grads).__name__}{hint}")
    missing = [k for k in shapes if k not in grads]
    if missing:
        raise ValueError(f"gradients missing for {missing[:5]}")
    # Yayınlanabilen (broadcast) yanlış bir şekil, ör. (m, n) yerine (1, n), yerinde işlemlerde
    # hata vermeden bütün satırlara kopyalanırdı
    for k, shape in shapes.items():
        got = tuple(np.shape(grads[k]))
        if got != tuple(shape):
            raise ValueError(f"the gradient of {k!r} has shape {got}, expected {tuple(shape)}")


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) \
        and math.isfinite(float(x))


def _check_nonneg(name: str, x) -> None:
    """lr, eps and weight_decay must be finite numbers >= 0."""
    # NaN < 0 yanlıştır: sonlu olma ayrıca denetlenir (yoksa bir adım her parametreyi sessizce
    # NaN yapardı ve kaydedilen durum load_state_dict'te reddedilirdi)
    if not (_is_number(x) and float(x) >= 0.0):
        raise ValueError(f"{name} must be a finite number >= 0, got {x!r}")


def check_eps(eps, name: str = "eps", dtype=None, hint: str = "") -> None:
    """eps of AdamW (and of a training config) must be > 0, and with `dtype` (the parameters'
    floating-point type) not 0 in that type."""
    # eps = 0: gradyanı hep 0 olan bir parametrede (ör. toplu işte hiç görülmeyen bir belirtecin
    # gömme satırı) m = v = 0 olur ve güncelleme 0/0 = NaN verir; ağırlıklar sessizce NaN olur
    if float(eps) <= 0.0:
        raise ValueError(f"{name} must be > 0, got {eps!r} (with eps = 0 a parameter whose "
                         f"gradient is 0 gets 0/0 = NaN)")
    # Adım parametrelerin türünde hesaplanır (genel yolda da, birleşik çekirdekte de eps o türe
    # çevrilir): float32'nin en küçük pozitif sayısı ~1,4·10⁻⁴⁵'tir, 1e-50 orada 0 olur ve
    # eps = 0'ın NaN'ı geri gelir. Eğitim de bir adım sonra "loss is nan … try a lower lr" diye,
    # yanlış yeri göstererek dururdu
    if dtype is not None:
        dt = np.dtype(dtype)
        with np.errstate(over="ignore", under="ignore"):
            held = float(np.float64(eps).astype(dt))
        if held == 0.0:
            tiny = float(np.finfo(dt).smallest_subnormal)
            # Alışılmış 1e-8 de float16'da 0'dır: öğüt o türün tuttuğu bir değeri söyler
            usual = "the usual is 1e-8" if float(np.float64(1e-8).astype(dt)) else \
                f"1e-8, the usual one, is 0 in {dt.name} too: about 1e-4 is used there"
            raise ValueError(f"{name}={eps!r} is 0 in {dt.name} (the parameters' type, whose "
                             f"smallest number above 0 is about {tiny:.2g}); with eps = 0 a "
                             f"parameter whose gradient is 0 gets 0/0 = NaN: use a larger eps "
                             f"({usual}){hint}")


def _check_hyper(state: dict, source: str) -> None:
    """The scalar fields of a saved optimizer state, checked before any is used (a hand-edited
    checkpoint gets a message naming the field, not an error from deep inside a step)."""
    t = state["t"]
    if not (_is_number(t) and float(t) == int(t) and int(t) >= 0):
        raise ValueError(f"{source}: 't' must be a whole number >= 0, got {t!r}")
    for key, low in (("lr", 0.0), ("eps", 0.0), ("weight_decay", 0.0)):
        if key in state and not (_is_number(state[key]) and float(state[key]) >= low):
            raise ValueError(f"{source}: {key!r} must be a finite number >= {low:g}, "
                             f"got {state[key]!r}")
    if "eps" in state:
        check_eps(state["eps"], f"{source}: 'eps'")
    if "betas" in state:
        b = state["betas"]
        if not (isinstance(b, (list, tuple)) and len(b) == 2
                and all(_is_number(x) and 0.0 <= float(x) < 1.0 for x in b)):
            raise ValueError(f"{source}: 'betas' must be two numbers in [0, 1), got {b!r}")
