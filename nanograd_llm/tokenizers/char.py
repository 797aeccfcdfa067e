"""
# Karakter düzeyinde belirteçleyici (tokenizer)

## Ne yapar?
Metni tek tek karakterlere böler ve her karaktere bir tam sayı kimlik (id) verir. Sözlük
(vocabulary), eğitim metninde geçen **farklı karakterlerin sıralı listesidir**; bir karakterin
kimliği bu listedeki sırasıdır. Örneğin sözlük `["\\n", " ", "a", "b"]` ise `"ab a"` metni
`[2, 3, 1, 2]` olur. Kod çözme (decode) bu eşlemenin tersidir.

## Neden NFC normalizasyonu?
Unicode'da aynı görünen bir harf iki farklı biçimde yazılabilir: `ş` tek bir kod noktası
(U+015F) olabileceği gibi `s` + birleştirici çengel (U+0073 U+0327) de olabilir. İkisi ekranda
aynıdır ama karakter düzeyinde farklı belirteçler olurlar. Bu yüzden hem sözlük kurulurken
hem kodlarken metin önce **NFC** (birleşik biçim) ile normalize edilir; Türkçe ç ğ ı İ ö ş ü
böylece her zaman tek bir belirteçtir.

## Bilinmeyen karakterler
Sözlükte olmayan bir karakterin kimliği yoktur. Varsayılan davranış (`errors="strict"`) açık
bir hata vermektir: sessizce yanlış bir şey üretmek, hatayı gizler. Sohbet gibi kullanıcı
girdisi alan yerler `errors="skip"` (karakteri atla) ya da `errors="replace"` (yerine
sözlükteki yedek karakteri koy: sırasıyla `?`, boşluk ya da U+FFFD'den sözlükte olan ilki;
hiçbiri yoksa karakter atlanır) seçebilir.

## Kayıt biçimi
`tokenizer.json` sözlüğü (karakter listesini) JSON olarak tutar; `tokenizer_meta.json`
belirteçleyicinin türünü (`{"type": "char"}`) söyler, böylece `load_tokenizer` klasörde hangi
sınıfın olduğunu bilir. İki dosya birlikte yazılır (`atomic.atomic_write_files`): önce ikisi de
geçici dosyalara yazılır, ancak ikisi de hazır olunca art arda yerine konur; yarım kalmış bir
yazma eski çifti bozmaz.
"""
from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_files, load_json, text_writer
from ..backend import did_you_mean

ERRORS = ("strict", "skip", "replace")
FORMAT = "nanograd_llm.char_tokenizer"


def _check_text(text) -> None:
    """TypeError for a text that is not a str (bytes read from a file opened in "rb")."""
    # unicodedata.normalize'ın "argument 2 must be str, not bytes" iletisi yerine
    if not isinstance(text, str):
        hint = " (decode it first: data.decode('utf-8'))" if isinstance(text, (bytes, bytearray)) \
            else ""
        raise TypeError(f"expected a str, got {type(text).__name__}{hint}")


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"{ch!r} (U+{ord(ch):04X}{' ' + name if name else ''})"


class CharTokenizer:
    """Maps each character of a fixed vocabulary to an integer id and back."""

    kind = "char"

    def __init__(self, chars):
        chars = list(chars)
        for c in chars:
            if not isinstance(c, str):
                raise TypeError(f"vocabulary entries must be strings, got {c!r}")
        chars = [unicodedata.normalize("NFC", c) for c in chars]
        if not chars:
            raise ValueError("a character tokenizer needs at least one character")
        for c in chars:
            if len(c) != 1:
                raise ValueError(f"vocabulary entries must be single characters, got {c!r}")
            # JSON'daki "\ud800" gibi tek başına kalmış bir vekil (surrogate), karakter değildir:
            # UTF-8'e çevrilemez, üretilen metin yazdırılırken komut yalnızca "'utf-8' codec
            # can't encode character" diyerek dururdu
            if "\ud800" <= c <= "\udfff":
                raise ValueError(f"vocabulary entries must be characters UTF-8 can encode, got "
                                 f"{c!r} (a lone surrogate)")
        if len(set(chars)) != len(chars):
            raise ValueError("vocabulary has duplicate characters")
        self.chars = list(chars)
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        # Yedek karakter: `errors="replace"` için
        self.replacement = next((c for c in ("?", " ", "\ufffd") if c in self.stoi), None)

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        """Build the vocabulary from every distinct character of `text` (after NFC)."""
        _check_text(text)
        text = unicodedata.normalize("NFC", text)
        if not text:
            raise ValueError("cannot build a character vocabulary from empty text")
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        """Number of ids: the vocabulary's distinct characters."""
        return len(self.chars)

    def encode(self, text: str, errors: str = "strict") -> list[int]:
        """Text (NFC-normalised first) -> list of ids.

        errors: what becomes of a character the vocabulary lacks: 'strict' (a ValueError
        naming it), 'skip' (dropped) or 'replace' (the id of '?', else of ' ', else of U+FFFD,
        whichever the vocabulary has first; dropped when it has none of them).
        """
        if errors not in ERRORS:
            raise ValueError(f"errors must be one of {', '.join(ERRORS)}, got {errors!r}"
                             f"{did_you_mean(errors, ERRORS)}")
        _check_text(text)
        original, text = text, unicodedata.normalize("NFC", text)
        stoi = self.stoi
        try:
            return [stoi[c] for c in text]          # hızlı yol: bütün karakterler biliniyor
        except KeyError:
            pass
        out = []
        for pos, c in enumerate(text):
            i = stoi.get(c)
            if i is not None:
                out.append(i)
            elif errors == "strict":
                where = f"position {pos}" + (
                    "" if text == original else " of the NFC-normalised text")
                raise ValueError(
                    f"character {_describe(c)} at {where} is not in the tokenizer's "
                    f"vocabulary ({self.vocab_size} characters); to drop or replace unknown "
                    f"characters use errors='skip' or errors='replace' (on the command line: "
                    f"--unknown skip or --unknown replace)")
            elif errors == "replace" and self.replacement is not None:
                out.append(stoi[self.replacement])
        return out

    def encode_array(self, text: str, dtype=None) -> np.ndarray:
        """Encode a (large) text into a compact NumPy array (uint16 when the vocab fits).
        `dtype`, when given, must be an integer type that holds every id."""
        dtype = np.dtype(dtype or (np.uint16 if self.vocab_size <= 65536 else np.uint32))
        # Kimliklere sığmayan bir tür (300 karakterlik sözlüğe uint8) NumPy 1.x'te sessizce başa
        # sarardı (300 → 44), NumPy 2'de OverflowError verir; kesirli bir tür modelin
        # reddedeceği kimlikler üretir. Yalnızca türe bakan O(1) bir denetim.
        if dtype.kind not in "iu" or np.iinfo(dtype).max < self.vocab_size - 1:
            raise ValueError(f"dtype {dtype} cannot hold the token ids 0 … "
                             f"{self.vocab_size - 1}: use an integer type such as uint16")
        # Karakter başına bir Python tam sayısı (28 bayt) ve bir sözlük araması yerine NumPy ile:
        # NFC metnin kod noktaları (UTF-32) bir arama tablosundan (kod noktası → kimlik) geçer.
        # Tabloda olmayan bir karakter -1 verir; o zaman metin `encode` ile yeniden kodlanır,
        # bilinmeyen karakterin hatası (konumuyla) oradan gelir. `encode`'u değiştiren bir alt
        # sınıfın (ör. metni küçük harfe çeviren) kimlikleri tablodan değil, kendi `encode`'undan
        # gelir: tablo onun yaptığını bilmez
        if type(self).encode is not CharTokenizer.encode:
            return np.fromiter(self.encode(text), dtype=dtype)
        _check_text(text)
        nfc = unicodedata.normalize("NFC", text)
        points = np.frombuffer(nfc.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        ids = self._lookup_table().take(points, mode="clip")
        if ids.size and ids.min() < 0:
            return np.fromiter(self.encode(text), dtype=dtype)
        return ids.astype(dtype)

    def _lookup_table(self) -> np.ndarray:
        """int32 table: code point -> id, -1 for code points outside the vocabulary (the last
        entry is -1, so `take(..., mode="clip")` maps every larger code point to it)."""
        lut = getattr(self, "_lut", None)
        if lut is None:
            points = np.array([ord(c) for c in self.stoi], dtype=np.int64)
            lut = np.full(int(points.max()) + 2, -1, dtype=np.int32)
            lut[points] = np.fromiter(self.stoi.values(), dtype=np.int32, count=len(points))
            self._lut = lut
        return lut

    def decode(self, ids) -> str:
        """Ids -> text; an id outside the vocabulary is an error."""
        chars, n = self.chars, len(self.chars)
        ids = np.asarray(ids)
        if ids.ndim > 1:
            # (B, T) bir toplu iş düzleştirilseydi satırlar arada ayraç olmadan birleşirdi
            raise ValueError(f"decode takes one sequence of token ids, got an array of shape "
                             f"{ids.shape}: decode each row of a batch separately")
        out = []
        for i in ids.reshape(-1).tolist():
            if type(i) is not int:
                raise ValueError(f"token id must be an integer, got {i!r}")
            if not 0 <= i < n:
                raise ValueError(f"token id {i} is outside the vocabulary [0, {n})")
            out.append(chars[i])
        return "".join(out)

    # -- persistence ---------------------------------------------------------------------
    def file_texts(self) -> dict[str, str]:
        """The files `save` writes: file name -> text (a checkpoint records their sha256)."""
        return {
            "tokenizer.json": json.dumps({"format": FORMAT, "version": 1, "chars": self.chars},
                                         ensure_ascii=False),
            "tokenizer_meta.json": json.dumps({"type": "char"}),
        }

    def save(self, directory) -> None:
        """Write tokenizer.json and tokenizer_meta.json as one unit (atomic_write_files)."""
        atomic_write_files(directory, {name: text_writer(text)
                                       for name, text in self.file_texts().items()})

    @classmethod
    def load(cls, directory) -> "CharTokenizer":
        """Read the tokenizer.json that `save` wrote in `directory`."""
        path = Path(directory) / "tokenizer.json"
        if not path.is_file():
            raise FileNotFoundError(f"no tokenizer file: {path}")
        try:
            data = load_json(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path} is not a valid tokenizer file ({e})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT \
                or not isinstance(data.get("chars"), list):
            raise ValueError(f"{path} is not a nanograd_llm character tokenizer file")
        # Elle düzenlenmiş ya da bozuk bir dosya: dize olmayan bir girdi, NFC
        # normalizasyonunun anlaşılmaz bir TypeError'ı yerine dosyanın adıyla bildirilir
        for i, c in enumerate(data["chars"]):
            if not isinstance(c, str):
                raise ValueError(f"{path}: 'chars' must be a list of single characters, but "
                                 f"entry {i} is {c!r} ({type(c).__name__})")
        try:
            return cls(data["chars"])
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}: {e}") from None

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"
