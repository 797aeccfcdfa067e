"""
# Sohbet döngüsü: satır satır istem, akış hâlinde yanıt

## Ne yapar?
Kullanıcı bir satır yazar; satır belirteçlere çevrilir, önceki konuşmanın (bağlamın) sonuna
eklenir ve model bu bağlamın devamını üretir. Üretilen her belirteç, üretildiği anda metne
çevrilip ekrana yazılır (akış / streaming). Yanıt, ekrandaki gibi bir satır sonuyla, bir
sonraki satır için bağlama eklenir; böylece model konuşmanın önceki kısmını "hatırlar".

Bir dil modeli gerçekte bir sohbet botu değildir: yalnızca metnin devamını tahmin eder. Karakter
düzeyinde Shakespeare ile eğitilmiş bir model, yazdığınız satırı bir oyunun replik satırı gibi
sürdürür. Döngü bu yüzden genel tutulmuştur: "yanıt", istemin devamıdır; `stop` verilirse
(örneğin `"\\n\\n"`), bu metin üretildiği anda yanıt kesilir; bağlama gösterilen yanıt ve
durdurma metni eklenir, durdurma metninden sonra üretilen (kullanıcının görmediği) metin
eklenmez.

## Sağlamlık
* **Bilinmeyen karakterler:** Karakter düzeyindeki belirteçleyicinin sözlüğü yalnızca eğitim
  metninde görülen karakterleri içerir; örneğin İngilizce metinle eğitilmiş bir model `ğ` ya da
  bir emoji bilmez. Bu karakterler atlanır (`unknown="skip"`) ya da sözlükte varsa `?` (yoksa
  boşluk) ile değiştirilir (`unknown="replace"`); kullanıcıya hangi karakterlerin atlandığı ya
  da değiştirildiği **söylenir**, döngü asla çökmez.
* **Bağlam sınırı:** Model en fazla `block_size` belirteç görür. Konuşma geçmişinin yalnızca
  son `block_size` belirteci saklanır (bigramda, yalnızca son belirteci gördüğü için, son
  belirteç); yanıt bu sınırı aşarsa `generate` pencereyi kaydırır.
* **Çıkış:** Dosya sonu (Ctrl-D; borudan gelen girdinin bitmesi) ya da Ctrl-C
  (KeyboardInterrupt) döngüyü temiz biçimde bitirir: çıkış kodu 0, hata izi (traceback) yok.
  `/quit` de çıkar, `/reset` bağlamı temizler, `/help` komutları listeler. Eğik çizgi ve bir
  harfle başlayan başka bir satır (`/temperature 0` gibi) modele gönderilmez, bilinmeyen komut
  olarak bildirilir; ardından sözcük gelen bir komut (`/quit şimdi`) da gönderilmez, komutun
  tek başına yazılması istenir. Eğik çizgiyle başlayan bir metni göndermek için satır `//` ile
  başlatılır (`//etc` modele `/etc` olarak gider). Dışarıdan gelen SIGTERM (`kill`) ise sohbeti
  başarı bildirmeden bitirir: `nanograd-llm chat` 143 ile çıkar. Yanıtları okuyan taraf erken
  giderse (`nanograd-llm chat ... | head -1`) komut, öteki komutlar gibi, sessizce 141 ile
  çıkar.
* **Borudan gelen girdi:** Girdi bir uçbirim değilse (bir boru ya da dosya), istem satırdan
  önce yazılmaz; okunan satır bir konuşma dökümündeki gibi istemiyle yinelenir (`> merhaba`),
  ardından yanıtı (ya da `/reset`, `/help` gibi bir komutun çıktısı) gelir. Boş satırlar,
  `/quit` ve girdinin sonu çıktıya bir şey eklemez: çıktı son satırın yanıtıyla ya da
  komutun çıktısıyla biter.
"""
from __future__ import annotations

import functools
import inspect
import re
import sys
import unicodedata
from typing import Callable

import numpy as np

from .backend import did_you_mean, shown_items
from .generate import TextStreamer, check_sampling_args, check_seed, iter_generate
from .tokenizers import end_id

UNKNOWN_MODES = ("skip", "replace")
HELP = ("Type a line and press Enter. /reset clears the context, /help shows this line, "
        "/quit, Ctrl-D or Ctrl-C quits; start a line with // to send text that begins with /.")
COMMANDS = ("/help", "/reset", "/quit", "/exit")
# Windows konsolunda dosya sonu Ctrl-D değil, Ctrl-Z ve ardından Enter'dır (Ctrl-D, input()'a
# yalnızca bir "\x04" karakteri yazar)
HELP_WINDOWS = HELP.replace("Ctrl-D", "Ctrl-Z Enter")


def help_line() -> str:
    """The banner of an interactive chat, with this platform's end-of-input key."""
    return HELP_WINDOWS if sys.platform == "win32" else HELP


class _Encoder:
    """Encodes text with any tokenizer, removing (or replacing) characters it cannot encode.

    A character is unknown when the tokenizer raises for it (asked with errors="strict" when
    it takes that option) or encodes it to nothing. Results are cached per character.
    """

    def __init__(self, tokenizer, unknown: str = "skip"):
        if unknown not in UNKNOWN_MODES:
            raise ValueError(f"unknown must be one of {', '.join(UNKNOWN_MODES)}, got "
                             f"{unknown!r}{did_you_mean(unknown, UNKNOWN_MODES)}")
        self.tok = tokenizer
        self.unknown = unknown
        self._known: dict[str, bool] = {}
        self._replacement = None
        if unknown == "replace":
            self._replacement = next((c for c in "? " if self.known(c)), None)

    def _encode_strict(self, text: str):
        # Kullanıcının yazdığı metin metindir: "<|endoftext|>" yazmak özel belirteci sokmasın
        # (allowed_special="none"); bilinmeyen karakterde hata istenir (errors="strict")
        return self.tok.encode(text, **self._options)

    @functools.cached_property
    def _options(self) -> dict:
        try:
            params = inspect.signature(self.tok.encode).parameters
        except (TypeError, ValueError):
            return {}
        return {k: v for k, v in (("errors", "strict"), ("allowed_special", "none"))
                if k in params}

    def known(self, ch: str) -> bool:
        ok = self._known.get(ch)
        if ok is None:
            stoi = getattr(self.tok, "stoi", None)
            if isinstance(stoi, dict):
                ok = ch in stoi
            else:
                try:
                    ok = len(self._encode_strict(ch)) > 0
                except (KeyError, ValueError, IndexError, UnicodeError):
                    ok = False
            self._known[ch] = ok
        return ok

    def __call__(self, text: str) -> tuple[list[int], list[str]]:
        """(ids, unknown characters in order of first appearance)."""
        if isinstance(getattr(self.tok, "stoi", None), dict):
            # Karakter belirteçleyicisi, sözlüğü NFC biçiminde tutar (ş = tek karakter)
            text = unicodedata.normalize("NFC", text)
        kept, dropped = [], []
        for ch in text:
            if self.known(ch):
                kept.append(ch)
            else:
                if ch not in dropped:
                    dropped.append(ch)
                if self._replacement is not None:
                    kept.append(self._replacement)
        clean = "".join(kept)
        ids = [int(i) for i in self._encode_strict(clean)] if clean else []
        return ids, dropped


def _show_char(c: str) -> str:
    # UTF-8 olmayan bir girdi baytı (surrogateescape ile U+DC80…U+DCFF'e dönüşür) bayt olarak
    # gösterilir; kullanıcı '\udcff' değil "0xff baytı" görmeli
    if "\udc80" <= c <= "\udcff":
        return f"byte 0x{ord(c) - 0xDC00:02x} (not UTF-8)"
    return repr(c)


def show_chars(chars: list[str]) -> str:
    """The first 20 characters for a message: repr, or 'byte 0xff (not UTF-8)' for a byte that
    was not UTF-8."""
    return shown_items(map(_show_char, chars), 20, " ")


def describe_dropped(dropped: list[str], mode: str, replacement: str | None) -> str:
    chars = show_chars(dropped)
    if mode == "replace" and replacement is not None:
        what = f"replaced with {replacement!r}"
    else:
        what = "skipped"
    n = len(dropped)
    return (f"(note: {n} character{'s' if n != 1 else ''} the model does not know "
            f"{'were' if n != 1 else 'was'} {what}: {chars})")


def _shown_text(text: str) -> str:
    """shown(text) for a message, a byte that was not UTF-8 (U+DC80…U+DCFF, as
    surrogateescape reads it) written as the byte it was (\\xff), not as Python's \\udcff."""
    from .backend import shown
    # Komut satırındaki UTF-8 olmayan bir bayt, Python'da bir vekil karakterdir: iletide
    # kullanıcının hiç yazmadığı '\udcff' değil, yazdığı bayt ('\xff') görünür (show_chars'ın
    # "byte 0xff" demesi gibi). repr'deki bir \udc.. kaçışının önünde çift sayıda (ya da hiç)
    # ters eğik çizgi varsa o bir vekildir; tek sayıda varsa metne yazılmış bir ters eğik
    # çizgi ve ardından gelen "udc.." harfleridir, olduğu gibi kalır
    return re.sub(r"(?<!\\)((?:\\\\)*)\\udc([89a-f][0-9a-f])", r"\1\\x\2", shown(text))


def check_stop(stop: str | None, tokenizer=None, name: str = "stop") -> str | None:
    """The stop text a reply ends at, checked: None (no stop text), or a non-empty string
    whose every character the tokenizer knows (with `tokenizer`; a character tokenizer's
    text in NFC, as its vocabulary). `name` names it in the errors (--stop on the command
    line)."""
    from .backend import shown
    if stop is None:
        return None
    if not isinstance(stop, str):
        raise ValueError(f"{name} must be a string, got {shown(stop)}")
    if not stop:
        # Boş metin her yerde bulunur: yanıtı daha ilk belirteçte keserdi. Eskiden sessizce
        # "durdurma metni yok" sayılırdı; verilen bir seçeneğin hiçbir şey yapmaması bir
        # yanlışı gizler
        flag = name.startswith("--")
        raise ValueError(f"{name} is empty: give the text a reply ends at (e.g. "
                         f"{name + ' ' if flag else ''}'\\n\\n'), or "
                         + (f"leave {name} out (a reply then ends after --max-new-tokens tokens)"
                            if flag else "None (a reply then ends after max_new_tokens tokens)"))
    if tokenizer is None:
        return stop
    if isinstance(getattr(tokenizer, "stoi", None), dict):
        # Karakter belirteçleyicisinin sözlüğü NFC'dir, modelin yazdığı metin de: NFD yazılmış
        # bir "ş" (s + birleşen çengel) o metinde hiç bulunmazdı
        stop = unicodedata.normalize("NFC", stop)
    _, unknown = _Encoder(tokenizer, "skip")(stop)
    if unknown:
        # Belirteçleyicinin bilmediği bir karakteri model hiç yazamaz: böyle bir durdurma
        # metni hiçbir yanıtı kesmez, seçenek sessizce hiçbir şey yapmazdı
        raise ValueError(f"{name} {_shown_text(stop)} has character(s) the tokenizer does not "
                         f"know ({show_chars(unknown)}): the model never writes them, so no "
                         f"reply would stop there")
    return stop


class _StopFilter:
    """Passes text through, except that it cuts at the first occurrence of `stop` (holding
    back a tail that could be the start of `stop`)."""

    def __init__(self, stop: str | None, write: Callable[[str], object]):
        self.stop = stop or None
        self._write = write
        self.buf = ""
        self.done = False
        self._pieces: list[str] = []   # geçirilen (kullanıcıya gösterilen) parçalar

    @property
    def text(self) -> str:
        """All text passed through so far (what the user was shown)."""
        return "".join(self._pieces)

    def write(self, piece: str) -> None:
        self._pieces.append(piece)
        self._write(piece)

    def __call__(self, piece: str) -> None:
        if self.done:
            return
        if self.stop is None:
            self.write(piece)
            return
        self.buf += piece
        i = self.buf.find(self.stop)
        if i >= 0:
            self.write(self.buf[:i])
            self.buf = ""
            self.done = True
            return
        keep = 0
        for k in range(min(len(self.stop) - 1, len(self.buf)), 0, -1):
            if self.buf.endswith(self.stop[:k]):
                keep = k
                break
        out, self.buf = self.buf[:len(self.buf) - keep], self.buf[len(self.buf) - keep:]
        if out:
            self.write(out)

    def flush(self) -> None:
        if not self.done and self.buf:
            self.write(self.buf)
        self.buf = ""


def _kept_ids(ids: list[int], text: str, decode: Callable, encode: Callable) -> list[int]:
    """Ids whose text is `text`: the longest head of `ids` whose text begins `text`, followed by
    encode(the rest of `text`)."""
    for j in range(len(ids), -1, -1):
        try:
            head = decode(ids[:j]) if j else ""
        except UnicodeDecodeError:       # katı bir çözücü yarım karakterde hata verir
            continue
        if text.startswith(head):
            rest = text[len(head):]
            return ids[:j] + (encode(rest) if rest else [])
    return encode(text)


def _ends_a_line(decode: Callable, ids: list[int]) -> bool:
    """Whether the text of `ids` ends with a line break (False when it ends inside a character
    that a strict decoder refuses)."""
    try:
        return decode(ids).endswith("\n")
    except UnicodeDecodeError:       # katı bir çözücü yarım karakterde hata verir
        return False


def _is_terminal(stream) -> bool:
    """Whether a text stream reads from a terminal (False where it cannot tell)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False


def chat_loop(model, tokenizer, input_stream=None, output_stream=None, *,
              max_new_tokens: int = 200, temperature: float = 0.8, top_k=None, top_p=None,
              seed=None, use_cache: bool = True, stop: str | None = None,
              unknown: str = "skip", prompt: str = "> ", banner: bool = True) -> int:
    """Read lines from input_stream (None: the terminal, via input()), answer each with a
    generated continuation streamed to output_stream (None: sys.stdout). Returns 0 on EOF,
    /quit or Ctrl-C. The context (previous lines and replies) is kept to block_size tokens (the
    model's context_window, 1 for a bigram, where it has no block_size).
    From a stream that is not a terminal (a pipe, a file) no prompt waits for the line: each
    line answered is echoed after it is read, as a transcript ("> hello\n", then the reply).
    A reader that closed output_stream (`| head`) raises BrokenPipeError to the caller; the
    command line turns it into exit status 141, as for every other command."""
    check_sampling_args(max_new_tokens, temperature, top_k, top_p)
    # Tohum, generate()'teki gibi denetlenir: her turun tohumu ondan türetilir ve yalnızca o
    # türetilmiş tohum iter_generate'te denetlenirdi; seed=-1 NumPy'ın içinden "expected
    # non-negative integer", seed=1.5 ya da "3" bir TypeError ile düşerdi, seed=True ise
    # (generate'in reddettiği) sessizce 1 sayılırdı
    check_seed(seed)
    stop = check_stop(stop, tokenizer)
    out = sys.stdout if output_stream is None else output_stream
    encode = _Encoder(tokenizer, unknown)
    # Modelin gördüğü en uzun pencere (generate'teki gibi): GPT'de block_size; bigram yalnızca
    # son belirteci görür (block_size = None, context_window = 1). Yalnızca block_size'a
    # bakılsaydı bigramla sohbetin geçmişi her turda büyür, hiç kırpılmazdı: uzun bir
    # oturumda bellek ve her turun istem denetimi (bütün geçmiş) sınırsızca artardı
    block = getattr(model, "block_size", None)
    if block is None:
        block = getattr(model, "context_window", None)
    seeds = np.random.default_rng(seed) if seed is not None else None
    history: list[int] = []
    end = end_id(tokenizer)
    # Borudan ya da dosyadan okunan satırı kimse yazarken görmez: satırdan önce yazılan istem
    # "/quit"ten ve girdinin sonundan sonra çıktının sonunda boşta kalırdı, yanıt da istemin
    # ardından kullanıcının satırı gibi görünürdü. Bu yüzden satır okunduktan sonra istemiyle
    # birlikte yinelenir (bir konuşma dökümü gibi); uçbirimde ise istem satırdan önce gelir
    transcript = input_stream is not None and not _is_terminal(input_stream)

    def write(s: str) -> None:
        out.write(s)
        out.flush()

    def read_line():
        # None: dosya sonu (Ctrl-D ya da borunun bitmesi)
        if input_stream is None:
            try:
                return input(prompt) + "\n"
            except EOFError:
                return None
        if not transcript:
            write(prompt)
        line = input_stream.readline()
        return line if line else None

    try:
        if banner:
            write(help_line() + "\n")
        while True:
            line = read_line()
            if line is None:
                if not transcript:
                    write("\n")                   # the prompt's line is left open
                return 0
            text = line.rstrip("\r\n")
            command = text.strip()
            if not command:
                continue
            if command in ("/quit", "/exit"):
                return 0
            if transcript:
                write(f"{prompt}{text}\n")
            if command == "/reset":
                history = []
                write("(context cleared)\n")
                continue
            if command == "/help":
                write(help_line() + "\n")
                continue
            # Eğik çizgi ve harfle başlayan başka bir satır (`/help`'i bilmeyen birinin
            # `/temperature 0`'ı gibi) bir komut denemesidir: modele metin olarak gönderilseydi
            # kullanıcı yalnızca anlamsız bir yanıt görürdü. `//` ile başlayan satır ise eğik
            # çizgiyle başlayan bir metindir: baştaki iki çizgiden biri atılır
            first = command.split()[0]
            if first in COMMANDS:
                # `/help me`, `/quit now`: komut bilinir, ardındaki sözcükler fazladır. "Bilinmeyen
                # komut /quit" demek kullanıcıyı yanıltırdı
                write(f"({first} takes nothing after it: type {first} alone)\n")
                continue
            if first[:1] == "/" and first[1:2].isalpha():
                write(f"(unknown command {first}: the commands are "
                      f"{', '.join(COMMANDS[:3])}{did_you_mean(first, COMMANDS)}; start a line "
                      f"with // to send text that begins with /)\n")
                continue
            if text.lstrip().startswith("//"):
                text = text.replace("/", "", 1)
            ids, dropped = encode(text)
            if dropped:
                write(describe_dropped(dropped, unknown, encode._replacement) + "\n")
            if not ids:
                write("(nothing left to send)\n")
                continue
            if encode.known("\n"):
                ids += encode("\n")[0]               # satır sonu (sözlükte varsa)
            context = history + ids
            if block is not None:
                context = context[-block:]            # bağlam en fazla block_size belirteç
            turn_seed = None if seeds is None else int(seeds.integers(2**63))
            shown = _StopFilter(stop, write)
            streamer = TextStreamer(tokenizer.decode, shown)
            new_ids: list[int] = []
            steps = iter_generate(model, context, max_new_tokens, temperature, top_k, top_p,
                                  turn_seed, use_cache,
                                  vocab_limit=getattr(tokenizer, "vocab_size", None))
            try:
                for nxt in steps:
                    if end is not None and int(nxt[0]) == end:
                        break                         # metin sonu: yanıt bitti
                    new_ids.append(int(nxt[0]))
                    streamer(nxt[0])
                    if shown.done:
                        break                         # durdurma metni üretildi
            finally:
                steps.close()                         # üretimi bitirir, önbelleğini bırakır
            streamer.flush()
            shown.flush()
            write("\n")
            if shown.done:
                # Durdurma metnini tamamlayan belirteç ondan sonra da metin taşıyabilir (BPE:
                # `--stop '\n'` ile "\n\n", `--stop '!'` ile "!!!" belirteci). Kullanıcı yanıtı
                # durdurma metninde kesilmiş gördü; bağlamda da görmediği bir metin kalmamalı:
                # sonraki tur, gösterilen yanıtı görür. Durdurma metninin kendisi ise tutulur:
                # onu model üretti, kullanıcı da yanıtların sonu olarak kendisi seçti (gizli bir
                # metin değildir). `--stop '\n\n'` ile konuşma böylece modelin eğitim metnindeki
                # biçimde sürer ("…yanıt\n\nmerhaba", paragraflar arasındaki boş satır gibi).
                # Durdurma metnini tamamlayan belirteçten önceki belirteçler modelin ürettiği
                # gibi kalır; o belirtecin metninden tutulan baş yeniden belirteçlere çevrilir
                new_ids = _kept_ids(new_ids, shown.text + stop, tokenizer.decode,
                                    lambda t: encode(t)[0])
            # Yanıttan sonra ekrana bir satır sonu yazıldı ve kullanıcının sonraki satırı yeni
            # bir satırda başlar. Yanıt satır sonuyla bitmediyse (`max_new_tokens` sınırına
            # ulaşıldı, metin sonu geldi ya da durdurma metni satır sonuyla bitmiyor) model de
            # öyle görmeli: yoksa sonraki satır yanıta yapışırdı ("…yanıtmerhaba"), ekranda
            # görülen bu değildir
            if new_ids and encode.known("\n") and not _ends_a_line(tokenizer.decode, new_ids):
                new_ids += encode("\n")[0]
            history = context + new_ids
            if block is not None:
                history = history[-block:]
    except KeyboardInterrupt as e:
        try:
            write("\n")
        except (OSError, ValueError):
            pass
        if getattr(e, "exit_status", 130) != 130:
            # Ctrl-C, sohbetten çıkmanın olağan yoludur (0). SIGTERM (cli.Terminated) ise
            # süreci dışarıdan durdurur: komut 143 ile çıkar, başarı bildirmez
            raise
        return 0
