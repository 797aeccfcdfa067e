"""
# Resimler: dikkat haritaları, konum kodlaması, kayıp eğrisi

Bazı şeyleri okumak yerine görmek daha kolaydır. Bu modül kursun resimlerini çizer:

* **Dikkat haritaları** (`plot_attention`): her katmanın her kafası için, istemdeki
  (prompt) belirteçler arasında `T × T` boyutlu bir ısı haritası. Satır `i`, `i`
  konumundaki sorgunun dikkat dağılımıdır; sütun `j`, `j` konumundaki anahtarın bu
  dağılımdaki payıdır. Nedensel maske yüzünden köşegenin üstü her zaman sıfırdır.
* **Sinüzoidal konum kodlaması** (`plot_positional_encoding`): `PE[pos, i]` tablosu;
  düşük indeksli boyutlar hızlı, yüksek indeksli boyutlar yavaş salınır.
* **Kayıp eğrisi** (`plot_loss_curve`): eğitimin `metrics.jsonl` dosyasından eğitim ve
  doğrulama kaybı.

Matplotlib isteğe bağlıdır (`pip install -e ".[plot]"`) ve yalnızca çizim anında içe
aktarılır. Küresel `pyplot` durumu kullanılmaz: her resim kendi `Figure` nesnesine çizilir
ve dosyaya atomik olarak (geçici dosya + `os.replace`) yazılır.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from .atomic import (JSONNestedTooDeep, _file_behind, atomic_write, could_not_write, load_json,
                     make_folder, refuse_dangling_link, remove_empty_folders, signals_deferred,
                     top_new_folder)
from .backend import NonFiniteOutput, check_finite_output, to_numpy
from .course import tr_number

_PLOT_HELP = ('plotting needs matplotlib: pip install matplotlib '
              '(in a source checkout: pip install -e ".[plot]")')


class MatplotlibMissing(RuntimeError):
    """Plotting was asked for, but matplotlib cannot be imported."""


# Matplotlib'in eksik olması kendi hata türüyle bildirilir: `docs` bu durumda kursu resimsiz
# üretir; çizim sırasında çıkan başka bir RuntimeError (ör. eğitimin belirteçleyicisinin
# eksik bir bağımlılığı) "matplotlib yok" sanılmaz, olduğu gibi bildirilir.

def require_matplotlib():
    """(Figure, FigureCanvasAgg) from matplotlib; MatplotlibMissing when it cannot be imported
    (`attention` asks before it loads the model)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise MatplotlibMissing(f"{_PLOT_HELP} ({e})") from None
    return Figure, FigureCanvasAgg


def _figure(width: float, height: float, layout=None):
    Figure, FigureCanvasAgg = require_matplotlib()
    fig = Figure(figsize=(width, height), dpi=100, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def check_picture_path(out_png) -> Path:
    """Path(out_png), after the checks a picture's path must pass before anything is drawn: a
    name ending in .png, .svg or .pdf, not a folder, whose nearest existing folder above it is
    a folder (not a file or a dangling symbolic link) that may be written to; where the name is
    a symbolic link, the folder of the file it leads to (where atomic_write writes)."""
    # `attention` bu denetimi modeli yüklemeden ve ileri geçişi çalıştırmadan önce yapar: yanlış
    # bir dosya adı ya da yazılamayan bir klasör, bütün iş bittikten sonra değil hemen söylenir
    out = Path(out_png)
    if _FORMATS.get(out.suffix.lower()) is None:
        raise ValueError(f"cannot write {out}: the file name must end in "
                         f"{', '.join(_FORMATS)}")
    if out.is_dir():
        raise IsADirectoryError(f"{out} is a folder; give a file name such as {out / 'a.png'}")
    refuse_dangling_link(out.parent, f"cannot write {out}: folder")
    # atomic_write bir sembolik bağın içinden yazar: geçici dosya bağın gösterdiği dosyanın
    # klasöründe açılır, bağın klasörüne hiçbir şey yazılmaz. Yazılabilir olması gereken
    # klasör o yüzden hedefinkidir (bağın klasörü yazılamasa da resim yazılabilir); hedefi
    # olmayan bir bağ da _file_behind'ın iletisiyle, ileri geçişten önce reddedilir
    for parent in _file_behind(out).parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(f"cannot write {out}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise PermissionError(f"cannot write {out}: the folder {parent} is not "
                                      f"writable")
            break
    return out


def _save(fig, out_png) -> Path:
    out = check_picture_path(out_png)
    fmt = _FORMATS[out.suffix.lower()]
    _decimal_comma(fig)
    existed = out.exists()
    # top: bu yazmanın açacağı en üstteki klasör; yazma başarısız olursa açtığı boş klasörler
    # (attention --out yeni/klasor/a.png) geride kalmaz
    top = top_new_folder(out.parent)
    new_folder = not out.parent.exists()
    try:
        make_folder(out.parent)
        return atomic_write(out, lambda tmp: fig.savefig(tmp, format=fmt))
    except BaseException as e:
        if new_folder:
            # ikinci bir Ctrl-C ya da SIGTERM, klasörler silinince etkisini gösterir (docs gibi)
            with signals_deferred():
                remove_empty_folders(out.parent, top)
        if isinstance(e, OSError):
            # Disk dolu, salt okunur dosya sistemi…: ham "[Errno 28] …" yerine resmin adı
            raise could_not_write(out, e, existed) from None
        raise


# Eksenlerdeki sayılar da kursun metnindeki gibi ondalık virgülle yazılır (0,5; 1,5): matplotlib
# ondalığı noktayla yazar, "en düşük: 1,234" notunun yanında "1.5" bir binlik gibi okunurdu.
# Tam kısmı beş ve daha çok basamaklı sayılarda binlikler `tr_number`daki gibi boşlukla
# ayrılır (adım ekseninde 10 000; 12 345,5); ondalık kısım olduğu gibi kalır. Yalnızca sayı
# eksenleri değişir; dikkat haritasının belirteç etiketleri olduğu gibi kalır.
def _decimal_comma(fig) -> None:
    from matplotlib.ticker import ScalarFormatter

    def group(m):
        return tr_number(int(m.group(0)))

    class DecimalComma(ScalarFormatter):
        def __call__(self, x, pos=None):
            text = super().__call__(x, pos).replace(".", ",")
            return re.sub(r"(?<![\d,])\d{5,}", group, text)

        def get_offset(self):
            return super().get_offset().replace(".", ",")

    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if type(axis.get_major_formatter()) is ScalarFormatter:
                axis.set_major_formatter(DecimalComma())


_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


# ## Dikkat ağırlıklarını okumak
# Modelin ileri geçişi her blok için bir önbellek (cache) bırakır; çok kafalı dikkatin
# önbelleğinde `attn.att`, softmax'tan çıkan `A` matrisidir: (B, nh, T, T). Bunları
# okumak için ayrı bir "dikkati döndür" kod yolu gerekmez; eğitimde kullanılan ileri
# geçişin kendisi çalıştırılır. NaN ya da sonsuz değer içeren ağırlıklar NaN bir harita
# verir; imshow NaN'ı boş bırakır ve resim sessizce boş çizilirdi. Haritalar da, `sample` ve
# `eval` komutlarının çıktıları gibi, `backend.check_finite_output` denetiminden geçer: ilk
# bozuk katmanı bildiren açık bir hata verilir.

def _block_caches(model):
    cache = getattr(model, "_cache", None)
    if not isinstance(cache, (tuple, list)):
        raise RuntimeError("the model kept no forward cache; run it without a KV cache")
    if len(cache) == 1 and isinstance(cache[0], (tuple, list)):
        cache = cache[0]            # GPT: (tek parçanın önbelleği,); veri paralelliği yoksa
    for item in cache:
        if isinstance(item, (list, tuple)) and item and \
                all(hasattr(getattr(c, "attn", None), "attn") for c in item):
            return item
    raise RuntimeError("no attention caches found in the model's forward cache")


def attention_weights(model, ids) -> list[np.ndarray]:
    """Softmax attention of every layer for one sequence: a list of (n_head, T, T) arrays.
    `ids`: token ids, a list or a host or device array."""
    # Aygıttaki (CuPy) kimlikler önce ana belleğe okunur: np.asarray bir CuPy dizisini örtük
    # olarak çeviremez (TypeError) ve kimlikler aşağıda zaten ana bellekte denetlenir
    ids = np.asarray(to_numpy(ids), dtype=np.int64).reshape(1, -1)
    if ids.shape[1] == 0:
        raise ValueError("the prompt is empty")
    block_size = getattr(model, "block_size", None)
    if block_size is not None and ids.shape[1] > block_size:
        raise ValueError(f"the prompt has {ids.shape[1]} tokens, more than the model's "
                         f"block_size={block_size}")
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        # Kimlikler ana bellekte verilir: model onları aralık denetiminden geçirip aygıta bir kez
        # taşır. Önceden aygıta taşınmış kimlikler denetlenmez (models/base.py: `_check_idx`)
        # ve CuPy sözlüğün dışındaki bir kimliği hata vermeden başa sarar: haritalar sessizce
        # yanlış çizilirdi
        model.forward(ids)
        blocks = _block_caches(model)
        maps = [to_numpy(c.attn.attn.att)[0].astype(np.float32) for c in blocks]
    finally:
        model.train(was_training)
    for layer, a in enumerate(maps):
        check_finite_output(a, "attention weights", f" in layer {layer}")
    return maps


# Matplotlib iki "$" arasındaki metni TeX biçiminde bir formül olarak çizer: GPT-2'nin "$$"
# belirteci, "$x^$" gibi bir istem ya da adında "$" olan bir eğitim klasörü, resmi yazarken
# "ParseException: Expected end of text" gibi bir hatayla komutu durdururdu. Belirteç
# etiketleri ve başlıklar düz metindir (parse_math=False)
#
# Boşluk, satır sonu ve sekme birer simgeyle (␣ ↵ ⇥), yazdırılamayan öteki karakterler
# (satır başı "\r", dikey sekme, bölünemez boşluk "\xa0", sıfır genişlikli boşluk…) Python'un
# kaçış yazımıyla ("\r", "\x0b", "\xa0", "\u200b") gösterilir: yoksa eksende boş ya da
# yazı tipinde olmayan bir kutu olarak çizilir, belirteç etiketsiz görünürdü.
_SYMBOLS = {" ": "␣", "\n": "↵", "\t": "⇥"}


def _visible(s: str) -> str:
    return "".join(_SYMBOLS.get(c) or (c if c.isprintable() else
                                       c.encode("unicode_escape").decode("ascii"))
                   for c in s)


#
# Bayt düzeyindeki BPE'nin bir belirteci bir UTF-8 karakterinin yalnızca bir parçası olabilir
# ("€" üç bayttır, "Ç" iki): tek başına çözülünce her biri aynı "�" (U+FFFD) olur ve "€😀"
# istemi yedi özdeş etiket verirdi. Böyle belirteçlerin etiketi, belirtecin baytlarından
# çözülür; UTF-8 olmayan baytlar "\xe2" gibi yazılır.
def _token_labels(tokenizer, ids) -> list[str]:
    labels = []
    token_bytes = getattr(tokenizer, "token_bytes", None)
    for i in ids:
        if tokenizer is None:
            s = str(int(i))
        elif callable(token_bytes):
            s = token_bytes(int(i)).decode("utf-8", "backslashreplace")
        else:
            s = tokenizer.decode([int(i)])
        s = _visible(s)
        labels.append(s if len(s) <= 6 else s[:5] + "…")
    return labels


def plot_attention(model, tokenizer, prompt, out_png, title: str | None = None) -> Path:
    """Heatmaps of every head of every layer over the prompt's tokens; writes out_png.

    tokenizer: an object with encode(str) -> ids and decode(ids) -> str, or None when
    `prompt` is already a sequence of token ids.
    """
    from .models.bigram import BigramLM
    if isinstance(model, BigramLM):
        raise ValueError("this model has no attention layers to plot (the bigram model looks "
                         "only at the previous token); use a GPT run")
    if tokenizer is None:
        ids = [int(i) for i in prompt]
    else:
        if not isinstance(prompt, str):
            raise ValueError("prompt must be text when a tokenizer is given")
        ids = list(tokenizer.encode(prompt))
    atts = attention_weights(model, ids)
    labels = _token_labels(tokenizer, ids)
    L, nh, T = len(atts), atts[0].shape[0], len(ids)
    cell = min(3.4, max(2.0, 0.13 * T + 0.9))
    fs = max(4.5, min(9.0, 130.0 / max(T, 1)))
    # Kenar boşlukları (inç) hesaplanır: sol ve alttaki etiketler en uzun etiket kadar yer ister
    # (karakter başına yaklaşık 0,62·fs punto; 72 punto = 1 inç), üstte başlık, sağda renk
    # çubuğu. constrained/tight yerleşim, çok sayıda etiketle çizimi belirgin yavaşlatır.
    label_in = 0.62 * fs / 72 * max((len(x) for x in labels), default=1) + 0.12
    left, bottom, top, right = max(0.35, label_in), max(0.35, label_in), 0.6, 1.0
    W, H = cell * nh + left + 0.95, cell * L + bottom + 0.45
    # Haritanın kenarı en çok 3,4 inçtir; uzun bir istemde (T = 128: bir belirtece 2 punto)
    # etiketler, en küçük yazı boyutunda bile üst üste binip okunamaz bir şerit olurdu. Bir
    # belirtece düşen yer, yazının yüksekliğinden (1,2·fs punto) azsa yalnızca her k'inci
    # belirteç etiketlenir (0, k, 2k… konumları; etiket yine kendi belirtecinin altındadır).
    side = min((W - left - right) / (nh + 0.28 * (nh - 1)),
               (H - bottom - top) / (L + 0.32 * (L - 1)))
    k = max(1, math.ceil(1.2 * fs / (side * 72 / T)))
    fig = _figure(W, H)
    axes = fig.subplots(L, nh, squeeze=False, gridspec_kw=dict(
        left=left / W, right=1 - right / W, bottom=bottom / H, top=1 - top / H,
        wspace=0.28, hspace=0.32))
    for l in range(L):
        for h in range(nh):
            ax = axes[l][h]
            im = ax.imshow(atts[l][h], cmap="magma", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_title(f"katman {l} · kafa {h}", fontsize=9)
            ax.set_xticks(range(0, T, k))
            ax.set_yticks(range(0, T, k))
            ax.set_xticklabels(labels[::k], fontsize=fs, rotation=90, parse_math=False)
            ax.set_yticklabels(labels[::k], fontsize=fs, parse_math=False)
            ax.tick_params(length=0, pad=1)
    cax = fig.add_axes((1 - (right - 0.25) / W, 0.5 - 0.3 * (1 - (top + bottom) / H),
                        0.12 / W, 0.6 * (1 - (top + bottom) / H)))
    fig.colorbar(im, cax=cax, label="dikkat ağırlığı")
    fig.suptitle(title or "Dikkat ağırlıkları (satır: sorgu, sütun: anahtar)", fontsize=11,
                 y=1 - 0.15 / H, parse_math=False)
    return _save(fig, out_png)


# ## Sinüzoidal konum kodlaması
# Tablo, modelin kendi kullandığı `sinusoidal_table` fonksiyonundan alınır; resim, kodda
# hesaplanan şeyin ta kendisidir.

def plot_positional_encoding(out_png, n_positions: int = 64, n_embd: int = 64) -> Path:
    """The fixed sin/cos table PE (n_positions, n_embd) as a heatmap, plus a few columns."""
    from .layers.positional import sinusoidal_table
    if n_positions < 1 or n_embd < 2:
        raise ValueError("need n_positions >= 1 and n_embd >= 2")
    pe = sinusoidal_table(n_positions, n_embd, np, np.float64)
    fig = _figure(11.0, 4.2)
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
    im = ax1.imshow(pe, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    ax1.set_xlabel("boyut i")
    ax1.set_ylabel("konum pos")
    ax1.set_title("PE[pos, i]")
    fig.colorbar(im, ax=ax1, shrink=0.85)
    for i in (0, 6, 12, 20):       # C = 64 için dalga boyları ≈ 6, 15, 35, 112 konum
        if i < n_embd:
            ax2.plot(np.arange(n_positions), pe[:, i], label=f"boyut {i}")
    ax2.set_xlabel("konum pos")
    ax2.set_title("Bazı sütunlar: düşük boyutlar hızlı, yüksek boyutlar yavaş salınır")
    ax2.title.set_fontsize(9.5)
    ax2.legend(fontsize=8, loc="upper right", framealpha=0.9)
    ax2.set_ylim(-1.15, 1.6)
    fig.tight_layout()
    return _save(fig, out_png)


# ## Kayıp eğrisi
# `metrics.jsonl` her satırı bir JSON nesnesi olan bir dosyadır. Adım numarası `step`
# (ya da `iter`) alanından; eğitim kaybı `train_loss` (ya da `loss`), doğrulama kaybı
# `val_loss` alanından okunur. Aynı satırda ikisi birden bulunabilir. Satır sonu olmayan ve
# JSON olarak okunamayan bir son satır, yazılırken kesilmiş bir satırdır (makine çöktü, disk
# doldu, bir eğitim betiği tamponunu yarıda yazdı): atlanır; ortadaki bozuk bir satır ise
# hatadır.

def _finite(value) -> float | None:
    """float(value) for a finite number a float holds (not a bool); else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        f = float(value)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def read_metrics(metrics_jsonl) -> tuple[list, list]:
    """([(step, train_loss)], [(step, val_loss)]) from a metrics.jsonl file."""
    train, val = [], []
    path = Path(metrics_jsonl)
    # Satırlar bayt olarak okunup tek tek çözülür: UTF-8 olmayan bir bayt (bozulmuş bir disk,
    # başka bir programın yazdığı bir dosya), dosyayı ve satırı söylemeyen bir
    # UnicodeDecodeError yerine JSON olmayan bir satır gibi ele alınır
    with path.open("rb") as f:
        for n, raw in enumerate(f, start=1):
            whole = raw.endswith(b"\n")
            text = ""
            try:
                text = raw.decode("utf-8")
                line = text.strip()
                if not line:
                    continue
                rec = load_json(line)
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                if not whole:
                    continue        # son satır yarıda kesilmiş (çöken bir yazma): atlanır
                # Yer, satır numarası gibi 1'den sayılan bir sütundur (karakter olarak; bir
                # düzenleyicinin gösterdiği). Baytın satırdaki 0'dan sayılan sırası, 1'den
                # sayılan satır numarasının yanında bir sütun sanılırdı. Hatalı bayttan önceki
                # kısım geçerli UTF-8'dir; JSON'ın sütunu, satırın baştaki boşlukları atılmış
                # hâline göredir, onlar da eklenir.
                if isinstance(e, UnicodeDecodeError):
                    col = len(raw[:e.start].decode("utf-8")) + 1
                    why = f"not UTF-8 text (byte 0x{raw[e.start]:02x}, {e.reason}, column {col})"
                elif isinstance(e, JSONNestedTooDeep):
                    # Çok derin iç içe değerlerde ayrıştırıcı hatanın yerini söylemez (sınır,
                    # o anki çağrı yığınının derinliğine göre aşılır): "column 1" yanlış yeri
                    # gösterirdi; yalnızca satır söylenir
                    why = f"not valid JSON ({e.msg})"
                else:
                    col = len(text) - len(text.lstrip()) + e.colno
                    why = f"not valid JSON ({e.msg}, column {col})"
                raise ValueError(f"{path}:{n}: {why}") from None
            if not isinstance(rec, dict):
                continue
            step = rec.get("step", rec.get("iter"))
            # Adım da eksene çizilen bir sayıdır: liste ya da nesne olan bir adım matplotlib'in
            # içinden TypeError/ValueError, float'a sığmayan bir tam sayı (10**400)
            # OverflowError hata izi verirdi, dize olan adımlar da eksene sayı yerine etiket
            # olarak dizilirdi. Sayı olmayan bir kayıp gibi çizilmez
            if _finite(step) is None:
                continue
            tl = _finite(rec.get("train_loss", rec.get("loss")))
            vl = _finite(rec.get("val_loss"))
            if tl is not None:
                train.append((step, tl))
            if vl is not None:
                val.append((step, vl))
    if not train and not val:
        raise ValueError(f"{path} holds no train_loss/val_loss records")
    return train, val


def plot_loss_curve(metrics_jsonl, out_png, title: str | None = None) -> Path:
    """Train and validation loss against the step, from a metrics.jsonl file (or from the
    (train, val) records read_metrics returned for it)."""
    train, val = metrics_jsonl if isinstance(metrics_jsonl, tuple) else \
        read_metrics(metrics_jsonl)
    fig = _figure(8.0, 4.4)
    ax = fig.subplots()
    if train:
        s, l = zip(*train)
        ax.plot(s, l, color="#1f77b4", lw=1.0, alpha=0.35 if len(train) > 50 else 1.0,
                label="eğitim kaybı")
        if len(train) > 50:
            k = max(5, len(train) // 40)
            smooth = np.convolve(l, np.ones(k) / k, mode="valid")
            ax.plot(s[k - 1:], smooth, color="#1f77b4", lw=1.8,
                    label=f"eğitim kaybı ({k} adımlık ortalama)")
    if val:
        s, l = zip(*val)
        ax.plot(s, l, "o-", color="#d62728", lw=1.6, ms=3.5, label="doğrulama kaybı")
        best = int(np.argmin(l))
        ax.annotate(f"en düşük: {tr_number(l[best], 3)} (adım {s[best]})", (s[best], l[best]),
                    textcoords="offset points", xytext=(0, 12), ha="center", fontsize=8.5,
                    color="#d62728")
    ax.set_xlabel("adım")
    ax.set_ylabel("çapraz entropi (nat)")
    ax.set_title(title or "Kayıp eğrisi", parse_math=False)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    fig.tight_layout()
    return _save(fig, out_png)


# Bir eğitim klasörünün dikkat resmi için aday istemler; eğitimin derlemine en çok uyanı
# seçilir. Yalnızca sözlüğün kodlayabildikleri yarışır (karakter belirteçleyicide her karakteri
# sözlükte olanlar). Derlem okunabiliyorsa sözcüklerinin en büyük payı derlemde geçen kazanır
# (eşitlikte sözcüğü çok olan); okunamıyorsa belirteçleyicinin en iyi sıkıştırdığı (belirteç
# başına en çok karakter: BPE, eğitildiği dili daha az belirtece böler). Yine eşitse listede
# önce gelen seçilir: Türkçe adaylar öndedir, bir derleme özgü olan genel olandan önce gelir.
_PROMPTS = (
    "Dikkatte her konum yalnızca kendine ve önceki konumlara bakar",   # gömülü derlem (kurs)
    "Bir varmış bir yokmuş, evvel zaman içinde",              # masallar, öyküler (seyfettin)
    "merhaba dünya",
    "Dorothy lived in the midst of the great Kansas prairies",   # wizard_of_oz
    "To be, or not to be, that is the question",              # tinyshakespeare
    "the quick brown fox",
)
_CORPUS_READ_LIMIT = 4 << 20            # sözcük kümesi için derlemin ilk 4 MB'ı yeter


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def _run_corpus_words(run) -> set[str] | None:
    """The words of the corpus the run in `run` was trained on, when its text is at hand
    without a download (the embedded corpus, a file still in its place, a named corpus already
    in the cache); else None."""
    try:
        from .checkpoint import read_manifest
        from .data import CORPORA, EMBEDDED, EMBEDDED_PATH, cache_dir
        train_cfg = read_manifest(run).get("train_config")
        if not isinstance(train_cfg, dict) or "data" not in train_cfg:
            return None                  # derlemini kaydetmemiş bir denetim noktası
        data = train_cfg["data"]
        if data is None or data == EMBEDDED:
            path = Path(EMBEDDED_PATH)
        elif data in CORPORA:
            path = cache_dir() / CORPORA[data].filename     # yalnızca önbellekteyse: indirme yok
        else:
            path = Path(str(data)).expanduser()
        with open(path, "rb") as f:
            raw = f.read(_CORPUS_READ_LIMIT)
    except (OSError, ValueError, KeyError, TypeError, ImportError):
        return None
    return set(_words(raw.decode("utf-8", "ignore")))


def _run_prompt(model, tokenizer, corpus_words: set[str] | None = None) -> str:
    """A short prompt that suits the run (≤ 24 tokens): among the _PROMPTS the tokenizer can
    encode, the one whose words the run's corpus holds most (`corpus_words`), or without the
    corpus the one the tokenizer packs into the fewest tokens per character."""
    limit = min(24, getattr(model, "block_size", None) or 24)
    best = None
    for text in _PROMPTS:
        try:
            ids = list(tokenizer.encode(text))
        except (ValueError, KeyError):
            continue
        if not ids:
            continue
        if corpus_words is not None:
            words = _words(text)
            score = (sum(w in corpus_words for w in words) / len(words), len(words))
        else:
            score = (len(text) / len(ids), 0)
        if best is None or score > best[0]:
            best = (score, text, ids)
    if best is not None:
        _, text, ids = best
        # Sınırı aşan istem sözcük sınırından kısaltılır ("To be, or not to be, tha" değil)
        words = text.split(" ")
        while len(ids) > limit and len(words) > 1:
            words.pop()
            text = " ".join(words)
            ids = list(tokenizer.encode(text))
        return text if len(ids) <= limit else tokenizer.decode(ids[:limit])
    # Hiçbiri kodlanamıyorsa (ör. yalnız "ab " harflerinden oluşan bir derlem) sözlüğün
    # kendi belirteçleri kullanılır.
    n = min(limit, int(getattr(tokenizer, "vocab_size", 0) or 0))
    if n > 0:
        return tokenizer.decode(list(range(n)))
    raise ValueError("could not find a prompt this tokenizer can encode; "
                     "use `nanograd-llm attention --prompt ...` instead")


# ## Kursun resimleri
# `nanograd-llm docs` bu fonksiyonu çağırır. Bir eğitim klasörü verilmişse kayıp eğrisi ve
# dikkat haritaları o eğitimden çizilir; verilmemişse `course.gpt.train_demo` ile birkaç
# saniyelik küçük bir eğitim yapılır ve resimler ondan çizilir.

def course_images(img_dir, run_dir=None, log=print, demo_steps: int | None = None,
                  skipped: dict | None = None) -> list[Path]:
    """Draw every picture the course pages use into img_dir. A picture that cannot be drawn
    is recorded in `skipped` (file name -> the reason, in Turkish, for the page's note)."""
    img = Path(img_dir)
    # Önce resimlerin bütün girdileri hazırlanır (eğitim klasörünün metrics.jsonl'i, modeli,
    # belirteçleyicisi, istemi; ya da deneme eğitimi), resimler ancak ondan sonra yazılır:
    # okunamayan bir eğitim klasörü hiçbir resim yazılmadan reddedilir. Yoksa önceki bir
    # `docs` çıktısında bu eğitimin kayıp eğrisi, eski eğitimin dikkat haritasının yanında
    # kalabilirdi. Geçici klasör yalnızca deneme eğitiminin kaydı içindir: --run sistemin
    # geçici klasörüne bir şey yazmaz (o klasör dolu ya da yazılamaz olsa da resimler çizilir)
    with (tempfile.TemporaryDirectory() if run_dir is None else
          contextlib.nullcontext()) as tmp:
        if run_dir is not None:
            run = Path(run_dir)
            # UTF-8 olmayan baytlı bir klasör adı (vekil karakterler, "\udcff") yazı tipine
            # çizilemez: başlıkta bu baytlar yerine "\ufffd" görünür
            name = os.fsencode(run.name).decode("utf-8", "replace")
            metrics = run / "metrics.jsonl"
            if not metrics.is_file():
                raise ValueError(f"{run} has no metrics.jsonl")
            # Kayıtlar bir kez okunur ve eğri onlardan çizilir: dosya model yüklenirken
            # değişebilir (aynı klasörde --overwrite ile başlayan yeni bir eğitim onu siler ve
            # yeniden yazar); ikinci bir okuma, eğriyi yüklenen modelin eğitiminden başka bir
            # eğitimden çizer ya da denetimden geçmiş bir klasörü yarıda bir hatayla bırakırdı
            metrics = read_metrics(metrics)
            loss_title = f"Kayıp eğrisi: {name}"
            from .checkpoint import load_model, load_run_tokenizer
            from .models.bigram import BigramLM
            # Belirteçleyici, `attention` ve `sample`daki gibi denetim noktasının kaydettiği
            # özetlerle (sha256) ve modelin sözlüğüyle karşılaştırılarak okunur: başka bir
            # eğitimin ya da değiştirilmiş dosyaları, resmin eksenlerine yanlış belirteçler
            # yazdırmaz
            model = load_model(run)
            tok = load_run_tokenizer(run, model=model)
            prompt = None if isinstance(model, BigramLM) else \
                _run_prompt(model, tok, _run_corpus_words(run))
            attention_title = (f"Dikkat ağırlıkları: {name} "
                               "(satır: sorgu, sütun: anahtar)")
        else:
            from .course.gpt import DEMO_PROMPT, train_demo
            metrics = Path(tmp) / "metrics.jsonl"
            model, tok = train_demo(metrics) if demo_steps is None else \
                train_demo(metrics, steps=demo_steps)
            prompt = DEMO_PROMPT
            loss_title = "Kayıp eğrisi: kurs içi küçük deneme eğitimi"
            attention_title = ("Deneme modelinin dikkat ağırlıkları "
                               "(satır: sorgu, sütun: anahtar)")

        made = [plot_positional_encoding(img / "positional_encoding.png"),
                plot_loss_curve(metrics, img / "loss_curve.png", title=loss_title)]
    if prompt is None:
        log(f"docs: {run} holds a bigram model, which has no attention: its attention "
            f"picture is skipped")
        if skipped is not None:
            skipped["attention.png"] = (f"{name} eğitiminin modeli bir bigram; "
                                        f"dikkat katmanı olmadığı için dikkat resmi yok")
    elif run_dir is not None:
        try:
            made.append(plot_attention(model, tok, prompt, img / "attention.png",
                                       title=attention_title))
        except NonFiniteOutput as e:
            # Bozuk ağırlıklı (NaN/sonsuz) bir eğitimin dikkat haritası boş çizilirdi:
            # resim atlanır, sayfa nedenini söyler; kursun geri kalanı yine üretilir
            log(f"docs: {run}: {e}: its attention picture is skipped")
            if skipped is not None:
                skipped["attention.png"] = (f"{name} eğitiminin ağırlıkları NaN ya da "
                                            f"sonsuz değerler içeriyor; dikkat haritası "
                                            f"çizilemedi")
    else:
        made.append(plot_attention(model, tok, prompt, img / "attention.png",
                                   title=attention_title))
    log(f"docs: drew {len(made)} pictures in {img}")
    return made


__all__ = ["MatplotlibMissing", "plot_attention", "attention_weights",
           "plot_positional_encoding", "plot_loss_curve", "read_metrics", "course_images"]
