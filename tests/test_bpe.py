"""Tests for the byte-level BPE tokenizer (nanograd_llm/tokenizers/bpe.py).

Fast and self-contained: the training texts are generated here, no shared corpus needed."""
from __future__ import annotations

import functools
import json
import os
import random
import subprocess
import sys
import unicodedata
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from nanograd_llm.tokenizers.bpe import (GPT2_PATTERN, PATTERNS, TURKISH_PATTERN, BPETokenizer,
                                         _compile, bytes_to_unicode)

EOT = "<|endoftext|>"

_STEMS = ["ev", "göz", "kitap", "çocuk", "ağaç", "şehir", "ışık", "İstanbul", "öğretmen",
          "güneş", "yol", "kalp", "deniz", "söz", "iş", "gel", "git", "oku", "yaz", "sev"]
_SUFFIXES = ["ler", "lar", "im", "imiz", "iniz", "den", "dan", "de", "da", "e", "a", "in",
             "ın", "ün", "sız", "siz", "lik", "lık", "ci", "çi", "mek", "mak", "yor", "acak",
             "ecek", "miş", "mış", "dı", "di", "ken", "ki", "le", "la"]
_ENGLISH = ["The quick brown fox jumps over the lazy dog.", "It's what they've said: we'll see.",
            "Numbers like 1234 and 3.14159 appear too!", "I'm sure you'd agree, wouldn't you?",
            "Shakespeare wrote: To be, or not to be, that is the question."]
_EMOJI = ["🙂", "🚀", "👩‍💻", "🇹🇷", "❤️", "😀😀"]
# Tekrarlanan harfler (`aa`, `ööö`, `!!!`): üst üste binen çiftlerde hangi birleştirmenin önce
# uygulandığı (soldaki) sınanabilsin diye.
_REPEATS = ["Hmmm", "Hmmmmm", "Evettt", "aaaa", "aaaaaaa", "ööööö", "!!!", "...", "zzzzz", "???!!"]

# Karşılaştırma metinleri: İngilizce, Türkçe (ç ğ ı İ ö ş ü, uzun ek zincirleri), emoji,
# boşluk/satır sonu çeşitleri, sayılar, kısaltmalar ve özel belirteç.
TEST_TEXTS = [
    "Hello world! It's a test, isn't it? We'll see what they've done.",
    "Çekoslovakyalılaştıramadıklarımızdan mısınız? Evlerimizden çıkamıyorduk.",
    "İstanbul'da ığdır, ÇĞIİÖŞÜ çğıiöşü, gidemeyeceklermiş, öğretmenlerimizle.",
    "Emoji: 🙂🚀 👩‍💻 🇹🇷 ❤️ and 😀😀😀!",
    "  leading spaces, trailing spaces   \n\n\ttabs\tand\r\nCRLF lines  \n",
    "numbers 1234567890 3.14 1,000,000 and mixed a1b2c3",
    "first document<|endoftext|>second document",
    "中文字符 and العربية and русский текст with Ελληνικά",
    "",
    " ",
    "\x00\x01 control \x7f characters \u200b zero width",
    "Hmmmm aaa aaaaa aaaaaaaaa ööö öööö!!!! .... zzz zzzzzz Evetttt???!!",
]


def make_corpus(seed: int = 0, n_sentences: int = 400) -> str:
    """A deterministic Turkish/English/emoji training text (about 25 kB)."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n_sentences):
        words = []
        for _ in range(rng.randint(3, 9)):
            w = rng.choice(_STEMS) + "".join(rng.choice(_SUFFIXES) for _ in range(rng.randint(0, 4)))
            words.append(w)
        if rng.random() < 0.3:
            words.append(rng.choice(_EMOJI))
        if rng.random() < 0.3:
            words.append(rng.choice(_REPEATS))
        line = " ".join(words).capitalize() + rng.choice([".", "!", "?", ","])
        if rng.random() < 0.3:
            line += " " + rng.choice(_ENGLISH)
        lines.append(line)
    return "\n".join(lines) + "\n"


@functools.lru_cache(maxsize=None)
def trained(vocab_size: int = 600) -> BPETokenizer:
    return BPETokenizer.train(make_corpus(), vocab_size)


# ----------------------------------------------------------------------------- basics
def test_train_reaches_vocab_size_and_layout():
    tok = trained()
    assert tok.vocab_size == 600
    assert tok.special_tokens == {EOT: 599}
    # 256 bayt belirteci GPT-2 sırasıyla başta: '!' 0, 'Ġ' (boşluk) 220
    assert tok.id_to_token(0) == "!"
    assert tok.token_to_id("Ġ") == 220 and tok.token_bytes(220) == b" "
    assert len(tok.merges) >= 600 - 256 - 1
    # Türkçe ekler öğrenilmiş olmalı: 'ler' tek belirteç
    assert tok.token_to_id("ler") >= 256
    # yeni (eğitimde görülmemiş) ama benzer metinde bayt başına belirteç sayısı belirgin düşer
    held_out = make_corpus(seed=9, n_sentences=20)
    assert len(tok.encode(held_out)) < len(held_out.encode("utf-8")) / 2.5


def test_bytes_to_unicode_is_gpt2s_mapping():
    m = bytes_to_unicode()
    assert len(m) == 256 and len(set(m.values())) == 256
    assert m[ord(" ")] == "Ġ" and m[ord("\n")] == "Ċ" and m[ord("a")] == "a"
    assert list(m)[:3] == [ord("!"), ord('"'), ord("#")]


@pytest.mark.parametrize("text", TEST_TEXTS)
def test_round_trip_examples(text):
    tok = trained()
    assert tok.decode(tok.encode(text)) == text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())          # st.text() never draws surrogates
def test_round_trip_any_unicode(text):
    tok = trained()
    ids = tok.encode(text)
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == text


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x7FF)))
def test_round_trip_special_disabled(text):
    tok = trained()
    assert tok.decode(tok.encode(text, allowed_special="none")) == text


@pytest.mark.parametrize("text", ["\ud800", "abc\udfffdef", "ok 🙂 \udc80"])
def test_lone_surrogates_are_rejected_clearly(text):
    tok = trained()
    with pytest.raises(ValueError, match=r"U\+D[89A-F][0-9A-F]{2} at index \d+ is a lone surrogate"):
        tok.encode(text)
    with pytest.raises(ValueError, match="lone surrogate"):
        BPETokenizer.train("abc " + text, 300)


@settings(max_examples=50, deadline=None)
@given(st.text(), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), st.text())
def test_any_lone_surrogate_raises_value_error(left, sur, right):
    with pytest.raises(ValueError, match="surrogate"):
        trained().encode(left + sur + right)


def test_decode_takes_integer_ids_only():
    tok = trained(300)
    assert tok.decode(np.array([72, 73])) == tok.decode([72, 73])
    assert tok.id_to_token(np.int64(72)) == tok.id_to_token(72)
    for bad in ([72.9], [True], ["x"]):            # int(72.9) would silently be 72
        with pytest.raises(ValueError, match="must be an integer"):
            tok.decode(bad)


def test_decode_invalid_utf8_uses_replacement_character():
    tok = trained()
    first_byte_of_s_cedilla = tok.token_to_id(bytes_to_unicode()["ş".encode()[0]])
    a = tok.token_to_id("a")
    assert tok.decode([a, first_byte_of_s_cedilla, a]) == "a\ufffda"


def test_invalid_ids_raise():
    tok = trained()
    for bad in ([tok.vocab_size], [-1], ["x"]):
        with pytest.raises(ValueError):
            tok.decode(bad)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.token_to_id("definitely-not-a-token-xyz")


def test_special_tokens_single_ids_and_round_trip():
    tok = BPETokenizer.train(make_corpus(), 400, special_tokens=(EOT, "<|user|>"))
    eot, user = tok.token_to_id(EOT), tok.token_to_id("<|user|>")
    assert (eot, user) == (398, 399)
    text = "<|user|>Merhaba!<|endoftext|><|endoftext|>evlerimizden<|user|>"
    ids = tok.encode(text)
    assert ids.count(eot) == 2 and ids.count(user) == 2
    assert ids[0] == user and ids[-1] == user
    assert tok.decode(ids) == text
    plain = tok.encode(text, allowed_special="none")
    assert eot not in plain and user not in plain
    assert tok.decode(plain) == text
    only_eot = tok.encode(text, allowed_special={EOT})
    assert only_eot.count(eot) == 2 and user not in only_eot
    assert tok.decode(only_eot) == text
    with pytest.raises(ValueError, match="not special tokens"):
        tok.encode(text, allowed_special={"<|nope|>"})
    with pytest.raises(ValueError):
        tok.encode(text, allowed_special="some")


def test_training_arguments_are_checked():
    with pytest.raises(ValueError, match=r"at least 257 \(256 byte tokens \+ 1 special token\)"):
        BPETokenizer.train("abc", 256)
    with pytest.raises(ValueError, match="integer"):
        BPETokenizer.train("abc", 300.0)
    with pytest.warns(RuntimeWarning, match="ran out of pairs"):
        tok = BPETokenizer.train("abab", 1000)
    assert tok.vocab_size < 1000 and tok.decode(tok.encode("abab ba")) == "abab ba"


# ----------------------------------------------------------------------------- training
def naive_train(text: str, vocab_size: int, specials=(EOT,)):
    """Reference BPE: recount every pair over the whole corpus after every merge."""
    import re

    import regex
    m = bytes_to_unicode()
    order = list(m)
    byte_id = {b: i for i, b in enumerate(order)}
    id_to_bytes = [bytes([b]) for b in order]
    chunks = re.split("|".join(map(re.escape, specials)), text) if specials else [text]
    freq = {}
    for c in chunks:
        for w in regex.findall(GPT2_PATTERN, c):
            freq[w] = freq.get(w, 0) + 1
    words = {tuple(byte_id[b] for b in w.encode()): f for w, f in freq.items()}
    merges = []
    while len(id_to_bytes) < vocab_size - len(specials):
        counts = {}
        for w, f in words.items():
            for p in zip(w, w[1:]):
                counts[p] = counts.get(p, 0) + f
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))   # most frequent, then smallest ids
        new_b = id_to_bytes[best[0]] + id_to_bytes[best[1]]
        new = id_to_bytes.index(new_b) if new_b in id_to_bytes else len(id_to_bytes)
        if new == len(id_to_bytes):
            id_to_bytes.append(new_b)
        merges.append(best)
        nwords = {}
        for w, f in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(new)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            nwords[tuple(out)] = nwords.get(tuple(out), 0) + f
        words = nwords
    return merges, id_to_bytes


def test_incremental_training_matches_naive_recount():
    text = make_corpus(seed=1, n_sentences=60) + "aaaa aaaaa abcabc bcbc abab<|endoftext|>ab"
    tok = BPETokenizer.train(text, 420)
    merges, id_to_bytes = naive_train(text, 420)
    assert tok._merges == merges
    assert tok._id_to_bytes == id_to_bytes
    assert len(merges) > 150


def test_training_is_fast_enough_for_small_corpus():
    import time
    text = make_corpus(seed=2, n_sentences=1200)     # ~75 kB
    t0 = time.process_time()          # CPU time: robust to other jobs on the machine
    tok = BPETokenizer.train(text, 1200)
    assert tok.vocab_size == 1200
    # artımlı güncelleme ~1-2 s CPU; her birleştirmede yeniden sayım bunun onlarca katı sürerdi
    assert time.process_time() - t0 < 15


# ------------------------------------------------------------------ Turkish pattern
def test_turkish_pattern_keeps_apostrophe_suffixes_whole():
    text = "Ankara'da Türkler’den, Tom'un 1923'te don't 'Merhaba' dedi\n\n  x"
    gpt2 = _compile(GPT2_PATTERN).findall(text)
    tr = _compile(TURKISH_PATTERN).findall(text)
    # GPT-2: the English contraction rule cuts the suffix `'da` into `'d` + `a`
    assert gpt2[:3] == ["Ankara", "'d", "a"]
    assert tr == ["Ankara", "'da", " Türkler", "’den", ",", " Tom", "'un", " 1923", "'te",
                  " don", "'t", " '", "Merhaba", "'", " dedi", "\n\n ", " x"]
    # both patterns cover the text exactly (nothing lost between pieces)
    assert "".join(tr) == text == "".join(gpt2)
    assert PATTERNS == {"gpt2": GPT2_PATTERN, "turkish": TURKISH_PATTERN}


def test_turkish_pattern_trains_saves_and_reloads(tmp_path):
    corpus = make_corpus() + " Ankara'da Ankara'dan İzmir'de İzmir'den Tom'un" * 50
    tok = BPETokenizer.train(corpus, 700, pattern=TURKISH_PATTERN)
    ids = tok.encode(" Ankara'da")
    assert tok.decode(ids) == " Ankara'da"
    assert "'da" in [tok.decode([i]) for i in ids]          # the suffix learnt as one piece
    # GPT-2's pattern never lets `'d` and `a` meet: `'da` cannot become a token there
    gpt2 = BPETokenizer.train(corpus, 700)
    assert "'da" not in [gpt2.decode([i]) for i in range(gpt2.vocab_size)]
    assert "'d" in [gpt2.decode([i]) for i in gpt2.encode(" Ankara'da")]
    tok.save(tmp_path)
    assert json.loads((tmp_path / "tokenizer_meta.json").read_text())["pattern"] == \
        TURKISH_PATTERN
    tok2 = BPETokenizer.load(tmp_path)
    assert tok2.pattern == TURKISH_PATTERN
    for text in TEST_TEXTS + [corpus[-200:]]:
        assert tok2.encode(text) == tok.encode(text)
        assert tok2.decode(tok2.encode(text)) == text


@pytest.mark.parametrize("name", ["turkish", "gpt2"])
def test_a_pattern_given_by_its_name_is_that_pattern(name, tmp_path):
    """train(text, n, pattern="turkish") (the name the training config uses) compiled the word
    "turkish" as the regex: every other character fell outside the matches and encode dropped
    it silently (encode("merhaba dünya") == [])."""
    corpus = " Ankara'da Ankara'dan İzmir'de Tom'un evi" * 20
    tok = BPETokenizer.train(corpus, 270, pattern=name)
    assert tok.pattern == PATTERNS[name]
    assert tok.encode(" Ankara'da") == BPETokenizer.train(corpus, 270,
                                                          pattern=PATTERNS[name]).encode(" Ankara'da")
    assert tok.decode(tok.encode("merhaba dünya")) == "merhaba dünya"
    tok.save(tmp_path)
    assert BPETokenizer.load(tmp_path).pattern == PATTERNS[name]


@pytest.mark.parametrize("pattern", [r"\w+", "Turkish", r"\p{L}+"])
def test_a_pattern_that_leaves_text_out_is_refused(pattern):
    """A pattern whose matches skip characters (punctuation for \\w+, nearly all for a
    misspelt name) built a tokenizer whose encode silently dropped them."""
    with pytest.raises(ValueError, match="does not cover the text"):
        BPETokenizer.train("merhaba, dünya! " * 10, 300, pattern=pattern)


def test_encode_refuses_text_its_loaded_pattern_does_not_cover(tmp_path):
    """Only train checked coverage: a tokenizer with its own pattern (load, from_files), or
    text beyond what it was trained on, had encode silently drop the characters outside every
    match ('ab, CD' -> the ids of 'ab')."""
    tok = BPETokenizer.train("ab ab abc " * 5, 260, pattern=r" ?[a-z]+|\s+")
    tok.save(tmp_path)
    loaded = BPETokenizer.load(tmp_path)
    loaded2 = BPETokenizer.from_files(tmp_path / "vocab.json", tmp_path / "merges.txt",
                                      pattern=loaded.pattern)
    for t in (tok, loaded, loaded2):
        assert t.decode(t.encode("ab abc" + EOT + " ab")) == "ab abc" + EOT + " ab"
        for text in ("ab, CD", "ab" + EOT + "ab, CD", "ab."):
            with pytest.raises(ValueError, match=r"does not cover the text: '[,.]' \(in "):
                t.encode(text)


@pytest.mark.parametrize("pattern", [r"'(s|t)| ?\w+|\s+|[^\w\s]+",
                                     r"( ?\w+)|(\s+)|([^\w\s]+)"])
def test_a_pattern_with_capturing_groups_is_refused_clearly(pattern, tmp_path):
    """findall gives the groups of such a pattern, not the matches: train fell with
    IndexError (one group) or "'tuple' object has no attribute 'encode'" (several); a
    tokenizer_meta.json naming one is refused with the file's name."""
    with pytest.raises(ValueError, match=r"has capturing groups.*\(\?:\.\.\.\)"):
        BPETokenizer.train("ab ab abc's", 260, pattern=pattern)
    BPETokenizer.train("ab ab abc's", 260).save(tmp_path)
    meta = json.loads((tmp_path / "tokenizer_meta.json").read_text())
    (tmp_path / "tokenizer_meta.json").write_text(json.dumps({**meta, "pattern": pattern}))
    with pytest.raises(ValueError, match=r"tokenizer_meta\.json: .*has capturing groups"):
        BPETokenizer.load(tmp_path)


def test_a_pattern_of_another_type_is_a_type_error():
    with pytest.raises(TypeError, match="pattern must be a regex string"):
        BPETokenizer.train("merhaba dünya", 300, pattern=None)


# TURKISH_PATTERN'in birleştirici işaretleri (\p{M}) tanımadan önceki hâli, harfiyen: bu dizeyle
# kaydedilmiş belirteçleyiciler (tokenizer_meta.json) aynen yüklenip aynen kodlamalı.
OLD_TURKISH_PATTERN = (r"""['’]\p{L}+| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+"""
                       r"""|\s+(?!\S)|\s+""")
_NFD_SENTENCE = unicodedata.normalize("NFD", "Şeker'den iş çıkmış: güzelliğiniz şöyle.")
_MARKS = st.characters(categories=["Mn", "Mc", "Me"])
# birleştirici işaretler; Türkçe harfler, boşluk, noktalama, rakam ve kesme işaretleri; her şey
_TEXT_WITH_MARKS = st.text(alphabet=st.one_of(
    _MARKS, st.sampled_from("sScCgGuUoOiIıİaeş ç'’.,!?5\n\t"), st.characters(codec="utf-8")),
    max_size=40)
_TURKISH_TEXT = st.text(alphabet=st.sampled_from("abcçdefgğhıijklmnoöprsştuüvyzABCÇĞIİÖŞÜ"
                                                 " \n'’.,:!?-0123456789"), max_size=60)


def test_gpt2_pattern_is_gpt2s():
    assert GPT2_PATTERN == (r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+"""
                            r"""|\s+(?!\S)|\s+""")


def test_turkish_pattern_keeps_combining_marks_with_their_letter():
    """NFD text (ş = s + U+0327) splits where its NFC form does; a mark never joins punctuation."""
    nfc = unicodedata.normalize("NFC", _NFD_SENTENCE)
    pat = _compile(TURKISH_PATTERN)
    assert pat.findall(nfc) == ["Şeker", "'den", " iş", " çıkmış", ":", " güzelliğiniz",
                                " şöyle", "."]
    assert pat.findall(_NFD_SENTENCE) == [unicodedata.normalize("NFD", w)
                                          for w in pat.findall(nfc)]
    # the old pattern cut at each mark and put the mark with the punctuation after it
    old = _compile(OLD_TURKISH_PATTERN).findall(_NFD_SENTENCE)
    assert old[:3] == ["S", "\u0327", "eker"] and "\u0327:" in old
    # a stray mark (start of text, after a space, a digit, punctuation) is still matched
    for text in ["\u0327", "\u0327a", " \u0327", "5\u0327", ".\u0327x", "'\u0327", "\n\u0301 "]:
        assert "".join(pat.findall(text)) == text
    # a symbol keeps its own marks: U+FE0F (emoji variation selector) is \p{Mn} too
    emoji = "Kalbim ❤️ ☀️güneş ✔️! a ≠ b"
    assert pat.findall(emoji) == _compile(OLD_TURKISH_PATTERN).findall(emoji) == \
        ["Kalbim", " ❤️", " ☀️", "güneş", " ✔️!", " a", " ≠", " b"]
    assert pat.findall(unicodedata.normalize("NFD", emoji)) == \
        [unicodedata.normalize("NFD", w) for w in pat.findall(emoji)]



def test_turkish_pattern_keeps_a_keycap_whole_and_apart_from_the_letters_after_it():
    """`2️⃣x` (2 + U+FE0F + U+20E3 + x) split as `2` + `️⃣x`: the digit rule took no marks, so
    the keycap's marks fell to the letter rule and were glued to the letters after them. A
    digit now keeps its own marks, as a letter and a symbol do."""
    pat = _compile(TURKISH_PATTERN)
    kc = "2\ufe0f\u20e3"
    assert pat.findall(kc + "x") == [kc, "x"]
    text = f"Adım {kc}x: {kc}{kc}, #\ufe0f\u20e3ab 1923'te 5\u0327a"
    assert pat.findall(text) == ["Adım", " " + kc, "x", ":", " " + kc + kc, ",",
                                 " #\ufe0f\u20e3", "ab", " 1923", "'te", " 5\u0327", "a"]
    assert pat.findall(unicodedata.normalize("NFD", text)) == \
        [unicodedata.normalize("NFD", w) for w in pat.findall(text)]
    # GPT-2's pattern is GPT-2's (tiktoken, Hugging Face): there the marks stay a piece apart
    assert _compile(GPT2_PATTERN).findall(kc + "x") == ["2", "\ufe0f\u20e3", "x"]
    tok = trained_turkish()
    for t in (kc + "x", text, f"{kc}{kc}x"):
        assert tok.decode(tok.encode(t)) == t

@settings(max_examples=300, deadline=None)
@given(st.one_of(_TURKISH_TEXT, st.text()))
def test_turkish_pattern_splits_nfd_like_nfc(text):
    pat = _compile(TURKISH_PATTERN)
    nfc = unicodedata.normalize("NFC", text)
    assert pat.findall(unicodedata.normalize("NFD", text)) == \
        [unicodedata.normalize("NFD", w) for w in pat.findall(nfc)]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_turkish_pattern_unchanged_on_text_without_marks(text):
    import regex
    text = regex.sub(r"\p{M}", "", text)
    assert _compile(TURKISH_PATTERN).findall(text) == _compile(OLD_TURKISH_PATTERN).findall(text)


def test_turkish_pattern_unchanged_on_nfc_turkish_corpus():
    import regex
    new, old = _compile(TURKISH_PATTERN), _compile(OLD_TURKISH_PATTERN)
    corpus = make_corpus()
    # even NFC text can hold marks: "İstanbul".capitalize() is "i̇stanbul" (i + U+0307)
    assert "i\u0307stanbul" in corpus and "i\u0307stanbul" in new.findall(" i\u0307stanbul")[0]
    for text in [regex.sub(r"\p{M}", "", corpus), *TEST_TEXTS]:
        assert new.findall(text) == old.findall(text)
    nfd = unicodedata.normalize("NFD", corpus)
    assert new.findall(nfd) == [unicodedata.normalize("NFD", w) for w in new.findall(corpus)]


@functools.lru_cache(maxsize=None)
def trained_turkish() -> BPETokenizer:
    corpus = make_corpus(seed=3, n_sentences=200)
    return BPETokenizer.train(corpus + unicodedata.normalize("NFD", corpus), 600,
                              pattern=TURKISH_PATTERN)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXT_WITH_MARKS)
def test_turkish_pattern_covers_text_with_marks_and_round_trips(text):
    import regex
    pieces = _compile(TURKISH_PATTERN).findall(text)
    assert "".join(pieces) == text                       # no character lost between pieces
    # a mark is cut from the character before it only when that is a space (a digit keeps its
    # marks too: a keycap)
    end = 0
    for w in pieces[:-1]:
        end += len(w)
        if regex.match(r"\p{M}", text[end]):
            assert regex.match(r"\s", text[end - 1]), (text, pieces)
    tok = trained_turkish()
    assert tok.decode(tok.encode(text)) == text
    nfd = unicodedata.normalize("NFD", text)
    assert tok.decode(tok.encode(nfd)) == nfd           # no normalisation: NFD stays NFD


def test_tokenizer_saved_with_the_old_turkish_pattern_keeps_it(tmp_path):
    corpus = make_corpus(seed=4, n_sentences=200)
    corpus += unicodedata.normalize("NFD", corpus + " iş. çıkmış: şöyle." * 30)
    corpus += " Ankara'da İzmir'den" * 20
    old = BPETokenizer.train(corpus, 500, pattern=OLD_TURKISH_PATTERN)
    old.save(tmp_path)
    meta = json.loads((tmp_path / "tokenizer_meta.json").read_text(encoding="utf-8"))
    assert meta["pattern"] == OLD_TURKISH_PATTERN
    loaded = BPETokenizer.load(tmp_path)
    assert loaded.pattern == OLD_TURKISH_PATTERN != TURKISH_PATTERN
    texts = TEST_TEXTS + [_NFD_SENTENCE, corpus[-300:], "\u0327x 5\u0327 .\u0301"]
    for text in texts:
        ids = loaded.encode(text)
        assert ids == old.encode(text)
        assert loaded.decode(ids) == text
    # the old pattern put a mark with the punctuation after it ("ş:" in NFD gives "̧:"), so
    # this tokenizer learnt a merge across that boundary; today's pattern would not allow it
    today = BPETokenizer(old._id_to_bytes, old._merges, old.special_tokens, TURKISH_PATTERN)
    assert loaded.encode(_NFD_SENTENCE) != today.encode(_NFD_SENTENCE)
    # resaving keeps the stored pattern (it is not upgraded behind the user's back)
    loaded.save(tmp_path / "again")
    assert json.loads((tmp_path / "again" / "tokenizer_meta.json").read_text(
        encoding="utf-8"))["pattern"] == OLD_TURKISH_PATTERN


# ----------------------------------------------------------------------------- files
def test_save_load_round_trip(tmp_path):
    tok = trained()
    tok.save(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["merges.txt", "tokenizer_meta.json", "vocab.json"]
    assert (tmp_path / "merges.txt").read_text(encoding="utf-8").startswith("#version: 0.2\n")
    meta = json.loads((tmp_path / "tokenizer_meta.json").read_text())
    assert meta == {"type": "bpe", "special_tokens": [EOT], "pattern": GPT2_PATTERN}
    tok2 = BPETokenizer.load(tmp_path)
    assert tok2.vocab_size == tok.vocab_size and tok2.merges == tok.merges
    for text in TEST_TEXTS:
        assert tok2.encode(text) == tok.encode(text)


def _counting_opens(monkeypatch, name):
    """A Counter of the opens of files called `name` from now on (builtins.open, io.open, and
    on Python 3.10 pathlib's accessor, through which Path.read_text/read_bytes open)."""
    import builtins
    import collections
    import io
    import pathlib
    opens = collections.Counter()
    real_open = builtins.open

    def counting_open(file, *a, **k):
        if not isinstance(file, int) and os.path.basename(os.fspath(file)) == name:
            opens[name] += 1
        return real_open(file, *a, **k)
    monkeypatch.setattr(builtins, "open", counting_open)
    monkeypatch.setattr(io, "open", counting_open)
    if hasattr(pathlib, "_NormalAccessor"):
        monkeypatch.setattr(pathlib._NormalAccessor, "open", staticmethod(counting_open))
    return opens


def test_a_bpe_tokenizers_meta_file_is_read_once_per_load(tmp_path, monkeypatch):
    """load_tokenizer(DIR) of a BPE tokenizer read and parsed tokenizer_meta.json to learn the
    type, then BPETokenizer.load read and parsed it again; checkpoint.load_run_tokenizer (sample,
    eval, chat, --resume) read it once more for its sha256 first → each load reads it once
    (load_run_tokenizer parses the very bytes whose digest it checked). BPETokenizer.load(DIR)
    alone still reads the file itself."""
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm import checkpoint as ckpt
    from nanograd_llm.tokenizers import load_tokenizer
    tok = trained(300)
    tok.save(tmp_path / "tok")
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_layer=1, n_head=1,
                          n_embd=8), seed=0)
    ckpt.save_checkpoint(tmp_path / "run", model, None, tok, 0)
    for load, where in ((load_tokenizer, tmp_path / "tok"), (BPETokenizer.load, tmp_path / "tok"),
                        (ckpt.load_run_tokenizer, tmp_path / "run")):
        opens = _counting_opens(monkeypatch, "tokenizer_meta.json")
        got = load(where)
        monkeypatch.undo()
        assert opens["tokenizer_meta.json"] == 1, (load, opens)
        assert got.merges == tok.merges and got.special_tokens == tok.special_tokens


def test_overlapping_special_tokens_take_the_longest_match():
    """`<|end|>` is a prefix of `<|end|>x`: the longer special token must win wherever both
    are allowed, whatever order they were declared in."""
    for specials in ((EOT, "<|end|>", "<|end|>x"), (EOT, "<|end|>x", "<|end|>")):
        tok = BPETokenizer.train(make_corpus(), 400, special_tokens=specials)
        long_id, short_id = tok.special_tokens["<|end|>x"], tok.special_tokens["<|end|>"]
        for allowed in ("all", {"<|end|>", "<|end|>x"}):
            ids = tok.encode("a<|end|>xb<|end|>c", allowed_special=allowed)
            assert ids.count(long_id) == 1 and ids.count(short_id) == 1
            assert ids.index(long_id) < ids.index(short_id)
            assert tok.decode(ids) == "a<|end|>xb<|end|>c"
        # only the short one allowed: the `x` after it is ordinary text
        ids = tok.encode("a<|end|>xb", allowed_special={"<|end|>"})
        assert long_id not in ids and ids.count(short_id) == 1


def test_interrupted_save_keeps_the_old_files(tmp_path, monkeypatch):
    import nanograd_llm.tokenizers.bpe as bpe_mod
    old, new = trained(600), trained(650)
    old.save(tmp_path)
    before = {f: (tmp_path / f).read_bytes() for f in os.listdir(tmp_path)}
    real = bpe_mod.text_writer
    calls = []

    def third_fails(text):
        calls.append(text)
        if len(calls) < 3:
            return real(text)

        def write(tmp):
            raise KeyboardInterrupt
        return write
    monkeypatch.setattr(bpe_mod, "text_writer", third_fails)
    with pytest.raises(KeyboardInterrupt):
        new.save(tmp_path)
    # vocab.json and merges.txt of the new tokenizer were ready, but none replaced the old
    assert {f: (tmp_path / f).read_bytes() for f in os.listdir(tmp_path)} == before
    assert BPETokenizer.load(tmp_path).vocab_size == 600


def test_corrupt_or_missing_files_name_the_file(tmp_path):
    tok = trained()
    tok.save(tmp_path)
    with pytest.raises(ValueError, match="tokenizer_meta.json"):
        BPETokenizer.load(tmp_path / "nowhere")
    (tmp_path / "merges.txt").write_text("#version: 0.2\nĠ e x\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"merges.txt:2"):
        BPETokenizer.load(tmp_path)
    (tmp_path / "merges.txt").write_text("#version: 0.2\nzz qq\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"merges.txt:2.*not in"):
        BPETokenizer.load(tmp_path)
    (tmp_path / "vocab.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="vocab.json.*corrupt JSON"):
        BPETokenizer.load(tmp_path)
    os.remove(tmp_path / "vocab.json")
    with pytest.raises(ValueError, match="vocab.json.*not found"):
        BPETokenizer.load(tmp_path)
    (tmp_path / "tokenizer_meta.json").write_text('{"type": "char"}', encoding="utf-8")
    with pytest.raises(ValueError, match="tokenizer_meta.json.*not a BPE"):
        BPETokenizer.load(tmp_path)
    (tmp_path / "vocab.json").write_text('{"a": 0}', encoding="utf-8")
    (tmp_path / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="vocab.json.*256"):
        BPETokenizer.from_files(tmp_path / "vocab.json", tmp_path / "merges.txt")


def test_module_imports_without_regex_and_names_the_extra():
    code = ("import sys; sys.modules['regex'] = None\n"
            "from nanograd_llm.tokenizers.bpe import BPETokenizer\n"
            "try:\n    BPETokenizer.train('abc abc', 300)\n"
            "except RuntimeError as e:\n    print('ERR', e)\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                         env={**os.environ, "PYTHONPATH": root}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "ERR" in out.stdout and ".[bpe]" in out.stdout


# ----------------------------------------------------------------------------- Hugging Face
def _hf_gpt2(directory):
    transformers = pytest.importorskip("transformers")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # transformers 5 ignores the vocab_file=/merges_file= keywords of the constructor (it
        # builds an empty tokenizer), so load the folder the way real GPT-2 folders are loaded.
        tok = transformers.GPT2TokenizerFast.from_pretrained(str(directory))
    assert tok.vocab_size > 256
    return tok


def _hf_tokenizers(directory):
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import decoders, pre_tokenizers
    from tokenizers.models import BPE
    t = tokenizers.Tokenizer(BPE.from_file(str(directory / "vocab.json"),
                                           str(directory / "merges.txt")))
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    t.add_special_tokens([EOT])
    return t


def test_our_files_load_in_transformers_and_tokenizers(tmp_path):
    ours = trained()
    ours.save(tmp_path)
    gpt2 = _hf_gpt2(tmp_path)
    hft = _hf_tokenizers(tmp_path)
    from tokenizers import ByteLevelBPETokenizer
    blb = ByteLevelBPETokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
    blb.add_special_tokens([EOT])
    assert gpt2.vocab_size == ours.vocab_size
    for text in TEST_TEXTS + [make_corpus(seed=5, n_sentences=30)]:
        ids = ours.encode(text)
        assert gpt2(text)["input_ids"] == ids, text
        assert hft.encode(text).ids == ids, text
        assert blb.encode(text).ids == ids, text
        assert gpt2.decode(ids) == ours.decode(ids) == text


@pytest.fixture(scope="module")
def hf_trained_dir(tmp_path_factory):
    """A vocabulary trained by the `tokenizers` library (stand-in for a real gpt2 folder)."""
    tokenizers = pytest.importorskip("tokenizers")
    d = tmp_path_factory.mktemp("hfbpe")
    t = tokenizers.ByteLevelBPETokenizer()
    t.train_from_iterator([make_corpus(seed=3)], vocab_size=700, special_tokens=[EOT],
                          show_progress=False)
    t.save_model(str(d))
    return d


def test_gpt2_style_folder_gives_transformers_ids(hf_trained_dir):
    ours = BPETokenizer.from_files(hf_trained_dir / "vocab.json", hf_trained_dir / "merges.txt")
    gpt2 = _hf_gpt2(hf_trained_dir)
    assert ours.special_tokens == {EOT: 0}          # tokenizers puts special tokens first
    assert ours.vocab_size == gpt2.vocab_size
    for text in TEST_TEXTS + [make_corpus(seed=6, n_sentences=30)]:
        ids = gpt2(text)["input_ids"]
        assert ours.encode(text) == ids, text
        assert ours.decode(ids) == gpt2.decode(ids)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(text=st.text())      # whole Unicode range, surrogates excluded
def test_gpt2_style_folder_matches_on_random_text(hf_trained_dir, text):
    ours, gpt2 = _pair(str(hf_trained_dir))
    assert ours.encode(text) == gpt2(text)["input_ids"]


@settings(max_examples=150, deadline=None)
@given(ids=st.lists(st.integers(min_value=0, max_value=599), max_size=30))
def test_decode_of_any_ids_matches_transformers(saved_trained_gpt2, ids):
    ours = trained()
    gpt2 = saved_trained_gpt2
    assert ours.decode(ids) == gpt2.decode(ids)


@functools.lru_cache(maxsize=None)
def _pair(directory):
    from pathlib import Path
    d = Path(directory)
    return BPETokenizer.from_files(d / "vocab.json", d / "merges.txt"), _hf_gpt2(d)


@pytest.fixture(scope="module")
def saved_trained_gpt2(tmp_path_factory):
    """transformers' tokenizer over trained() saved in a folder of pytest's (a mkdtemp folder
    made here was never removed: each run left a bpe_test_* folder in the system's /tmp)."""
    d = tmp_path_factory.mktemp("bpe_saved")
    trained().save(d)
    return _hf_gpt2(d)


# ----------------------------------------------------------------------------- long words
@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="aeiklmnrsşıüğçöz!. ", min_size=1, max_size=400))
def test_long_word_merge_loop_equals_short_one(word):
    tok = trained()
    ids = [tok._byte_ids[b] for b in word.encode("utf-8")]
    assert tok._merge_long(list(ids)) == tok._merge_short(list(ids))


def test_long_word_merge_loop_skips_a_pair_whose_right_token_merged_first():
    """In "abc" with merges (b, c) before (a, b), the pair (a, b) found first is stale once b
    merged with c: the long-word loop must skip it (the random words above may miss this)."""
    tok = BPETokenizer.train("bc\n" * 8 + "ab\n" * 4, 259)
    b, c = tok._byte_ids[ord("b")], tok._byte_ids[ord("c")]
    assert [tok._id_to_bytes[i] for i in tok._merges[0]] == [b"b", b"c"]
    for word in ("abc", "abc" * 30, "ab" + "c" * 5):
        ids = [tok._byte_ids[x] for x in word.encode("utf-8")]
        assert tok._merge_long(list(ids)) == tok._merge_short(list(ids))
    assert len(tok._merge_long([tok._byte_ids[x] for x in b"abc"])) == 2        # a + bc


def test_verbose_training_reports_the_last_merge(capsys):
    BPETokenizer.train("bc\n" * 8 + "ab\n" * 4, 259, verbose=True)
    assert capsys.readouterr().out == "merge 2: 'a' + 'b' (count 4) -> id 257\n"


def test_pathologically_long_words_encode_fast_and_like_transformers(tmp_path):
    import time
    tok = BPETokenizer.train("a" * 300 + " " + "ab" * 200 + " evlerimizden" * 50, 285)
    tok.save(tmp_path)
    gpt2 = _hf_gpt2(tmp_path)
    for text in ["a" * 60_000, "ab" * 30_000, "evlerimizden" * 5_000, " " * 20_000 + "x"]:
        t0 = time.process_time()
        ids = tok.encode(text)
        assert time.process_time() - t0 < 5, "long words must not be quadratic"
        assert tok.decode(ids) == text
        assert ids == gpt2(text)["input_ids"]


def test_vocab_entries_outside_the_byte_alphabet_are_kept_verbatim(tmp_path):
    tok = trained()
    tok.save(tmp_path)
    vocab = json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))
    vocab["hello world"] = len(vocab)         # a real space: not a byte-level token string
    (tmp_path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    t2 = BPETokenizer.load(tmp_path)
    i = t2.token_to_id("hello world")
    assert i == 600 and t2.vocab_size == 601 and t2.id_to_token(i) == "hello world"
    assert t2.decode([i]) == "hello world"
    assert i not in t2.encode("hello world")
    assert t2.encode("hello world Türkçe 🙂") == tok.encode("hello world Türkçe 🙂")
    t2.save(tmp_path / "again")
    assert json.loads((tmp_path / "again" / "vocab.json").read_text(encoding="utf-8")) == vocab


# ----------------------------------------------------------------------------- corpus chunks
def test_chunked_corpus_encoding_gives_the_whole_text_ids(tmp_path):
    # encode_corpus büyük bir metni satır sonlarından parçalara bölerek kodlar; parçalar bütün
    # metnin belirteçlerini değiştirmemeli. Boşlukla biten satırlar ve boş satırlar ("  \n\n"):
    # GPT-2 ifadesi bütün metinde "  \n\nSonra"yı "  \n" + "\n" diye böler; "\n"den sonra
    # kesilen bir parçanın sonundaki "  \n\n" ise tek parça olurdu.
    from nanograd_llm import data as D
    text = "Bir gün çıktık.  \n\nSonra geldik. \n\n  x\nAma kimse yoktu.\n\n Evet.\n" * 30
    tok = BPETokenizer.train(text, 300)
    whole = tok.encode(text)
    for chunk_chars in (40, 57, 64, 100, 333):
        ids = D.encode_corpus(text, tok, chunk_chars=chunk_chars)
        assert ids.tolist() == whole, chunk_chars
        mm = D.encode_corpus(text, tok, path=tmp_path / "tokens.npy", chunk_chars=chunk_chars)
        assert mm.tolist() == whole, chunk_chars


def test_chunked_encoding_of_a_text_without_newlines():
    # Satır sonu yoksa parçalar sözcük ortasından değil, bir boşluktan önce kesilmeli
    from nanograd_llm import data as D
    text = "Evlerimizden çıktık ve  gidemeyeceklermiş dedik,  Ankara'da kaldık. " * 30
    tok = BPETokenizer.train(text, 300)
    whole = tok.encode(text)
    for chunk_chars in (30, 57, 64, 100, 333):
        assert D.encode_corpus(text, tok, chunk_chars=chunk_chars).tolist() == whole, chunk_chars


# ------------------------------------------------------------------ hand-built vocabularies
def _write_gpt2_files(d, extra_tokens=(), merges=(), crlf=False):
    """vocab.json (the 256 byte tokens + extra_tokens) and merges.txt in folder d."""
    vocab = {c: i for i, c in enumerate(bytes_to_unicode().values())}
    for t in extra_tokens:
        vocab[t] = len(vocab)
    nl = "\r\n" if crlf else "\n"
    (d / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (d / "merges.txt").write_bytes(("#version: 0.2" + nl + "".join(f"{m}{nl}" for m in merges))
                                   .encode("utf-8"))
    return vocab


def test_a_merge_listed_twice_takes_its_last_rank(tmp_path):
    """As in GPT-2's code and in transformers (both give 'a' + 'bc' here), a pair written twice
    in merges.txt has the rank of its last line."""
    vocab = _write_gpt2_files(tmp_path, ["ab", "bc"], ["a b", "b c", "a b"])
    tok = BPETokenizer.from_files(tmp_path / "vocab.json", tmp_path / "merges.txt")
    assert tok.encode("abc") == [vocab["a"], vocab["bc"]]


def test_long_words_skip_a_merge_whose_left_token_has_changed():
    """The long-word loop keeps stale heap entries: here (a, b) of 'abcb' is still queued when
    'a' has become 'abc' (after b+c, then a+bc), and the next token is again a 'b'. The entry
    must be skipped, as the short loop (and transformers) would: 'abc' + 'b', not 'ab'."""
    order = list(bytes_to_unicode())
    id_to_bytes = [bytes([b]) for b in order] + [b"bc", b"abc", b"ab"]
    i = {bs: k for k, bs in enumerate(id_to_bytes)}
    merges = [(i[b"b"], i[b"c"]), (i[b"a"], i[b"bc"]), (i[b"a"], i[b"b"])]
    tok = BPETokenizer(id_to_bytes, merges, {})
    assert tok.encode("abcb") == [i[b"abc"], i[b"b"]]
    assert tok.encode("abcb" * 20) == [i[b"abc"], i[b"b"]] * 20      # 80 bytes: the long loop


def test_ids_missing_from_a_vocabulary_are_refused(tmp_path):
    """A vocab.json with a hole (here no id 256) loads; decoding the missing id is a clear error,
    not a TypeError from joining None."""
    vocab = _write_gpt2_files(tmp_path)
    vocab["xy"] = 257
    (tmp_path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tok = BPETokenizer.from_files(tmp_path / "vocab.json", tmp_path / "merges.txt")
    assert tok.vocab_size == 258
    for call in (tok.decode, lambda ids: tok.id_to_token(ids[0]),
                 lambda ids: tok.token_bytes(ids[0])):
        with pytest.raises(ValueError, match="token id 256 is outside the vocabulary"):
            call([256])


@pytest.mark.parametrize("bad, message", [
    ({"x": 5}, "share id 5"),
    ({"x": 1 << 24}, "larger than any vocabulary"),
])
def test_vocab_ids_that_cannot_be_a_vocabulary_are_refused(tmp_path, bad, message):
    vocab = _write_gpt2_files(tmp_path)
    vocab.update(bad)
    (tmp_path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        BPETokenizer.from_files(tmp_path / "vocab.json", tmp_path / "merges.txt")


def test_a_meta_file_without_a_pattern_reads_with_gpt2s(tmp_path):
    """tokenizer_meta.json of older versions has no 'pattern': GPT-2's is meant."""
    BPETokenizer.train("Ankara'da evler", 262, pattern=TURKISH_PATTERN).save(tmp_path)
    meta = json.loads((tmp_path / "tokenizer_meta.json").read_text(encoding="utf-8"))
    del meta["pattern"]
    (tmp_path / "tokenizer_meta.json").write_text(json.dumps(meta), encoding="utf-8")
    assert BPETokenizer.load(tmp_path).pattern == GPT2_PATTERN


def test_encode_cache_stays_bounded(monkeypatch):
    import nanograd_llm.tokenizers.bpe as bpe_mod
    monkeypatch.setattr(bpe_mod, "_CACHE_LIMIT", 8)
    tok = trained()
    tok._cache.clear()
    text = " ".join(f"w{chr(0x61 + k % 26)}{k}" for k in range(100))
    assert tok.decode(tok.encode(text)) == text
    assert len(tok._cache) <= 8


def test_encode_with_allowed_special_none_is_plain_text():
    tok = trained()
    text = f"a{EOT}b"
    assert tok.encode(text, allowed_special=None) == tok.encode(text, allowed_special="none")
    assert tok.special_tokens[EOT] not in tok.encode(text, allowed_special=None)


def test_encode_of_something_else_than_text_is_a_type_error():
    with pytest.raises(TypeError, match="expected a str, got bytes"):
        trained().encode(b"abc")


def test_training_runs_to_the_end_like_the_naive_recount():
    """Training until no pair is left: pairs of count 1 (most pairs of a small text) are merged
    too, ties go to the smaller ids, exactly as the reference recount does."""
    for text in ("abcd", "dcba abcd", "xyzzy zyx yzx", "Türkçe ışık ağaç şiş"):
        with pytest.warns(RuntimeWarning, match="ran out of pairs"):
            tok = BPETokenizer.train(text, 400, special_tokens=())
        merges, id_to_bytes = naive_train(text, 400, specials=())
        assert tok._merges == merges and tok._id_to_bytes == id_to_bytes


def test_a_special_token_that_is_also_a_learnt_token_is_refused():
    """vocab.json cannot give one string two ids ('a' is a byte token of every vocabulary)."""
    with pytest.raises(ValueError, match="'a' is also a learnt token"):
        BPETokenizer.train("abc abc", 258, special_tokens=["a"])


def test_a_special_token_listed_twice_counts_once():
    tok = BPETokenizer.train("abcdef abcdef", 260, special_tokens=["<|x|>", "<|x|>"])
    assert tok.special_tokens == {"<|x|>": 259} and tok.vocab_size == 260
    assert len(tok.merges) == 3                       # 256 + 3 learnt + 1 special, no gap
    assert all(tok.token_bytes(i) for i in range(260))


# -- the figures the chapter gives --------------------------------------------------------------

def _cached_seyfettin(monkeypatch):
    """The `--data seyfettin` text when its file is already at hand (the cache, or the shared
    data folder beside the repository that benchmarks/bpe_patterns.py reads); tests never
    download it."""
    from pathlib import Path

    from nanograd_llm import data as D
    corpus = D.CORPORA["seyfettin"]
    root = Path(__file__).resolve().parent.parent
    for folder in (D.cache_dir(), root.parent / "shared" / "data"):
        path = folder / corpus.filename
        if path.is_file() and D._sha256_file(path) == corpus.sha256:
            monkeypatch.setenv("NANOGRAD_LLM_DATA_DIR", str(folder))
            monkeypatch.setattr(D, "_fetch", lambda *a, **k: pytest.fail("downloaded"))
            return D.load_text("seyfettin")[0]
    pytest.skip("the seyfettin corpus is not cached (tests do not download it)")


def test_the_seyfettin_figures_of_the_bpe_chapter_are_what_the_code_gives(monkeypatch):
    """The chapter's figures on the Ömer Seyfettin corpus, computed on the text `--data
    seyfettin` gives: it counted 686 words with an apostrophe (the raw download's count; the
    text the trainer reads, its HTML entities cleaned, has 689), 134 of them cut by GPT-2's
    English contraction rule."""
    import re

    import regex

    from nanograd_llm.tokenizers import bpe
    text = _cached_seyfettin(monkeypatch)
    doc = " ".join(bpe.__doc__.split())
    words = regex.findall(r"\p{L}+['’]\p{L}+", text)
    contractions = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"}
    gpt2 = _compile(GPT2_PATTERN)
    cut = [w for w in words if contractions & set(gpt2.findall(w))]
    said = re.search(r"kesme işaretli (\d+) sözcüğün (\d+)'", doc)
    assert said and (int(said.group(1)), int(said.group(2))) == (len(words), len(cut)), \
        (said and said.groups(), len(words), len(cut))
    # "iki ifade aynı 66 912 parçayı verir": the Turkish pattern, with and without marks
    same = re.search(r"aynı (\d+) (\d{3}) parçayı", doc)
    n_turkish = len(_compile(TURKISH_PATTERN).findall(text))
    assert same and int(same.group(1) + same.group(2)) == n_turkish == \
        len(_compile(OLD_TURKISH_PATTERN).findall(text))
    # "400 KB'lık ... yaklaşık 67 bin parça çıkar, ama bunların yalnızca 17 700 kadarı"
    sizes = re.search(r"(\d+) KB'lık Türkçe derleminde \(Ömer Seyfettin\) yaklaşık (\d+) bin "
                      r"parça çıkar, ama bunların yalnızca (\d+) (\d{3}) kadarı", doc)
    assert sizes, "the training-loop paragraph's figures are gone"
    pieces = gpt2.findall(text)
    assert abs(len(text.encode("utf-8")) / 1000 - int(sizes.group(1))) < 10
    assert abs(len(pieces) / 1000 - int(sizes.group(2))) < 1
    assert abs(len(set(pieces)) - int(sizes.group(3) + sizes.group(4))) < 100
    # "1024'lük bir sözlükte ... birleşik biçimde 16, ayrışık biçimde 38 belirteçtir"
    counts = re.search(r"1024'lük bir sözlükte `([^`]+)` birleşik biçimde (\d+), ayrışık "
                       r"biçimde (\d+) belirteçtir", doc)
    assert counts
    tok = BPETokenizer.train(text[:int(len(text) * 0.9)], 1024)   # the trainer's train split
    sentence = counts.group(1)
    assert (len(tok.encode(sentence)), len(tok.encode(unicodedata.normalize("NFD", sentence)))) \
        == (int(counts.group(2)), int(counts.group(3)))


def test_the_split_examples_of_the_marks_paragraph_are_what_the_patterns_give():
    """The chapter showed `Şeker'den` → `S` + (U+0327) + `eker` + `'den` as what GPT-2's
    pattern and the old Turkish one do to NFD text; only the old Turkish one gives that, GPT-2's
    English contraction rule cuts the suffix too (`'d` + `en`). Each shown split is now the
    named pattern's."""
    import re

    from nanograd_llm.tokenizers import bpe
    doc = " ".join(bpe.__doc__.split())

    def shown(s):                                    # "`(U+0327)`" -> the mark itself
        return re.sub(r"\(U\+([0-9A-F]{4})\)", lambda m: chr(int(m.group(1), 16)), s)
    old_part = re.search(r"Eski ifadeyle: (.*?) \(GPT-2'ninki", doc)
    assert old_part, doc[:200]
    examples = old_part.group(1).split("; ")
    assert len(examples) == 3
    for example in examples:
        left, right = example.split(" → ")
        text = unicodedata.normalize("NFD", shown(left.strip("`")))
        pieces = [shown(p) for p in re.findall(r"`([^`]*)`", right)]
        assert _compile(OLD_TURKISH_PATTERN).findall(text) == pieces, example
    gpt2 = re.search(r"GPT-2'ninki[^)]*?`'den` ekini de `([^`]+)` \+ `([^`]+)` diye böler", doc)
    assert gpt2, "the chapter does not say how GPT-2's pattern splits `'den`"
    assert _compile(GPT2_PATTERN).findall(unicodedata.normalize("NFD", "Şeker'den"))[-2:] == \
        list(gpt2.groups())


def test_decode_takes_one_id_and_refuses_a_batch_as_the_char_tokenizer_does():
    """decode(5) fell with "'int' object is not iterable" and decode of a (1, T) array with
    "token id must be an integer, got [...]", where CharTokenizer decodes the one id and names
    the batch."""
    tok = BPETokenizer.train("merhaba dünya " * 5, 260)
    ids = tok.encode("merhaba")
    assert tok.decode(ids[0]) == tok.decode(np.int64(ids[0])) == tok.decode(np.array(ids[0])) \
        == tok.decode([ids[0]])
    with pytest.raises(ValueError, match=r"decode takes one sequence of token ids, got an "
                                         r"array of shape \(1, \d+\)"):
        tok.decode(np.array([ids]))
    with pytest.raises(ValueError, match="token id must be an integer, got True"):
        tok.decode(True)


def test_train_takes_a_numpy_integer_vocab_size():
    """BPETokenizer.train(text, np.int64(260)) (a size read from an array or a config) was
    refused as "vocab_size must be an integer", as GPTConfig no longer does."""
    text = "merhaba dünya " * 5
    assert BPETokenizer.train(text, np.int64(260)).merges == BPETokenizer.train(text, 260).merges
    for bad in (np.float64(260.0), np.bool_(True), 260.0):
        with pytest.raises(ValueError, match="vocab_size must be an integer"):
            BPETokenizer.train(text, bad)


def test_training_cuts_the_text_at_the_longest_special_token():
    """Training splits the text at its special tokens, the longest match first (as encode
    does): with `<|end|>` a prefix of `<|end|>ЖЖЖ`, a cut at `<|end|>` would leave `ЖЖЖ` in the
    text, 200 times, and learn merges of its bytes. Declared in either order, it learns none."""
    text = "<|end|>ЖЖЖ".join(make_corpus(n_sentences=200).split("\n"))
    assert text.count("<|end|>ЖЖЖ") >= 199 and "Ж" not in make_corpus(n_sentences=200)
    for specials in (("<|end|>", "<|end|>ЖЖЖ"), ("<|end|>ЖЖЖ", "<|end|>")):
        tok = BPETokenizer.train(text, 300, special_tokens=specials)
        assert len(tok.encode("ЖЖЖ", allowed_special="none")) == 6, specials   # 6 bytes, unmerged


def test_merges_with_windows_line_ends_load_as_the_plain_ones(tmp_path):
    """merges.txt saved on Windows ("\\r\\n"): from_files reads it in text mode, and
    from_vocab, given the text itself (e.g. bytes decoded by hand), must drop the "\\r" of
    every line, not only the header's, so the merges are those of the "\\n" file (no
    "token 'b\\r' is not in vocab.json")."""
    for crlf in (False, True):
        d = tmp_path / str(crlf)
        d.mkdir()
        vocab = _write_gpt2_files(d, ["ab", "abc"], ["a b", "ab c"], crlf=crlf)
        text = (d / "merges.txt").read_bytes().decode("utf-8")
        assert ("\r\n" in text) == crlf
        for tok in (BPETokenizer.from_files(d / "vocab.json", d / "merges.txt"),
                    BPETokenizer.from_vocab(vocab, text)):
            assert tok.merges == [("a", "b"), ("ab", "c")], crlf
            assert tok.encode("abcab") == [vocab["abc"], vocab["ab"]], crlf


_PIECE_TEXT = st.lists(st.sampled_from(list("ab yz\n\t\r'’.,1") + [
    "ş", "\u0327", "\u00a0", "\r\n", "  ", "<|endoftext|>", "2\ufe0f\u20e3", "Ankara'da"]),
    max_size=120).map("".join)


@pytest.mark.filterwarnings("ignore:BPE training ran out of pairs")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_PIECE_TEXT, piece=st.integers(1, 40), pattern=st.sampled_from(["gpt2", "turkish"]))
def test_training_piece_by_piece_learns_what_the_whole_text_teaches(text, piece, pattern):
    """Training counts the words of the text in pieces (bpe._pieces) so that no list of all
    its words is built: the pieces must give the same words, in the same order, for the
    built-in patterns, so the merges and the vocabulary are those of the whole text."""
    import nanograd_llm.tokenizers.bpe as bpe_module
    pat = bpe_module._compile(PATTERNS[pattern])
    pieces = list(bpe_module._pieces(text, piece))
    assert "".join(pieces) == text
    assert [w for p in pieces for w in pat.findall(p)] == pat.findall(text)
    whole = BPETokenizer.train(text + "abab", 300, pattern=pattern)
    saved = bpe_module._TRAIN_PIECE
    try:
        bpe_module._TRAIN_PIECE = piece
        cut = BPETokenizer.train(text + "abab", 300, pattern=pattern)
    finally:
        bpe_module._TRAIN_PIECE = saved
    assert cut.file_texts() == whole.file_texts()


def test_training_does_not_hold_a_list_of_every_word_of_the_text(monkeypatch):
    """BPE training ran findall over the whole text: a list with one str object (about 50
    bytes) per word, some 20 times the text's size (1.9 GB of peak memory for a 100 MB
    corpus). The words are now counted one piece at a time."""
    import gc
    import tracemalloc

    import nanograd_llm.tokenizers.bpe as bpe_module
    monkeypatch.setattr(bpe_module, "_TRAIN_PIECE", 1 << 12, raising=False)
    text = "ab cd ef gh ij kl\n" * 15_000                   # 270 KB, 90 000 words
    BPETokenizer.train(text[:10_000], 266)        # imports and compiled patterns: not counted
    gc.collect()
    tracemalloc.start()
    try:
        BPETokenizer.train(text, 266)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # (encode's UTF-8 check makes one text-sized copy for a moment)
    assert peak < 2.5 * len(text), peak / len(text)


def test_training_shows_progress_bars_only_when_asked(monkeypatch, capsys):
    """Training a BPE tokenizer on a large text (13 s on 87 M characters) showed nothing of its
    own: with progress=True it shows a bar while it counts the words and one over the merges
    (each after backend.PROGRESS_DELAY seconds, here 0); by default (library use) it is
    silent, and the learnt merges are the same."""
    from nanograd_llm import backend
    monkeypatch.setattr(backend, "PROGRESS_DELAY", 0)
    text = "merhaba dünya, merhaba güneş; dünya dönüyor.\n" * 20
    quiet = BPETokenizer.train(text, 280)
    assert capsys.readouterr().err == ""
    shown = BPETokenizer.train(text, 280, progress=True)
    err = capsys.readouterr().err
    assert "BPE: counting words" in err and "BPE: merges" in err
    assert shown.merges == quiet.merges



# Every character the `regex` module's \s matches (the pieces are cut before one), the four
# that Python's str.isspace() calls whitespace but \s does not (U+001C–U+001F), marks and
# joiners that must stay with what precedes them, astral characters, and any other character
_PIECE_SPACES = [chr(c) for c in (*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680,
                                  *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F,
                                  0x3000)]
_PIECE_ODD = st.lists(st.one_of(
    st.sampled_from(_PIECE_SPACES + ["\x1c", "\x1f", "\u180e", "\u200b", "\ufeff", "\u200d",
                                     "\u0301", "\u0327", "\ufe0f", "\u20e3", "e\u0301", "\r\n",
                                     "👍🏽", "👨\u200d👩\u200d👧", "🇹🇷", "'s", "’", "٣", "ⅷ",
                                     "a", "Z", ".", "  "]),
    st.characters(blacklist_categories=("Cs",))), max_size=200).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=_PIECE_ODD, piece=st.integers(1, 50), pattern=st.sampled_from(["gpt2", "turkish"]))
def test_the_training_pieces_give_the_words_of_the_whole_text_for_any_character(text, piece,
                                                                                  pattern):
    """bpe._pieces cuts between a character that is not whitespace and the whitespace after
    it, where every built-in pattern's match ends. Over any characters (every kind of
    whitespace the pattern's \\s knows, the control characters str.isspace() alone calls
    whitespace, combining marks, joiners, emoji sequences, astral characters) and pieces down to
    one character, the pieces' words are the whole text's, in order."""
    import nanograd_llm.tokenizers.bpe as bpe_module
    import regex
    assert all(regex.match(r"\s", c) for c in _PIECE_SPACES)
    pat = bpe_module._compile(PATTERNS[pattern])
    pieces = list(bpe_module._pieces(text, piece))
    assert "".join(pieces) == text and all(pieces)
    assert [w for p in pieces for w in pat.findall(p)] == pat.findall(text)
