"""
# Gradyan denetimi (gradient checking): elle yazılmış geri yayılımın kanıtı

Her geri geçiş fonksiyonu elle türetildi; bir işaret ya da eksen hatası, eğitimi sessizce
bozar. Bunu yakalamanın yolu, analitik gradyanı **sayısal türevle** karşılaştırmaktır.

## Merkezi sonlu farklar
Skaler bir `f(θ)` için, `θ_i`'yi küçük bir `h` kadar iki yöne oynatıp:

    ∂f/∂θ_i ≈ ( f(θ + h·e_i) − f(θ − h·e_i) ) / (2h)

Merkezi farkın hatası O(h²)'dir (tek yönlü farkın O(h)'sine karşı). float32'de `h` küçük
seçilince yuvarlama hatası baskın olur; bu yüzden denetim **float64** ile, `h = 1e-6`
civarında yapılır.

## Katmanlar için skaler amaç
Bir katmanın çıktısı bir dizidir. Sabit, rastgele bir `R` ile `f = Σ out ⊙ R` alınır;
o zaman `∂f/∂out = R` olur ve katmanın geri geçişi `dout = R` ile çağrılır. Rastgele `R`,
"her yöne eşit ağırlık" veren `R = 1`'in gizleyebileceği hataları (ör. iki gradyan
bileşeninin yer değiştirmesi) ortaya çıkarır.

## Göreli hata
    göreli_hata(a, n) = max_i |a_i − n_i| / max( max_i |a_i|, max_i |n_i| )

Yani en büyük mutlak fark, gradyanın ölçeğine bölünür (∞-normda göreli hata). Öğe öğe
göreli hata, neredeyse sıfır olan bileşenlerde sayısal gürültüyü büyütür; bu ölçü ise
gradyanın büyüklüğüne göre anlamlıdır. Eşik: **1e-6**.

## Büyük tensörler
Tüm model için her koordinatı oynatmak pahalıdır (iki ileri geçiş × parametre sayısı).
Bunun yerine (1) her tensörden rastgele seçilmiş koordinatlar ve (2) rastgele bir `d`
yönünde yönlü türev karşılaştırılır: `(f(θ + h·d) − f(θ − h·d)) / 2h ≈ ∇f · d`.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .backend import device_rng, to_numpy, xp_for
from .layers.attention import attention_backward, attention_forward
from .layers.block import block_backward, block_forward
from .layers.causal_tiles import tiled_attention_backward, tiled_attention_forward
from .layers.cross_entropy import cross_entropy_backward, cross_entropy_forward
from .layers.dropout import dropout_backward, dropout_forward, dropout_mask
from .layers.embedding import embedding_backward, embedding_forward
from .layers.gelu import gelu_backward, gelu_forward
from .layers.layernorm import layernorm_backward, layernorm_forward
from .layers.linear import linear_backward, linear_forward
from .layers.mlp import mlp_backward, mlp_forward
from .layers.multihead_attention import mha_backward, mha_forward
from .layers.positional import (learned_positional_backward, learned_positional_forward,
                                sinusoidal_backward, sinusoidal_forward)
from .layers.relu import relu_backward, relu_forward
from .models.bigram import BigramLM
from .models.gpt import GPT, GPTConfig

TOLERANCE = 1e-6


def rel_error(a, b) -> float:
    """max|a - b| / max(max|a|, max|b|): the infinity-norm relative error (0 when both are 0).
    inf when either holds a NaN or an infinity; a ValueError when the shapes differ (a
    gradient of the wrong shape must not pass by broadcasting)."""
    a = np.asarray(to_numpy(a), dtype=np.float64)
    b = np.asarray(to_numpy(b), dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes {a.shape} and {b.shape} differ")
    # NaN her karşılaştırmada "yanlış" döner; sonlu olmayan bir gradyan en kötü hata sayılır
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.inf
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
    if scale == 0.0:
        return 0.0
    return float(np.max(np.abs(a - b))) / scale


def numerical_gradient(f: Callable[[], float], x, h: float = 1e-6, indices=None):
    """Central differences of the scalar f() with respect to array x (perturbed in place).

    Only the flat positions in `indices` are computed (all when None); the result has x's
    shape, zeros elsewhere. x must be float64 for the 1e-6 tolerance to be meaningful; each
    difference is divided by the step x's dtype actually stored, and an integer array, or a
    step that rounds away (x ± h == x), is an error.
    """
    if not x.flags.c_contiguous:
        raise ValueError("numerical_gradient needs a C-contiguous array (perturbed in place)")
    # Tam sayı bir dizide `old + h` yazılırken kesilir (1 + 1e-6 → 1): f değişmez ve türev
    # sessizce 0 çıkardı
    if x.dtype.kind != "f":
        raise TypeError(f"numerical_gradient needs a floating-point array (float64), got "
                        f"dtype {x.dtype}: x + h would be rounded back to x")
    grad = np.zeros(x.shape, dtype=np.float64)
    flat = x.reshape(-1)   # bitişik dizide bir görünüm: flat'i değiştirmek x'i değiştirir
    gflat = grad.reshape(-1)
    for i in (range(flat.size) if indices is None else indices):
        old = flat[i].item()
        flat[i] = old + h
        up = flat[i].item()
        fp = f()
        flat[i] = old - h
        down = flat[i].item()
        fm = f()
        flat[i] = old
        # Bölen, dizinin türünde gerçekten yapılan adımdır (x + h ve x − h yuvarlanmış
        # hâlleriyle): float32'de x = 10 iken 10 ± 1e-6, 10 ± 9,5e-7'ye yuvarlanır ve 2h'ye
        # bölmek türevi %5 küçük verirdi; |x| ≳ 8'de adım hiç kalmaz (x + h = x)
        if up == down:
            raise ValueError(f"h={h:g} is below the resolution of {x.dtype} at x.flat[{i}] = "
                             f"{old!r} (x ± h rounds back to x): use a float64 array or a "
                             f"larger h")
        gflat[i] = (fp - fm) / (up - down)
    return grad


@dataclass
class CheckResult:
    """One row of the gradient-check table: the largest relative error, whether it is
    within TOLERANCE, and where it is (detail)."""

    name: str
    max_rel_error: float
    passed: bool
    detail: str = ""


# -- layer cases ----------------------------------------------------------------------------
# Her durum: (girdiler sözlüğü, kayıp fonksiyonu, analitik gradyan fonksiyonu).
# Kayıp f = Σ out ⊙ R; analitik gradyanlar backward(R, cache) ile. Çapraz entropinin
# çıktısı zaten skalerdir: orada f = dloss · kayıp ve gradyan backward(dloss, cache) ile.

def _weighted(out, R) -> float:
    return float((out * R).sum())


def _affine_case(inp: dict, R, forward, backward):
    """A check case of a layer called as forward(x, w, b) -> (out, cache) and
    backward(dout, cache) -> (dx, dw, db), with the bias `inp["b"]` optional (linear,
    layernorm)."""
    def run():
        return forward(inp["x"], inp["w"], inp.get("b"))

    def g():
        dx, dw, db = backward(R, run()[1])
        return {"x": dx, "w": dw, **({"b": db} if "b" in inp else {})}
    return inp, lambda: _weighted(run()[0], R), g


def layer_case(name: str, rng: np.random.Generator, B=2, T=5, C=8, n_head=2, V=11,
               xp=np, dtype=np.float64, activation="gelu", bias=True, p_drop=0.3,
               layer_dropout: float = 0.0, ignore_index: int | None = -100, dloss: float = 0.5):
    """Build one gradient-check case for a layer: (inputs, loss_fn, grad_fn).

    p_drop: the dropout layer's rate; layer_dropout: the dropout inside attention /
    causal_tiles / multihead_attention / mlp / block (the same masks at every call); bias: the
    linear layers' and the layer norm's bias; ignore_index and dloss:
    cross_entropy's ignored target and upstream gradient (dloss ≠ 1 is what a batch split
    into parts passes; the default 0.5 makes a backward that ignores dloss fail, as 1.0 could
    not)."""
    def arr(*shape, scale=1.0):
        return xp.asarray(rng.standard_normal(shape) * scale, dtype=dtype)

    def R_like(shape):
        return xp.asarray(rng.standard_normal(shape), dtype=dtype)

    if name == "embedding":
        idx = xp.asarray(rng.integers(0, V, size=(B, T)))
        idx[0, 0] = idx[-1, -1]  # en az bir tekrarlanan kimlik
        inp = {"weight": arr(V, C)}
        R = R_like((B, T, C))
        return inp, lambda: _weighted(embedding_forward(idx, inp["weight"])[0], R), \
            lambda: {"weight": embedding_backward(R, embedding_forward(idx, inp["weight"])[1])}
    if name == "positional_learned":
        inp = {"x": arr(B, T, C), "wpe": arr(T + 3, C)}
        R = R_like((B, T, C))

        def g():
            dx, dw = learned_positional_backward(R, learned_positional_forward(inp["x"], inp["wpe"], 2)[1])
            return {"x": dx, "wpe": dw}
        return inp, lambda: _weighted(learned_positional_forward(inp["x"], inp["wpe"], 2)[0], R), g
    if name == "positional_sinusoidal":
        inp = {"x": arr(B, T, C)}
        R = R_like((B, T, C))
        return inp, lambda: _weighted(sinusoidal_forward(inp["x"], 1)[0], R), \
            lambda: {"x": sinusoidal_backward(R, sinusoidal_forward(inp["x"], 1)[1])}
    if name == "linear":
        inp = {"x": arr(B, T, C), "w": arr(C, 3 * C, scale=0.3)}
        if bias:
            inp["b"] = arr(3 * C)
        return _affine_case(inp, R_like((B, T, 3 * C)), linear_forward, linear_backward)
    if name == "layernorm":
        inp = {"x": arr(B, T, C, scale=2.0), "w": arr(C)}
        if bias:
            inp["b"] = arr(C)
        return _affine_case(inp, R_like((B, T, C)), layernorm_forward, layernorm_backward)
    if name in ("gelu", "relu"):
        fwd, bwd = (gelu_forward, gelu_backward) if name == "gelu" else (relu_forward, relu_backward)
        x = arr(B, T, C, scale=2.0)
        # ReLU'nun türevi 0'da tanımsızdır: h kadar oynatma 0'ı aşmasın diye sıfıra çok yakın
        # (|x| < 1e-3) değerler 0,5 yapılır
        if name == "relu":
            x[abs(x) < 1e-3] = 0.5
        inp = {"x": x}
        R = R_like((B, T, C))
        return inp, lambda: _weighted(fwd(inp["x"])[0], R), \
            lambda: {"x": bwd(R, fwd(inp["x"])[1])}
    if name == "dropout":
        inp = {"x": arr(B, T, C)}
        mask = dropout_mask((B, T, C), p_drop, np.random.default_rng(1), np, np.dtype(dtype))
        mask = xp.asarray(mask)
        R = R_like((B, T, C))
        return inp, lambda: _weighted(dropout_forward(inp["x"], p_drop, mask=mask)[0], R), \
            lambda: {"x": dropout_backward(R, dropout_forward(inp["x"], p_drop, mask=mask)[1])}
    if name == "attention":
        hs = C // n_head
        inp = {"q": arr(B, n_head, T, hs), "k": arr(B, n_head, T, hs), "v": arr(B, n_head, T, hs)}
        R = R_like((B, n_head, T, hs))

        def fwd():
            # dropout varsa her çağrıda aynı tohumdan yeni bir üreteç: aynı maske
            rd = device_rng(xp, 77) if layer_dropout > 0 else None
            return attention_forward(inp["q"], inp["k"], inp["v"], layer_dropout, rd)

        def g():
            dq, dk, dv = attention_backward(R, fwd()[1])
            return {"q": dq, "k": dk, "v": dv}
        return inp, lambda: _weighted(fwd()[0], R), g
    if name == "causal_tiles":
        # T = 5 satır, 2'lik karolar: (0,2), (2,4), (4,5); son karo kısa. Toplu iş tek tek
        # öğelerle işlenir (chunk=1): parçaların dilimleri de denetlenir
        hs, tile = C // n_head, max(1, T // 2)
        inp = {"q": arr(B, n_head, T, hs), "k": arr(B, n_head, T, hs), "v": arr(B, n_head, T, hs)}
        R = R_like((B, n_head, T, hs))

        def fwd():
            rd = device_rng(xp, 77) if layer_dropout > 0 else None
            return tiled_attention_forward(inp["q"], inp["k"], inp["v"], layer_dropout, rd,
                                           tile=tile, chunk=1)

        def g():
            dq, dk, dv = tiled_attention_backward(R, fwd()[1])
            return {"q": dq, "k": dk, "v": dv}
        return inp, lambda: _weighted(fwd()[0], R), g
    if name in ("multihead_attention", "mlp", "block"):
        p = {}
        if name in ("multihead_attention", "block"):
            pa = "attn." if name == "block" else ""
            p[pa + "c_attn.weight"] = arr(C, 3 * C, scale=0.3)
            p[pa + "c_proj.weight"] = arr(C, C, scale=0.3)
            if bias:
                p[pa + "c_attn.bias"] = arr(3 * C, scale=0.1)
                p[pa + "c_proj.bias"] = arr(C, scale=0.1)
        if name in ("mlp", "block"):
            pm = "mlp." if name == "block" else ""
            p[pm + "c_fc.weight"] = arr(C, 4 * C, scale=0.3)
            p[pm + "c_proj.weight"] = arr(4 * C, C, scale=0.3)
            if bias:
                p[pm + "c_fc.bias"] = arr(4 * C, scale=0.1)
                p[pm + "c_proj.bias"] = arr(C, scale=0.1)
        if name == "block":
            for ln in ("ln_1", "ln_2"):
                p[ln + ".weight"] = 1.0 + arr(C, scale=0.1)
                if bias:
                    p[ln + ".bias"] = arr(C, scale=0.1)
        inp = {"x": arr(B, T, C), **p}
        R = R_like((B, T, C))

        def run():
            params = {k: v for k, v in inp.items() if k != "x"}
            # dropout varsa her çağrıda aynı tohumdan yeni bir üreteç: aynı maskeler. Üreteç
            # verinin yanındadır (CPU'da NumPy'ınki, GPU'da CuPy'ınki): ana bellekte üretilen
            # bir maske CuPy dizisiyle çarpılamaz
            rd = device_rng(xp, 77) if layer_dropout > 0 else None
            if name == "multihead_attention":
                return mha_forward(inp["x"], params, n_head, layer_dropout, rd), mha_backward
            if name == "mlp":
                return mlp_forward(inp["x"], params, activation, layer_dropout, rd), \
                    mlp_backward
            return block_forward(inp["x"], params, n_head, activation, layer_dropout, rd), \
                block_backward

        def g():
            (out, cache), bwd = run()
            dx, grads = bwd(R, cache)
            return {"x": dx, **grads}
        return inp, lambda: _weighted(run()[0][0], R), g
    if name == "cross_entropy":
        inp = {"logits": arr(B, T, V, scale=2.0)}
        targets = xp.asarray(rng.integers(0, V, size=(B, T)))
        if ignore_index is not None:
            targets[0, 0] = ignore_index

        def ce():
            return cross_entropy_forward(inp["logits"], targets, ignore_index)
        return inp, lambda: dloss * float(ce()[0]), \
            lambda: {"logits": cross_entropy_backward(dloss, ce()[1])}
    raise ValueError(f"unknown layer {name!r}")


LAYERS = ["embedding", "positional_learned", "positional_sinusoidal", "linear", "layernorm",
          "gelu", "relu", "dropout", "attention", "causal_tiles", "multihead_attention", "mlp", "block",
          "cross_entropy"]
# run_all bu katmanları bir de içlerindeki dropout ile (aynı maskeler her çağrıda) denetler:
# geri geçişin ileri geçişteki maskeyi yeniden uygulaması ancak öyle denetlenir. Karolu dikkat
# (causal_tiles) modellerin kısa dizilerinde hiç kullanılmaz; onun dropout'lu geri geçişini
# başka hiçbir satır denetlemezdi
DROPOUT_LAYERS = ["attention", "causal_tiles", "multihead_attention", "mlp", "block"]
LAYER_DROPOUT = 0.3


def check_case(name: str, inputs: dict, loss_fn, grad_fn, h: float = 1e-6,
               max_coords: int | None = None, rng=None) -> CheckResult:
    """Compare analytic and numerical gradients for every input of a case.

    inputs, loss_fn, grad_fn: layer_case's; h: the finite-difference step; max_coords: check
    at most that many random positions of each input (all when None), drawn from `rng`
    (default_rng(0) when None)."""
    analytic = {k: to_numpy(v).copy() for k, v in grad_fn().items()}
    worst, where = 0.0, ""
    for key, x in inputs.items():
        idxs = None
        if max_coords is not None and x.size > max_coords:
            idxs = (rng or np.random.default_rng(0)).choice(x.size, max_coords, replace=False)
        if key not in analytic:                  # geri geçiş bu girdinin gradyanını vermedi
            return CheckResult(name, math.inf, False, f"{key}: no gradient returned")
        num = numerical_gradient(loss_fn, x, h, idxs)
        ana = analytic[key]
        if ana.shape != tuple(x.shape):
            return CheckResult(name, math.inf, False, f"{key}: gradient shape {ana.shape}, "
                                                      f"input shape {tuple(x.shape)}")
        if idxs is not None:
            ana = ana.reshape(-1)[idxs]
            num = num.reshape(-1)[idxs]
        err = rel_error(ana, num)
        if err > worst or not where:
            worst, where = err, key
    return CheckResult(name, worst, worst <= TOLERANCE, f"worst input: {where}")


def check_layer(name: str, seed: int = 0, **shape) -> CheckResult:
    """Gradient-check one layer of LAYERS (or DROPOUT_LAYERS): layer_case(name, rng, **shape)
    with rng seeded by `seed`, then check_case."""
    rng = np.random.default_rng(seed)
    inputs, f, g = layer_case(name, rng, **shape)
    return check_case(name, inputs, f, g)


# -- whole models ---------------------------------------------------------------------------

def check_model(model, idx, targets, h: float = 1e-5, coords_per_tensor: int = 6,
                seed: int = 0, dropout_seed: int = 1234) -> CheckResult:
    """Finite differences on random coordinates of every tensor plus one random direction.

    idx, targets: a (B, T) batch; h: the finite-difference step; coords_per_tensor: positions
    checked in each parameter, drawn (with the direction) from `seed`; dropout_seed: the
    dropout masks, the same at every call. The model should be float64 (model_cases)."""
    rng = np.random.default_rng(seed)
    if model.dtype != np.float64:
        raise ValueError("gradient checks need a float64 model")

    def f() -> float:
        model.set_dropout_seed(dropout_seed)   # aynı dropout maskeleri her çağrıda
        _, loss = model.forward(idx, targets)
        return float(loss)

    f()
    grads = {k: to_numpy(v).copy() for k, v in model.backward().items()}
    worst, where, failing = 0.0, "", []
    for name, p in model.params.items():
        if name not in grads:                    # geri geçiş bu parametrenin gradyanını vermedi
            return CheckResult(type(model).__name__, math.inf, False,
                               f"{name}: no gradient returned")
        n = min(coords_per_tensor, p.size)
        idxs = rng.choice(p.size, n, replace=False)
        num = numerical_gradient(f, p, h, idxs).reshape(-1)[idxs]
        if grads[name].shape != tuple(p.shape):
            return CheckResult(type(model).__name__, math.inf, False,
                               f"{name}: gradient shape {grads[name].shape}, "
                               f"parameter shape {tuple(p.shape)}")
        ana = grads[name].reshape(-1)
        # Ölçek: tensörün tüm analitik gradyanının (yalnızca seçilen koordinatların değil) ve
        # seçilen sayısal türevlerin en büyük mutlak değeri
        scale = max(float(np.abs(ana).max()), float(np.abs(num).max()))
        if not (np.isfinite(ana).all() and np.isfinite(num).all()):
            err = math.inf                       # NaN/∞ gradyan: en kötü hata
        else:
            err = float(np.abs(ana[idxs] - num).max()) / scale if scale > 0 else 0.0
        if not err <= TOLERANCE:
            failing.append(name)
        if err > worst or not where:
            worst, where = err, name
    # Rastgele yönde yönlü türev: (f(θ+hd) − f(θ−hd))/2h ≈ ∇f·d
    xp = model.xp
    d = xp.asarray(rng.standard_normal(model.flat.size))
    d /= float(xp.linalg.norm(d))
    base = model.flat.copy()
    model.flat[...] = base + h * d
    fp = f()
    model.flat[...] = base - h * d
    fm = f()
    model.flat[...] = base
    gflat = np.concatenate([grads[n].reshape(-1) for n, _, _ in model.layout])
    dd = to_numpy(d)
    order = np.concatenate([np.arange(off, off + int(np.prod(s))) for _, off, s in model.layout])
    analytic_dir = float(gflat @ dd[order])
    numeric_dir = (fp - fm) / (2 * h)
    derr = abs(analytic_dir - numeric_dir) / max(abs(analytic_dir), abs(numeric_dir), 1e-300)
    if not math.isfinite(derr):
        derr = math.inf
    if derr > worst:
        worst, where = derr, "random direction"
    # Yönlü türevin hatası en büyük olsa da, kendi koordinatlarında eşiği aşan parametreler
    # adlarıyla söylenir: "random direction" tek başına hangi gradyanın yanlış olduğunu göstermez
    also = [n for n in failing if n != where]
    if also:
        where += f" (also over tolerance: {', '.join(also[:3])}{', …' if len(also) > 3 else ''})"
    return CheckResult(type(model).__name__, worst, worst <= TOLERANCE, f"worst: {where}")


def _spread(model, seed: int, std: float = 0.2):
    """Add N(0, std²) noise to every parameter: zero biases and tiny initial weights give tiny
    gradients, which finite differences cannot resolve well; spread-out weights test more."""
    noise = np.random.default_rng(seed).standard_normal(model.flat.size) * std
    model.flat += model.xp.asarray(noise)
    return model


def model_cases():
    """(label, model, idx, targets) for the whole-model checks (float64)."""
    rng = np.random.default_rng(0)
    V, T, B = 13, 6, 2
    idx = rng.integers(0, V, size=(B, T))
    tgt = rng.integers(0, V, size=(B, T))
    small = dict(vocab_size=V, block_size=8, n_layer=2, n_head=2, n_embd=8)
    yield "BigramLM", _spread(BigramLM(V, seed=0, dtype="float64"), 0), idx, tgt
    yield "GPT (tied, learned, gelu)", _spread(GPT(GPTConfig(**small), seed=0, dtype="float64"),
                                               1), idx, tgt
    yield "GPT (untied, no bias)", _spread(GPT(GPTConfig(**small, tie_weights=False, bias=False),
                                               seed=1, dtype="float64"), 2), idx, tgt
    yield "GPT (sinusoidal, relu)", _spread(GPT(GPTConfig(**small, positional="sinusoidal",
                                                          activation="relu"),
                                                seed=2, dtype="float64"), 3), idx, tgt
    m = _spread(GPT(GPTConfig(**small, dropout=0.2), seed=3, dtype="float64"), 4)
    yield "GPT (dropout 0.2, fixed masks)", m, idx, tgt


def _where(r: CheckResult) -> str:
    """The input or parameter a check's worst error was at ("x", "h.0.ln_1.weight", "random
    direction"), or what made it fail ("w: no gradient returned")."""
    for prefix in ("worst input: ", "worst: "):
        if r.detail.startswith(prefix):
            return r.detail[len(prefix):]
    return r.detail


def _guarded(name: str, check) -> CheckResult:
    """check()'s result, or a failed one naming the error a broken backward raised."""
    # Yanlış şekilli bir gradyan (ör. yanlış eksende toplanmış bir sapma gradyanı) modelin
    # gradyan belleğine yazılırken hata verir: o denetim FAIL olur ve hata satırında yazar;
    # tablonun geri kalanı yine denetlenir (önceden komut yalnızca "error: could not broadcast
    # …" yazıp hangi katmanın bozuk olduğunu söylemeden dururdu)
    try:
        return check()
    except Exception as e:          # noqa: BLE001  (Ctrl-C ve SystemExit geçer)
        return CheckResult(name, math.inf, False, f"{type(e).__name__}: {e}")


def run_all(out=None, device: str = "cpu") -> bool:
    """Check every layer and both models on `device`; print a table (to `out`, default: the
    sys.stdout of the moment); True when all pass."""
    out = sys.stdout if out is None else out
    xp = xp_for(device)        # katmanlar da o aygıtta denetlenir (GPU'da cuda_kernels.py ile)
    results = []
    for name in LAYERS:
        results.append(_guarded(name, lambda: check_layer(name, xp=xp)))
    for name in DROPOUT_LAYERS:
        label = f"{name} (dropout {LAYER_DROPOUT:g})"
        results.append(_guarded(label, lambda: check_layer(name, xp=xp,
                                                           layer_dropout=LAYER_DROPOUT)))
        results[-1].name = label
    for label, model, idx, tgt in model_cases():
        def one():
            if device != "cpu":
                model.to(device)
            return check_model(model, idx, tgt)
        r = _guarded(label, one)
        r.name = label
        results.append(r)
    width = max(len(r.name) for r in results)
    print(f"{'layer / model':<{width}}  {'max rel. error':>14}  result  worst at", file=out)
    print("-" * (width + 36), file=out)
    for r in results:
        # Başarısız bir satır, hatanın en büyük olduğu girdiyi ya da parametreyi de söyler
        # (ör. "h.0.attn.c_proj.weight"): yalnızca "GPT … FAIL" hangi geri geçişin yanlış
        # olduğunu göstermezdi
        print(f"{r.name:<{width}}  {r.max_rel_error:>14.3e}  {'PASS' if r.passed else 'FAIL'}"
              f"    {_where(r)}", file=out)
    ok = all(r.passed for r in results)
    print(f"\n{sum(r.passed for r in results)} of {len(results)} checks passed "
          f"(tolerance {TOLERANCE:g}, float64 central differences)", file=out)
    return ok


__all__ = ["rel_error", "numerical_gradient", "check_layer", "check_case", "check_model",
           "layer_case", "run_all", "LAYERS", "DROPOUT_LAYERS", "TOLERANCE", "CheckResult"]
