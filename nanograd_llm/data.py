"""
# Veri: metni okumak, belirteçlere çevirmek ve toplu işler (batch) çekmek

## Metinden eğitim örneğine
Dil modeli eğitiminin verisi tek bir uzun belirteç dizisidir. Metin okunur, belirteçleyici
(tokenizer) ile kimliklere çevrilir ve bu dizi **ardışık** iki parçaya ayrılır: ilk %90
eğitim, son %10 doğrulama (validation). Rastgele karıştırarak değil de ardışık bölmemizin
nedeni: komşu pencereler büyük ölçüde örtüşür (aynı karakterleri paylaşır); karıştırsaydık
doğrulama metninin hemen hemen aynısı eğitimde de görülürdü ve doğrulama kaybı modelin ezberini
ölçerdi.

BPE belirteçleyicisiyle (ve bir GPT-2 klasöründen başlayan ince ayarda) bölme metinde yapılır:
metin ilk %90 karakterinin sonunda kesilir ve iki kısım ayrı ayrı kodlanır (`encode_split_corpus`).
Böylece hiçbir belirteç sınırı aşmaz; kendi belirteçleyicisini eğiten bir BPE eğitiminde o
belirteçleyici de doğrulama metnini görmez. Karakter belirteçleyicisinde iki yol aynı sınırı verir
(NFC metinde her karaktere bir belirteç düşer).

Bir eğitim örneği, dizinin rastgele bir `i` konumundan başlayan `block_size` uzunluğunda bir
penceredir. Hedef aynı pencerenin **bir konum kaydırılmış** hâlidir:

    x = ids[i     : i + T]
    y = ids[i + 1 : i + T + 1]

Böylece tek bir pencere T tane tahmin görevi içerir: `x[:t+1]` bağlamından `y[t]` tahmini.

## Yer tasarrufu ve bellek eşlemesi
Karakter sözlükleri küçüktür (yüzlerce), BPE sözlükleri de genellikle 65 536'nın altındadır;
bu yüzden kimlikler `uint16` (2 bayt) olarak saklanır — `int64`'ün dörtte biri (daha büyük
sözlüklerde `uint32`). Büyük bir derlemde kimlikler diskteki bir `.npy` dosyasına parça parça
yazılır ve `np.load(..., mmap_mode="r")` ile **bellek eşlemeli** (memory-mapped) açılır: işletim
sistemi yalnızca okunan sayfaları belleğe getirir.

## Tekrarlanabilirlik
Toplu işler tohumlanmış bir `numpy.random.Generator` ile çekilir. Üretecin durumu
(`bit_generator.state`) denetim noktasına (checkpoint) yazılır; eğitime kaldığı yerden devam
edildiğinde aynı toplu işler aynı sırayla gelir. Değerlendirme (eval) toplu işleri ayrı,
adıma göre tohumlanmış bir üreteçten gelir; böylece değerlendirme eğitim akışını bozmaz.

## Adlandırılmış derlemler
`tinyshakespeare`, `wizard_of_oz` ve `seyfettin` ilk kullanımda herkese açık adreslerinden
indirilir, sha256 özetleri denetlenir ve kullanıcının önbellek klasöründe saklanır
(`$NANOGRAD_LLM_DATA_DIR`, yoksa `$XDG_CACHE_HOME/nanograd_llm`, yoksa
`~/.cache/nanograd_llm`). Okurken baştaki BOM atılır ve CRLF satır sonları LF'ye çevrilir.
`seyfettin` adıyla okunan metin ayrıca temizlenir (`clean_seyfettin`): vikiden dışa aktarımda
kalan HTML karakter varlıkları (entity) karakterin kendisine çevrilir (`&mdash;` → `—`, `&acirc;` → `â` …)
ve satır başlarındaki viki girinti işareti `:` atılır. Aynı dosya `--data YOL` ile bir yol
olarak verilirse bu temizlik yapılmaz: metin olduğu gibi okunur.
"""
from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .atomic import (atomic_write, atomic_write_bytes, make_folder, temporary_beside,
                     with_command_line_message)
from .backend import did_you_mean, is_integer, progress_bar

# -- named corpora (URLs and sha256 from the project's data notes) -----------------------------

_SEYFETTIN_BASE = ("https://raw.githubusercontent.com/fatihbozdag/bitig/"
                   "941231ce2b05b7fda7926a5169790400e10ca7d4/examples/turkish_seyfettin/corpus/")
_SEYFETTIN_FILES = [
    ("aleko.txt", "762776339b6946d26afacec94a87c8f939a1c9d17742d31ef96f30f84e7016ce"),
    ("and.txt", "9497bf3e2397d257f9708df24cf6a97291fecf9d83de38013866fd299e551ec0"),
    ("antiseptik.txt", "9cc3166e202377479ff8753b9dc95a1d74be480d43282272be11ff60e9acba91"),
    ("ask_dalgas.txt", "179a528a1b5a947b1f6d5fd2122a749350ac2035d34c7f9e3180606baf873588"),
    ("ask_ve_ayak_parmaklar.txt", "1870beb3f72d62a626d462576d9f1570ce561d2d2da44cdf2b71386613cf1cca"),
    ("bahar_ve_kelebekler.txt", "e7ac277de1f2741bad25587ecdb9b0e6839cc529181e373dd29fd0a82d1a5162"),
    ("balkon_hikaye.txt", "c0c825bf66d335e53da1b2812dc19f284d4dc8ceed726596321130158655cb19"),
    ("bas_n_vermeyen_sehit.txt", "70ca9db1eea55633098c365a344ecbe43fb3b8ddea1a76cdeb9107747218fbb4"),
    ("binecek_sey.txt", "20a88a68a110803be6d083d10ef96245413e7ecd0755ce71687487ed95c61c28"),
    ("bir_hat_ra.txt", "4135b9e8ecec0e8582bf853cd7e4e1290ab44aa9c399f561597a56f7328c0c6f"),
    ("bir_kay_s_n_tesiri.txt", "0659a3d376a38832edb5f46c5b9afafad4e667af6235a2c74a08e2ec1d1297bb"),
    ("bir_refikin_defter_i_ihtisasat_ndan.txt",
     "95620c5cb185de08c7144c2cf70b4870f90e9f6d61d144056a1719d58de94c74"),
    ("bir_temiz_havlu_ugruna.txt", "84222b75ab2e1908b58442706260e3a39a9e82ea8aa46922f4a9aebcf8997d4e"),
    ("bomba.txt", "d8f0c32ed6dd9ad89f2a510cfaabdbf72e7ca6ca9e861f79b927607262ddace9"),
    ("buyucu.txt", "73fca9fb80e5da58d70d380778a2d29010361551c23f13f350731878bf6cb975"),
    ("diyet.txt", "938442c394e0f0086163eb0cbb2511795aa9d15cac395c10241d7d2d65b75c89"),
    ("dunyan_n_duzeni.txt", "30e7aae1200ddc749509e4b8a49c97c7e2adf2ef906387d79452b3d5abc3f16b"),
    ("elma.txt", "7d365f3a8738693841e9eb8455575c1cdf3e99562a713129a5b770d0e4b50b1c"),
    ("ferman.txt", "2ead3a4f9c1db2424234e121bc7ba67c204eb7eccabe66b6ca394d854f1b23af"),
    ("fon_sadristayn_n_kar_s.txt", "dd547fbd8693551f729fee5da81196fb2c6171533294282f79e46f836d36916c"),
    ("fon_sadristayn_n_oglu.txt", "0e94184614fa1a59b6ddce0274f9f5f4c5fc180680895670d708acc179324d50"),
    ("forsa.txt", "41ef3cd075be03e027a9a497c7124511323b0f030e4c7acf42ac06e4e65ebe2d"),
    ("gizli_mabed.txt", "674c5e4c1f15a82b77f3eb0749e14017fc8d0483ee5275ac0b981a5b2faece13"),
    ("havyar.txt", "82afecd3180c3c945f2dd1939651245ac5054a1ea467cb172bda770a544a1554"),
    ("hediye.txt", "97295e93316f5cb78c16fea54db9fe809f101e4052755ab8bc7b90f8f04ae4ac"),
    ("hurriyet_bayraklar.txt", "2a8fa3e8b5df0c2e1e5b72aad022da5f474a8170db873e10552556699cb62952"),
    ("kasag.txt", "501e2231630d9ff60835cc338ae829ca3406421e3ef8bcfc4e96a74330f3abd9"),
    ("keramet.txt", "62bd0e37d40079c57562f1108a8950921da3a49219a7ba0052dcce7ee8e01712"),
]


@dataclass(frozen=True)
class Corpus:
    """A named corpus (CORPORA): where its parts are downloaded from and their digests."""

    name: str
    filename: str
    sha256: str
    parts: tuple            # ((url, sha256), ...) joined with "\n" between parts
    description: str
    # sha256 of the text load_text gives (BOM stripped, LF line ends, seyfettin cleaned): the
    # data_sha256 a run on this corpus records, known before anything is downloaded
    text_sha256: str = ""


CORPORA = {
    "tinyshakespeare": Corpus(
        "tinyshakespeare", "tinyshakespeare.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        (("https://raw.githubusercontent.com/karpathy/char-rnn/"
          "6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e/data/tinyshakespeare/input.txt",
          "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"),),
        "Karpathy's tiny Shakespeare (1.1 MB, public domain)",
        text_sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"),
    "wizard_of_oz": Corpus(
        "wizard_of_oz", "wizard_of_oz.txt",
        "563fc0f0faf22236b612e61ad5c49e09e15484cbaa4271625485c6bfd9991741",
        (("https://raw.githubusercontent.com/Infatoshi/fcc-intro-to-llms/"
          "62fea5d2891799dc0d8bf781b9bdc493ecdeab6d/wizard_of_oz.txt",
          "563fc0f0faf22236b612e61ad5c49e09e15484cbaa4271625485c6bfd9991741"),),
        "L. Frank Baum, Dorothy and the Wizard in Oz (238 KB, public domain)",
        text_sha256="c3dc9f7dc7df0305cd9ce2a2da04d051e52f77da7c8fcd77c62ffd1f7e81ec69"),
    "seyfettin": Corpus(
        "seyfettin", "turkish_omer_seyfettin.txt",
        "e6c5d738a90f13017da7f3e4b518f21947ae0edde2c2c93728d9da7b36dbb60d",
        tuple((_SEYFETTIN_BASE + f, h) for f, h in _SEYFETTIN_FILES),
        "28 stories by Ömer Seyfettin, Turkish Wikisource transcription "
        "(409 KB, CC BY-SA 4.0)",
        text_sha256="90db2d094158092f615938df78bff4ddea5f744bfe30783ff21bb04ad9ceb3b0"),
}

EMBEDDED = "embedded"
EMBEDDED_PATH = Path(__file__).resolve().parent / "corpus" / "turkce_aciklamalar.txt"

# Seyfettin derlemindeki wiki işaretleme artıkları (veri notlarında listelenen)
_SEYFETTIN_ENTITIES = {"&mdash;": "—", "&mdas;": "—", "&ndash;": "–", "&acirc;": "â",
                       "&icirc;": "î", "&ucirc;": "û"}


def cache_dir() -> Path:
    """Where downloaded corpora live: $NANOGRAD_LLM_DATA_DIR, else the user's cache dir."""
    override = os.environ.get("NANOGRAD_LLM_DATA_DIR")
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nanograd_llm"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def text_sha256(text: str, chunk_chars: int = 1 << 20) -> str:
    """sha256 of the text's UTF-8 bytes (a run's data_sha256), the same digest as
    hashlib.sha256(text.encode("utf-8")), without a UTF-8 copy of the whole text."""
    # Özet metnin UTF-8 baytları üzerindedir; bütün metnin kodlanmış bir kopyası 100 MB'lık
    # bir derlemde 100 MB daha bellek demekti. Parça parça (bir seferde ~1 M karakter)
    # kodlamak aynı bayt dizisini, dolayısıyla aynı özeti verir: Python dizesinde bir karakter
    # bölünemez (vekil çifti yoktur), her parçanın baytları tam karakterlerdir
    h = hashlib.sha256()
    for i in range(0, len(text), chunk_chars):
        h.update(text[i:i + chunk_chars].encode("utf-8"))
    return h.hexdigest()


def _fetch(url: str, timeout: float = 60.0) -> bytes:
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read()
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise OSError(f"could not download {url} ({reason})") from None


# What an error about a corpus that cannot be had offers in its stead, the trainer's way: the
# other callers pass their own (eval, a resumed run, an example with arguments of its own)
INSTEAD = "train on any local text file with --data PATH"
# The defaults of load_text and download_corpus, whose callers are Python code: (Python's
# words, the command line's). str(e) names their own argument, not an option they do not have;
# a command that reaches a default prints INSTEAD as before (its command_line_message)
READ_A_FILE = ("read any local text file by passing its path as data", INSTEAD)
READ_A_FILE_WITH_LOAD_TEXT = ("read any local text file with load_text(path)",
                              INSTEAD)


def _offering(kind, message: str, instead) -> Exception:
    """kind(message), ending ", or " + what `instead` offers: one text for every reader, or
    (Python's words, the command line's), the second carried as command_line_message."""
    # Devam ettirilen bir eğitim "--data PATH ile bir kopya verin" der: Python'dan
    # çağırana --data değil data ayarı söylenir (atomic.with_command_line_message)
    if not instead:
        return kind(message)
    if isinstance(instead, str):
        return kind(f"{message}, or {instead}")
    python, command_line = instead
    return with_command_line_message(kind(f"{message}, or {python}"),
                                     f"{message}, or {command_line}")


def download_corpus(name: str, directory: Path | None = None,
                    instead: str | tuple[str, str] | None = READ_A_FILE_WITH_LOAD_TEXT) \
        -> Path:
    """Return the cached path of a named corpus, downloading and checking it on first use.
    `instead`: what the error of a corpus that cannot be had offers in its stead (None:
    nothing but a copy placed by hand; a pair: in Python's words and the command line's, the
    second carried as the error's command_line_message; by default load_text, in Python's
    words, and INSTEAD on the command line)."""
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}: expected a corpus to download, one of "
                         f"{', '.join(CORPORA)}{did_you_mean(name, CORPORA)}")
    c = CORPORA[name]
    d = Path(directory) if directory is not None else cache_dir()
    path = d / c.filename
    # Önbellekte dosyanın yerinde bir klasör (ya da önbellek klasörünün yerinde bir dosya)
    # varsa, çevrimdışı ileti "derlemi elle PATH'e koyun" der, çevrimiçi bir indirme de
    # bütün parçalar indirildikten sonra kaydedilemezdi: önce bu söylenir
    bad = ((d, "not a folder") if d.exists() and not d.is_dir() else
           (path, "a folder") if path.is_dir() else None)
    if bad is not None:
        raise _offering(OSError, f"corpus {name!r} is cached as {path}, but {bad[0]} is "
                                 f"{bad[1]}: move it away (or set NANOGRAD_LLM_DATA_DIR to "
                                 f"another folder)", instead)
    cached_sha = None
    if path.is_file():
        cached_sha = _sha256_file(path)
        if cached_sha == c.sha256:
            return path
        # bozuk ya da yarım kalmış bir önbellek dosyası: yeniden indir
    parts = []
    for url, sha in c.parts:
        try:
            blob = _fetch(url)
        except OSError as e:
            # Çok parçalı bir derlem (seyfettin) önbellekte tek dosyadır: "(28 files)" demek
            # 28 dosyanın oraya konacağını düşündürürdü; nasıl birleştirildiği söylenir
            one_file = "" if len(c.parts) == 1 else (
                f" as one file, the one a machine online caches: its {len(c.parts)} parts "
                f"(listed in nanograd_llm/data.py) joined in order with a newline between them")
            if cached_sha is not None:
                # Önbellekte bir dosya var ama özeti beklenenle uyuşmuyor: "elle koyun"
                # demek, dosya hiç yokmuş gibi yanıltır; sorunun o dosya olduğu söylenir
                raise _offering(OSError, f"{e}. The file already at {path} failed the sha256 "
                                         f"check (it has sha256 {cached_sha[:12]}…, corpus "
                                         f"{name!r} needs {c.sha256[:12]}…): it is damaged, "
                                         f"incomplete or another text. A good copy of the "
                                         f"corpus can be placed by hand at {path} in its stead"
                                         f"{one_file}", instead) from None
            # Çevrimdışı kullanıcıya iki yol: derlemin (çok parçalıysa birleştirilmiş) dosyasını
            # önbelleğe elle koymak (sha256'sı denetlenir; Seyfettin temizliği okurken yine
            # yapılır) ya da --data ile kendi metin dosyasını kullanmak
            raise _offering(OSError, f"{e}. Corpus {name!r} can also be placed by hand at "
                                     f"{path}{one_file} (its sha256 {c.sha256[:12]}… is "
                                     f"checked)", instead) from None
        got = hashlib.sha256(blob).hexdigest()
        if got != sha:
            raise OSError(f"download of {url} has sha256 {got}, expected {sha}; the file "
                          f"changed or the download was corrupted")
        parts.append(blob)
    data = b"\n".join(parts)
    got = hashlib.sha256(data).hexdigest()
    if got != c.sha256:
        raise OSError(f"corpus {name!r} has sha256 {got}, expected {c.sha256}")
    try:
        make_folder(d, "the corpus cache folder")
        # Önbelleğe atomik yazım (atomic.py): eşsiz adlı geçici dosya, fsync, yeniden adlandırma;
        # bir hata ya da aynı anda indiren ikinci bir süreç yarım bir dosya bırakamaz
        atomic_write_bytes(path, data)
    except OSError as e:
        raise OSError(f"downloaded corpus {name!r} but could not save it to {path} "
                      f"({e.strerror or e})") from None
    return path


# -- reading text -----------------------------------------------------------------------------

# Dönüştürme önerisi her işletim sisteminde çalışan bir komuttur: iconv Windows'ta yoktur. Türkçe
# bir metnin UTF-8 olmayan kodlaması çoğu zaman Windows'un cp1254'üdür (ISO-8859-9 da neredeyse
# aynıdır): latin-1 ile okunan ş, ğ, ı, İ, Ş, Ğ, İzlanda alfabesinin aynı koddaki harflerine
# dönerdi (ş yerine thorn, ğ yerine eth). Komut çift tırnak içindedir, içinde yalnızca tek
# tırnak vardır: bash, cmd.exe ve PowerShell onu aynı okur; newline='' satır sonlarını olduğu
# gibi bırakır
_TO_UTF8 = ("`python -c \"import sys; open(sys.argv[2], 'w', encoding='utf-8', newline='')"
            ".write(open(sys.argv[1], encoding='cp1254', newline='').read())\" IN OUT`")


def decode_text(raw: bytes, source: str = "text") -> str:
    """UTF-8 bytes -> str: strip a BOM, CRLF/CR -> LF; a clear error at the first bad byte."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
        offset = 3
    else:
        offset = 0
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        pos = e.start + offset
        line = raw.count(b"\n", 0, e.start) + 1
        raise ValueError(f"{source} is not UTF-8 text: invalid byte 0x{raw[e.start]:02x} at byte "
                         f"offset {pos} (line {line}); convert it to UTF-8 first, e.g. from "
                         f"Windows' Turkish encoding with {_TO_UTF8} (cp1254; latin-1 for "
                         f"Western European text)") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_text_file(path) -> str:
    """Read a UTF-8 text file with clear errors for missing / unreadable / empty files."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"data file not found: {p}")
    if p.is_dir():
        raise IsADirectoryError(f"data path is a directory, expected a text file: {p}")
    raw = p.read_bytes()
    text = decode_text(raw, source=str(p))
    if not text:
        raise ValueError(f"data file is empty: {p}")
    return text


def check_source(data: str | os.PathLike | None) -> None:
    """Raise the error load_text would give for a data path that does not exist (without
    reading or downloading anything): lets a caller report it before other checks."""
    if data is None or str(data) == EMBEDDED or str(data) in CORPORA:
        return
    s = str(data)
    p = Path(s).expanduser()
    if not p.exists() and os.sep not in s and "." not in s:
        raise ValueError(f"unknown corpus {s!r} and no such file: expected a path to a UTF-8 "
                         f"text file or one of {', '.join([EMBEDDED, *CORPORA])}"
                         f"{did_you_mean(s, [EMBEDDED, *CORPORA])}")
    if not p.exists():
        raise FileNotFoundError(f"data file not found: {p}")


def known_text_sha256(data) -> str | None:
    """The sha256 of the text load_text(data) would give, when it is known without reading or
    downloading anything (a named corpus: its pinned digest); else None."""
    c = CORPORA.get(str(data)) if data is not None else None
    return (c.text_sha256 or None) if c is not None else None


def same_source(a, b) -> bool:
    """Two `data` settings name the same corpus (a path given two ways counts as the same)."""
    if a == b:
        return True
    try:
        pa, pb = Path(str(a)).expanduser(), Path(str(b)).expanduser()
        return pa.is_file() and pb.is_file() and pa.samefile(pb)
    except OSError:
        return False


def load_text(data: str | os.PathLike | None,
              instead: str | tuple[str, str] | None = READ_A_FILE) -> tuple[str, str]:
    """(text, label) for a path, a corpus name, or None / 'embedded' (the built-in corpus).
    `instead`: see download_corpus (by default: a path given as `data`, in Python's words, and
    INSTEAD on the command line)."""
    if data is None or str(data) == EMBEDDED:
        return read_text_file(EMBEDDED_PATH), EMBEDDED
    s = str(data)
    if s in CORPORA:
        text = read_text_file(download_corpus(s, instead=instead))
        if s == "seyfettin":
            text = clean_seyfettin(text)
        return text, s
    check_source(s)
    p = Path(s).expanduser()
    return read_text_file(p), str(p)


def clean_seyfettin(text: str) -> str:
    """Map the HTML entities left by the wiki export and drop wiki-indent ':' at line starts."""
    for k, v in _SEYFETTIN_ENTITIES.items():
        text = text.replace(k, v)
    return "\n".join(line[1:] if line.startswith(":") else line for line in text.split("\n"))


# -- token ids --------------------------------------------------------------------------------

def id_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned dtype that holds every id."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


# Kesim yeri: en sağdaki "boşluk olmayan karakter + boşluk/sekme" ikilisinin ortası
_LAST_CUT_BEFORE_SPACE = re.compile(r".*\S(?=[ \t])", re.S)


def _chunks(text: str, size: int, start: int = 0, stop: int | None = None):
    """Split text (text[start:stop]) into pieces of at most `size` characters, cut before a
    newline (or a CRLF) when possible."""
    n = len(text) if stop is None else stop
    while start < n:
        end = min(start + size, n)
        if end < n:
            # boşluk olmayan bir karakterden sonra ve bir satır sonundan önce kes: BPE'nin
            # boşluk dizileri parçalanmasın. (Satır sonundan *sonra* kesmek yetmez: GPT-2'nin
            # ifadesi bütün metinde "  \n\nSonra"yı "  \n" + "\n" diye böler, kesilen parçanın
            # sonunda kalan "  \n\n" ise bölünmeden tek parça olurdu.)
            # Windows satır sonu "\r\n" bir bütündür: kesim "\r"den önce yapılır
            nl = text.rfind("\n", start, end + 1)
            while nl > start:
                cut = nl - 1 if text[nl - 1] == "\r" else nl
                if cut > start and not text[cut - 1].isspace():
                    break
                nl = text.rfind("\n", start, nl)
            if nl > start:
                end = cut
            else:
                # Uygun satır sonu yoksa bir boşluktan ya da sekmeden önce: sözcük ortasından
                # kesmek BPE belirteçlerini değiştirir, NFD biçiminde yazılmış bir "ş"yi
                # (s + U+0327) bölmek de karakter sözlüğünde olmayan tek başına bir çengel bırakır
                m = _LAST_CUT_BEFORE_SPACE.match(text, start, end + 1)
                if m:
                    end = m.end()
        yield text[start:end]
        start = end


def encode_corpus(text: str, tokenizer, path=None, chunk_chars: int = 1 << 20,
                  progress: bool | None = False, max_ids: int | None = None) -> np.ndarray:
    """Encode text to a compact id array; with `path`, into a memory-mapped .npy file.
    `progress`: True shows a progress bar on stderr (characters encoded) once encoding has
    taken PROGRESS_DELAY seconds (a short text shows none); None: the same on a terminal only;
    False: none. `max_ids` (without `path`): stop after the piece that brings the ids to at
    least that many; they are the first ids of the whole text's (each piece is encoded on its
    own), possibly more than `max_ids`."""
    return _encode(text, tokenizer, path, chunk_chars, progress, max_ids, None)[0]


def encode_split_corpus(text: str, tokenizer, cut: int, path=None, chunk_chars: int = 1 << 20,
                        progress: bool | None = False) -> tuple[np.ndarray, int]:
    """Encode text[:cut] and text[cut:] each on its own, into one id array (with `path`, one
    memory-mapped .npy file): encode_corpus(text[:cut]) followed by encode_corpus(text[cut:]).
    No token spans the cut. -> (ids, the number of ids of text[:cut])"""
    if not is_integer(cut) or not 0 <= cut <= len(text):
        raise ValueError(f"cut must be an integer in [0, {len(text)}] (a character index of the "
                         f"text), got {cut!r}")
    return _encode(text, tokenizer, path, chunk_chars, progress, None, int(cut))


def _encode(text, tokenizer, path, chunk_chars, progress, max_ids, cut):
    if max_ids is not None and path is not None:
        raise ValueError("encode_corpus: max_ids is for an in-memory array, not with path")
    dt = id_dtype(tokenizer.vocab_size)
    # Büyük bir derlemi (yüzlerce MB) kodlamak, BPE ile dakikalar sürebilir: kullanıcı bu sürede
    # bir şey görmeli. Çubuk ancak kodlama PROGRESS_DELAY saniyeyi geçince belirir; kısa bir
    # metin çıktıyı değiştirmez
    bar = progress_bar(progress, len(text), "encoding", "char")
    try:
        return _encode_corpus(text, tokenizer, path, chunk_chars, dt, bar, max_ids, cut)
    finally:
        bar.close()


def _encode_corpus(text, tokenizer, path, chunk_chars, dt, bar, max_ids=None, cut=None):
    # Karakter belirteçleyicisi parçayı doğrudan bir NumPy dizisine kodlar (encode_array):
    # karakter başına bir Python tam sayısından oluşan ara liste kurulmaz. `encode`'u
    # değiştiren bir alt sınıf (kendi kodlaması) kendi `encode`'uyla kodlanır
    from .tokenizers.char import CharTokenizer
    kind = type(tokenizer)
    fast = isinstance(tokenizer, CharTokenizer) and kind.encode is CharTokenizer.encode \
        and kind.encode_array is CharTokenizer.encode_array
    encode_array = tokenizer.encode_array if fast else None

    def encode(c):
        a = encode_array(c, dtype=dt) if encode_array is not None \
            else np.asarray(tokenizer.encode(c), dtype=dt)
        bar.update(len(c))
        return a

    def pieces():
        # `cut` verilmişse metnin kesimden önceki ve sonraki kısmı ayrı ayrı parçalara bölünür:
        # hiçbir parça (dolayısıyla hiçbir belirteç) kesim yerini aşmaz. Parçalar (parça,
        # kesimden önce mi) diye gelir
        if cut is None:
            for c in _chunks(text, chunk_chars):
                yield c, True
            return
        for c in _chunks(text, chunk_chars, 0, cut):
            yield c, True
        for c in _chunks(text, chunk_chars, cut, len(text)):
            yield c, False
    if path is None:
        # Parçalar birbirinden bağımsız kodlanır ve kesim yerleri yalnızca metne bağlıdır: ilk
        # k parçanın kimlikleri bütün metnin kimliklerinin başıdır. Yalnızca ilk max_ids kimliği
        # gereken biri (eval --max-tokens) metnin geri kalanını kodlatmaz
        arrays, n, first = [], 0, 0
        for c, before in pieces():
            arrays.append(encode(c))
            n += arrays[-1].size
            first += arrays[-1].size if before else 0
            if max_ids is not None and n >= max_ids:
                break
        return (np.concatenate(arrays) if arrays else np.zeros(0, dtype=dt)), first
    path = Path(path)
    make_folder(path.parent)

    def write(tmp_npy):
        # Derlem boyutundaki ham geçici dosya .npy'nin geçici dosyasının yanında, onunla aynı
        # biçimde adlandırılıp kilitlenerek açılır (atomic.temporary_beside): öldürülmüş bir
        # süreçten kalırsa tokens.npy'nin bir sonraki yazımı siler (tokens.npy başka bir
        # diskteki dosyaya bağ olsa da), aynı anda yazan başka bir süreç de ona dokunmaz.
        # Kesilmede (Ctrl-C) ya da hatada da silinir
        with temporary_beside(tmp_npy) as raw_path:
            # 1. geçiş: parçaları kodla, geçici ham dosyaya ekle (bellekte yalnızca bir parça)
            n = counts[0] = 0
            with open(raw_path, "wb") as f:
                for c, before in pieces():
                    a = encode(c)
                    f.write(a.tobytes())
                    n += a.size
                    counts[0] += a.size if before else 0
            # 2. geçiş: .npy dosyası, başlığı ve ardından ham dosyanın baytlarıdır (np.save'in
            # yazdığının aynısı). Kopya düz dosyalarla, parça parça yapılır: bellek eşlemesi
            # yoktur. Windows'ta eşlenmiş bir dosya silinemez; bir kesintide (Ctrl-C) eşlemeler
            # istisnanın izinde canlı kalır ve iki geçici dosyanın temizliği başarısız olurdu
            with open(raw_path, "rb") as src, open(tmp_npy, "wb") as f:
                np.lib.format.write_array_header_1_0(
                    f, {"descr": np.lib.format.dtype_to_descr(np.dtype(dt)),
                        "fortran_order": False, "shape": (n,)})
                shutil.copyfileobj(src, f, 1 << 24)

    counts = [0]
    # atomic_write: .npy geçici bir dosyada kurulur, diske indirilir (fsync) ve tek bir ad
    # değişikliğiyle yerine geçer; tokens.npy başka bir diskteki dosyaya sembolik bağsa bağ
    # kalır, geçici dosyalar da o diskte, gösterilen dosyanın yanında açılır
    try:
        atomic_write(path, write)
    except OSError as e:
        raise OSError(f"could not write the token file {path} ({e.strerror or e})") from None
    return np.load(path, mmap_mode="r"), counts[0]


@dataclass
class TokenData:
    """Train / val id arrays of one corpus (a contiguous split: val is the last val_fraction,
    10% by default; split_by: how it was cut, by "tokens" or "characters")."""
    train: np.ndarray
    val: np.ndarray
    sha256: str = ""          # the corpus text's digest (a resumed run checks it is the same)
    split_by: str = "tokens"  # SPLIT_BY_TOKENS or SPLIT_BY_CHARACTERS (how val was cut off)

    @property
    def n_tokens(self) -> int:
        """Ids in both parts together."""
        return int(self.train.size + self.val.size)


# How a run's val part is cut off (recorded as extra.split_by in its checkpoints):
# "tokens": the last val_fraction of the whole text's ids (character runs; BPE runs saved
# before the field existed); "characters": the text is cut at split_point(len(text)), each
# part encoded on its own (new BPE runs: the tokenizer, trained on the first part, never saw
# the val text). A missing field means "tokens".
SPLIT_BY_TOKENS, SPLIT_BY_CHARACTERS = "tokens", "characters"
SPLIT_RULES = (SPLIT_BY_TOKENS, SPLIT_BY_CHARACTERS)


def split_rule(tokenizer, split_by: str | None = None) -> str:
    """How a text is cut into its training and validation parts with `tokenizer` (one of
    SPLIT_RULES): `split_by`, a run's recorded rule (extra.split_by), where given; else by
    tokens for a character-level tokenizer (one with a `stoi` dict, as CharTokenizer has: one
    token per NFC character) and by characters for any other (a new BPE run's, a GPT-2
    folder's). The trainer (train.prepare_data) and `eval` (evaluate.evaluate_text) both
    decide here, so a run's val part and `eval --split val` cannot part ways. A `split_by`
    outside SPLIT_RULES is refused."""
    if split_by is not None:
        if split_by not in SPLIT_RULES:
            raise ValueError(f"split_by must be one of {', '.join(SPLIT_RULES)}, "
                             f"got {split_by!r}{did_you_mean(split_by, SPLIT_RULES)}")
        return split_by
    # BPE (yeni bir eğitimin kendi belirteçleyicisi ya da bir GPT-2 klasörününki): metin
    # karakterlerle bölünür, iki kısım ayrı ayrı kodlanır. Yeni eğitimin belirteçleyicisi
    # yalnızca ilk kısımla eğitilir; kimliklerin son %10'u ise ilk kısmın sonundaki
    # belirteçlerle başlayabilirdi (birleştirmeler doğrulama metninin başını görmüş olurdu).
    # Karakter belirteçleyicisinde kural eskisi gibi kalır: NFC'deki her karaktere bir belirteç
    # düşer, ama NFD yazılmış bir metnin karakter sayısı belirteç sayısından büyüktür; orada
    # karakterlerle kesmek sınırı kaydırır, karakter düzeyindeki eğitimleri değiştirirdi.
    # Karakter düzeyindeki belirteçleyici `stoi` sözlüğünden tanınır (CharTokenizer'da vardır,
    # BPE'de yoktur): evaluate.encode_for_eval de metni NFC'ye çevirip bilinmeyen karakterleri
    # bu sözlükte arar. Eğitici ile `eval` eskiden bunu iki ayrı sınamayla kararlaştırırdı
    # (biri sınıfa, öteki sözlüğe bakardı); artık ikisi de buraya sorar
    return SPLIT_BY_TOKENS if isinstance(getattr(tokenizer, "stoi", None), dict) \
        else SPLIT_BY_CHARACTERS


def split_point(n: int, val_fraction: float) -> int:
    """Index where the validation part of n ids starts (the last val_fraction of them): the
    floor of n·(1 − val_fraction), computed exactly from val_fraction as its repr writes it, so
    that 90 ids with 0.3 give 63 + 27."""
    # Kayan noktalı `int(n * (1.0 - val_fraction))` sınırı bazen bir kimlik erkene alıyordu:
    # 1 − 0,3 = 0,7 float'ta 0,69999…'dır, 90 · 0,69999… = 62,99… ve int() 62 verir (63 + 27
    # yerine 62 + 28); 0,9 ile 1000 kimlik 100 + 900 yerine 99 + 901 bölünürdü. val_fraction,
    # kullanıcının yazdığı ondalık biçimiyle (repr) tam bir kesir olarak alınır, eğitim payı
    # n · (1 − val_fraction) kesin hesaplanır ve aşağı yuvarlanır; nanoGPT'nin
    # `int(0.9 * n)`'yle aynı kural, kayan nokta hatası olmadan (0,1 ile bölme değişmez)
    share = 1 - Fraction(repr(float(val_fraction)))
    return math.floor(n * share)


def split_ids(ids: np.ndarray, block_size: int, val_fraction: float = 0.1,
              source: str = "the data", block_size_option: str = "block_size={}",
              val_fraction_option: bool = True, cut: int | None = None) -> TokenData:
    """Contiguous split; both parts must hold at least block_size + 1 tokens.
    `cut`: the index where the val part starts (the ids of text[:c] of a text split by
    characters, encode_split_corpus); by default split_point(len(ids), val_fraction).

    ids: a 1-D array (or list) of token ids; block_size: an integer >= 1; val_fraction: the
    validation part's share, in (0, 1). The error of ids too short advises what the caller
    can change: a block size written as `block_size_option` ("--block-size {}" for a command
    with that option; the trainer's key=value by default), and a val_fraction only where
    `val_fraction_option` says the caller has one."""
    # Eğitim ayarı (TrainConfig) bu değerleri denetler; Python'dan doğrudan çağrıldığında da
    # aynı sınırlar geçerlidir: val_fraction = 1,5 bölme noktasını negatif yapıp sessizce
    # 50/50'lik bir bölme verirdi, `tok.encode(text)`in döndürdüğü liste de AttributeError'la
    # düşerdi
    if not isinstance(ids, np.ndarray):
        ids = np.asarray(ids)
    if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
        raise ValueError(f"ids must be a 1-D array of integer token ids, got "
                         f"{'shape ' + str(ids.shape) if ids.ndim != 1 else 'dtype ' + str(ids.dtype)}")
    if not is_integer(block_size) \
            or block_size < 1:
        raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float, np.floating)) \
            or not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be a number in (0, 1), got {val_fraction!r}")
    n = int(ids.size)
    need = block_size + 1
    if cut is not None and (not is_integer(cut) or not 0 <= cut <= n):
        raise ValueError(f"cut must be an integer in [0, {n}], got {cut!r}")
    split = split_point(n, val_fraction) if cut is None else int(cut)
    train, val = ids[:split], ids[split:]
    if train.size >= need and val.size >= need:
        return TokenData(train, val,
                         split_by=SPLIT_BY_TOKENS if cut is None else SPLIT_BY_CHARACTERS)
    # Önerilen block_size iki parçaya da sığmalı (yalnızca bütün metne değil)
    fit = min(train.size, val.size) - 1
    least = min_tokens(block_size, val_fraction)
    # Metin iki parçaya yetiyor da val_fraction birini boş (ya da kısa) bırakıyorsa sorun
    # val_fraction'dır: ileti önce onu ve bu metinde işe yarayan değerleri söyler. 1e-20 gibi
    # bir değer gerçekçi hiçbir metinde işe yarar bir doğrulama parçası bırakmaz (en çok tek
    # bir kimlik): "daha uzun bir metin kullanın" demek
    # kullanıcıyı yanlış yere gönderirdi
    # Öğüt, çağıranın değiştirebildiği ayarları onun yazdığı biçimde söyler: bir örnek betikte
    # blok boyu `--block-size N` seçeneğidir ve val_fraction diye bir ayar yoktur
    # Metin karakterlerle bölündüyse (cut) parçaların belirteç sayıları val_fraction'la tam
    # orantılı değildir: belirteçlerle hesaplanan öneriler yaklaşıktır ve öyle söylenir
    about = "" if cut is None else "about "
    options = [_fraction_that_fits(n, need, val_fraction, about) if val_fraction_option
               else None]
    # Karakterlerle kesilen bir metin en az `least` belirteç tutup da bir kısmı kısa kalabilir
    # (BPE'de karakter başına belirteç sayısı metin boyunca değişir): ona "en az 2561
    # belirteçlik bir metin kullanın" demek, 8035 belirteçlik metni yanlış yere gönderirdi. Orada
    # kısa kalan kısma daha çok karakter veren val_fraction önerilir
    if least is not None and (cut is None or n < least):
        options.append(f"a text of at least {about}{least} tokens")
    elif least is not None and val_fraction_option:
        side = ("larger", "validation") if val.size < need else ("smaller", "training")
        options.append(f"a {side[0]} val_fraction than {val_fraction!r} (the {side[1]} part "
                       f"gets more of the characters)")
    elif options[0] is None and val_fraction_option:
        side = ("larger", "validation") if val_fraction < 0.5 else ("smaller", "training")
        options.append(f"a {side[0]} val_fraction than {val_fraction!r}, which leaves no room "
                       f"for the {side[1]} part in any text (with 0.1, a text of at least "
                       f"{about}{min_tokens(block_size, 0.1)} tokens)")
    if fit >= 1:
        options.append(f"{block_size_option.format(fit)} at most")
    options = [o for o in options if o is not None]
    hint = "; use " + (", ".join(options[:-1]) + " or " if len(options) > 1 else "") + \
        options[-1] if options else ""
    if n < need:
        raise ValueError(f"{source} has {n} tokens, shorter than block_size + 1 = {need}"
                         f"{hint}")
    # Karakterlerle kesilen bir metnin doğrulama kısmı, karakterlerin son val_fraction'lık
    # payıdır; belirteçlerdeki payı başka olabilir (BPE'de karakter başına düşen belirteç sayısı
    # metin boyunca değişir). İleti bu yüzden "%10'luk doğrulama kısmı" demez: payın neyin payı
    # olduğunu ve kısmın belirteçlerin ne kadarını tuttuğunu söyler. Kesim belirteçlerin tam
    # val_fraction'lık payına düşüyorsa eski ileti doğrudur ve değişmez
    if cut is None or split == split_point(n, val_fraction):
        parts = f"its {val_fraction * 100:g}% validation part has {val.size}"
    else:
        parts = (f"its validation part, the last {val_fraction * 100:g}% of its characters, has "
                 f"{val.size} token{'' if val.size == 1 else 's'} "
                 f"({_percent(val.size, n)}% of them)")
    raise ValueError(
        f"{source} has {n} tokens: {parts} and its training part {train.size}, but each needs "
        f"at least block_size + 1 = {need}{hint}")


def _percent(k: int, n: int) -> str:
    """k / n as a percentage with three significant digits, or more where three would round a
    share that is neither none nor all of n to 0 or 100 ("99.96", not "100"); never in
    scientific notation ("0.0000333", not "3.33e-05")."""
    # "%100" yalnızca bütün belirteçler o kısımdaysa, "%0" yalnızca hiçbiri değilse yazılır:
    # 9996/10 000 üç anlamlı basamakla 100'e yuvarlanır, ileti eğitim kısmındaki 4 belirteçle
    # çelişirdi. Basamak sayısı, yuvarlanan değer 0 ya da 100 olmayana dek artırılır
    if k in (0, n):
        return "0" if k == 0 else "100"
    share = k / n * 100
    for digits in range(3, 18):
        shown = np.format_float_positional(share, precision=digits, unique=False,
                                           fractional=False, trim="-")
        if 0.0 < float(shown) < 100.0:
            return shown
    return repr(share)


def _fraction_that_fits(n: int, need: int, val_fraction: float,
                        about: str = "") -> str | None:
    """'val_fraction between 0.00065 and 0.99935': the val_fractions (with few digits) at which
    split_ids gives both parts of n ids at least `need`, when the current one leaves a part
    short and others would not; None otherwise."""
    if n < 2 * need or _ok_split(n, need, val_fraction):
        return None                     # metin kısa (hiçbir val_fraction yetmez) ya da sorun yok

    def bound(low):
        # need/n'nin (bir parçanın en küçük payı) iki ya da daha çok anlamlı basamağa yukarı
        # yuvarlanmışı: alt sınır o pay, üst sınır 1 eksi o pay; işe yarayan en kısası
        x = need / n
        for digits in range(2, 18):
            scale = 10.0 ** (digits - 1 - math.floor(math.log10(x)))
            for up in (0, 1):           # (split_point'in yuvarlaması bir birim isteyebilir)
                share = float(f"{(math.ceil(x * scale) + up) / scale:.{digits}g}")
                nines = -math.floor(math.log10(share))      # 1 - 0.00065 = 0.99935
                f = share if low else float(f"{1.0 - share:.{digits + nines}g}")
                if _ok_split(n, need, f):
                    return f
        return None
    lo, hi = bound(True), bound(False)
    if lo is None or hi is None:
        return None
    return f"val_fraction={about}{lo!r}" if lo >= hi else \
        f"val_fraction between {about}{lo!r} and {hi!r}"


def _ok_split(n: int, need: int, val_fraction: float) -> bool:
    """Whether split_point gives both parts of n ids at least `need` ids."""
    s = split_point(n, val_fraction)
    return 0.0 < val_fraction < 1.0 and s >= need and n - s >= need


def min_tokens(block_size: int, val_fraction: float) -> int | None:
    """The fewest ids split_ids accepts for block_size and val_fraction: the smallest n whose
    training and validation parts (split_point) both hold block_size + 1 ids; None when no
    n does (val_fraction outside (0, 1))."""
    need = int(block_size) + 1
    f = float(val_fraction)
    if not 0.0 < f < 1.0 or need < 1:
        return None

    def ok(n):
        s = split_point(n, f)
        return s >= need and n - s >= need
    # İki parçanın boyu da n ile azalmadan büyür: en küçük n ikili aramayla bulunur
    hi = 2 * need
    while not ok(hi):
        hi *= 2
        if hi > 1 << 62:
            return None
    # ok(lo) yanlıştır: iki parça birlikte en az 2 * need kimlik ister
    lo = 2 * need - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


# Aynı tohumdan (seed) türeyen rastgele sayı akışları birbirinden bağımsız olmalıdır: ağırlıklar
# `default_rng(seed)` akışından çekilir (backend.host_rng). NumPy'ın SeedSequence'ı tohum
# listesinin sonundaki sıfırları yok sayar; bu yüzden `default_rng([seed, 0])` ile
# `default_rng(seed)` **aynı** bit akışını verir. Eğitim toplu işlerini [seed, 0] ile çekmek,
# pencere konumlarını ilk ağırlıkları üreten sayılarla aynı yapar (ölçülen etkisi:
# benchmarks/RESULTS.md, "baby" bölümü). Her akışa bu yüzden sıfır olmayan ayrı bir anahtar
# verilir:
STREAM_EVAL = {"train": 1, "val": 2}   # [seed, 1|2, step]: değerlendirme toplu işleri
STREAM_TRAIN = 3                       # [seed, 3]: eğitim toplu işleri
STREAM_DROPOUT = 4                     # [seed, 4, step]: dropout maskeleri (train.py)


class BatchSampler:
    """Draws (x, y) windows from TokenData with a seeded numpy Generator (state saved in ckpts)."""

    def __init__(self, data: TokenData, block_size: int, batch_size: int, seed: int = 0):
        # Python'dan yapılan yaygın yanlışlar burada, adlarıyla bildirilir: split_ids'in
        # TokenData'sı yerine kimlik dizisinin kendisi (AttributeError), int() ile sessizce
        # kesilen 2.7 gibi bir toplu iş boyu, 0 ya da negatif bir block_size (boş pencereler)
        if not (hasattr(data, "train") and hasattr(data, "val")):
            raise TypeError(f"BatchSampler(data, ...) expects the TokenData that "
                            f"split_ids(ids, block_size) returns, got {type(data).__name__}")
        if not (isinstance(data.train, np.ndarray) and isinstance(data.val, np.ndarray)):
            # Elle kurulmuş TokenData(train=[...], val=[...]): listeler diziye çevrilir
            data = TokenData(np.asarray(data.train), np.asarray(data.val),
                             getattr(data, "sha256", ""))
        for part in ("train", "val"):
            a = getattr(data, part)
            if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
                raise ValueError(f"data.{part} must be a 1-D array of integer token ids, got "
                                 f"{'shape ' + str(a.shape) if a.ndim != 1 else 'dtype ' + str(a.dtype)}")
        for name, v in (("block_size", block_size), ("batch_size", batch_size)):
            if not is_integer(v) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not is_integer(seed) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.data = data
        self.block_size = int(block_size)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.rng = np.random.default_rng([self.seed, STREAM_TRAIN])
        self._offsets = np.arange(self.block_size + 1)

    def _draw(self, ids: np.ndarray, rng: np.random.Generator, batch_size: int,
              part: str = "train") -> np.ndarray:
        if ids.size <= self.block_size:
            # Pencere (block_size + 1 kimlik) parçaya sığmıyor: NumPy'ın "high <= 0" hatası
            # yerine (ör. split_ids'e başka bir block_size verilmiş)
            raise ValueError(f"the {part} part has {ids.size} token ids, fewer than "
                             f"block_size + 1 = {self.block_size + 1}: split the ids with the "
                             f"same block_size (split_ids(ids, {self.block_size})) or use a "
                             f"smaller block_size")
        ix = rng.integers(0, ids.size - self.block_size, size=batch_size)
        # (B, T+1) pencere: x = [:, :-1], y = [:, 1:] (bir konum kaydırılmış)
        return np.asarray(ids[ix[:, None] + self._offsets], dtype=np.int64)

    def train_batch(self, batch_size: int | None = None) -> np.ndarray:
        """One (B, T+1) window array from the training split (x = w[:, :-1], y = w[:, 1:])."""
        if batch_size is None:
            batch_size = self.batch_size
        elif not is_integer(batch_size) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        return self._draw(self.data.train, self.rng, int(batch_size))

    def eval_batches(self, split: str, n_batches: int, step: int):
        """n (B, T+1) windows from 'train' or 'val', seeded by (seed, step): no effect on training."""
        if split not in STREAM_EVAL:
            raise ValueError(f"split must be one of {', '.join(STREAM_EVAL)}, got {split!r}"
                             f"{did_you_mean(split, STREAM_EVAL)}")
        ids = self.data.train if split == "train" else self.data.val
        rng = np.random.default_rng([self.seed, STREAM_EVAL[split], int(step)])
        for _ in range(n_batches):
            yield self._draw(ids, rng, self.batch_size, split)

    def get_state(self) -> dict:
        """The generator's state (a JSON-ready dict), as a checkpoint records it."""
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        """Restore a state get_state returned: the next batches are the ones it would draw."""
        self.rng.bit_generator.state = state
