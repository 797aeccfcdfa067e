"""Char tokenizer, text loading, named corpora, splitting and batching."""
import hashlib
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nanograd_llm import data as D
from nanograd_llm.tokenizers import CharTokenizer, load_tokenizer

from _corpora import offline_tiny_corpus

TR = "Çağrı, ılık şöyle: İğde ÖĞÜŞ ü ç ğ ı İ ö ş ü — sözlük!\n"


def test_char_tokenizer_turkish_roundtrip(tmp_path):
    tok = CharTokenizer.from_text(TR)
    ids = tok.encode(TR)
    assert tok.decode(ids) == TR
    assert tok.vocab_size == len(set(TR))
    # NFC: "ş" written as s + combining cedilla is the same token as the precomposed "ş"
    assert tok.encode("s\u0327") == tok.encode("ş")
    tok.save(tmp_path)
    assert json.loads((tmp_path / "tokenizer_meta.json").read_text()) == {"type": "char"}
    for loaded in (CharTokenizer.load(tmp_path), load_tokenizer(tmp_path)):
        assert isinstance(loaded, CharTokenizer)
        assert loaded.chars == tok.chars
        assert loaded.decode(loaded.encode(TR)) == TR


def test_char_tokenizer_unknown_characters():
    tok = CharTokenizer.from_text("ab? ")
    with pytest.raises(ValueError, match=r"'x'.*U\+0078.*position 2"):
        tok.encode("abx")
    assert tok.encode("axb", errors="skip") == tok.encode("ab")
    assert tok.decode(tok.encode("axb", errors="replace")) == "a?b"
    with pytest.raises(ValueError, match="errors must be"):
        tok.encode("a", errors="ignore")
    with pytest.raises(ValueError, match="outside"):
        tok.decode([99])
    for bad in ([0.5], [1.0], ["a"]):
        with pytest.raises(ValueError, match="must be an integer"):
            tok.decode(bad)
    assert tok.decode(np.array(tok.encode("ab"), dtype=np.uint16)) == "ab"
    # a (B, T) batch (what generate returns) is refused: its rows were joined without a break
    for batch in (np.array([[0, 1], [1, 0]]), [[0, 1]]):
        with pytest.raises(ValueError, match="decode each row of a batch separately"):
            tok.decode(batch)
    # the position is that of the NFC text, and the message says so when NFC changed it
    tok2 = CharTokenizer.from_text("abs\u0327")
    with pytest.raises(ValueError, match="position 5 of the NFC-normalised text"):
        tok2.encode("ab" + "s\u0327" * 3 + "x")


def test_load_tokenizer_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer_meta.json"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer_meta.json").write_text('{"type": "wordpiece"}')
    with pytest.raises(ValueError, match="unknown tokenizer type"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer_meta.json").write_text('{"type": "char"}')
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(ValueError, match="tokenizer.json"):
        load_tokenizer(tmp_path)


def test_read_text_bom_crlf_and_errors(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes(b"\xef\xbb\xbfline one\r\nline two\rthree")
    assert D.read_text_file(p) == "line one\nline two\nthree"
    with pytest.raises(FileNotFoundError, match="not found"):
        D.read_text_file(tmp_path / "missing.txt")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("ok\nçok güzel".encode("latin-1"))
    with pytest.raises(ValueError, match=r"not UTF-8.*0xe7 at byte offset 3 \(line 2\)"):
        D.read_text_file(bad)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"\xef\xbb\xbf")
    with pytest.raises(ValueError, match="empty"):
        D.read_text_file(empty)
    with pytest.raises(IsADirectoryError):
        D.read_text_file(tmp_path)


def test_load_text_names_and_paths(tmp_path):
    text, label = D.load_text(None)
    assert label == "embedded" and len(text.encode("utf-8")) >= 50_000
    assert any(c in text for c in "çğışöü")
    with pytest.raises(ValueError, match="unknown corpus 'shakespear'"):
        D.load_text("shakespear")


def test_embedded_corpus_is_ours():
    """The shipped corpus is the project's own Turkish explanations, not a downloaded text."""
    text = D.EMBEDDED_PATH.read_text(encoding="utf-8")
    assert "belirteç" in text and "geri yayılım" in text.lower() or "Geri yayılım" in text
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert digest not in {c.sha256 for c in D.CORPORA.values()}


def test_download_corpus_uses_cache_and_checks_sha(tmp_path, monkeypatch):
    monkeypatch.setenv("NANOGRAD_LLM_DATA_DIR", str(tmp_path))
    assert D.cache_dir() == tmp_path
    # a verified cached copy is used without any network access
    blob = b"cached corpus\n"
    corpus = D.Corpus("tiny", "tiny.txt", hashlib.sha256(blob).hexdigest(),
                      (("http://127.0.0.1:9/tiny.txt", hashlib.sha256(blob).hexdigest()),), "t")
    monkeypatch.setitem(D.CORPORA, "tiny", corpus)
    (tmp_path / "tiny.txt").write_bytes(blob)
    assert D.download_corpus("tiny") == tmp_path / "tiny.txt"
    # a corrupt cached copy triggers a download; offline -> the error names the URL
    (tmp_path / "tiny.txt").write_bytes(b"tampered")
    with pytest.raises(OSError, match=r"http://127.0.0.1:9/tiny.txt.*load_text\(path\)") as e:
        D.download_corpus("tiny")
    assert e.value.command_line_message.endswith("--data PATH")
    # … and says where a copy fetched elsewhere can be put (kept through the same checks)
    assert f"placed by hand at {tmp_path / 'tiny.txt'}" in str(e.value)
    # a download with the wrong hash is rejected
    monkeypatch.setattr(D, "_fetch", lambda url, timeout=60.0: b"something else")
    with pytest.raises(OSError, match="sha256"):
        D.download_corpus("tiny")
    monkeypatch.setattr(D, "_fetch", lambda url, timeout=60.0: blob)
    assert D.download_corpus("tiny").read_bytes() == blob


@pytest.mark.parametrize("online", [False, True])
def test_a_folder_where_the_cached_corpus_goes_is_named(tmp_path, monkeypatch, online):
    """A folder at the cached corpus's path (or a file at the cache folder's) was not
    mentioned: offline the error said the corpus 'can also be placed by hand at PATH' (where
    the folder is), online every part was downloaded before saving failed → refused at once,
    naming what is in the way, without a download."""
    blob = b"cached corpus\n"
    monkeypatch.setitem(D.CORPORA, "tiny", D.Corpus(
        "tiny", "tiny.txt", hashlib.sha256(blob).hexdigest(),
        (("http://127.0.0.1:9/tiny.txt", hashlib.sha256(blob).hexdigest()),), "t"))

    def fetch(url, timeout=60.0):
        if not online:
            raise OSError(f"could not download {url} (offline)")
        pytest.fail("downloaded")
    monkeypatch.setattr(D, "_fetch", fetch)
    (tmp_path / "tiny.txt").mkdir()
    with pytest.raises(OSError) as e:
        D.download_corpus("tiny", tmp_path)
    assert str(e.value).startswith(f"corpus 'tiny' is cached as {tmp_path / 'tiny.txt'}, but "
                                   f"{tmp_path / 'tiny.txt'} is a folder: move it away"), e.value
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(OSError) as e:
        D.download_corpus("tiny", tmp_path / "file")
    assert f"but {tmp_path / 'file'} is not a folder" in str(e.value), e.value


def test_offline_error_says_how_a_many_part_corpus_is_placed(tmp_path, monkeypatch):
    """Offline, `--data seyfettin` said "Corpus 'seyfettin' (28 files) can also be placed by
    hand at .../turkish_omer_seyfettin.txt": 28 files at one file's path, with no word of how
    they make that file. It now says it is one file, the parts joined in order with a newline
    between them (what download_corpus writes), and a one-part corpus names no parts."""
    parts = [b"bir\n", b"iki\n"]
    joined = b"\n".join(parts)
    monkeypatch.setitem(D.CORPORA, "two", D.Corpus(
        "two", "two.txt", hashlib.sha256(joined).hexdigest(),
        tuple((f"http://127.0.0.1:9/{i}", hashlib.sha256(b).hexdigest())
              for i, b in enumerate(parts)), "t"))

    def offline(url, timeout=60.0):
        raise OSError(f"could not download {url} (offline)")
    monkeypatch.setattr(D, "_fetch", offline)
    for cached in (None, b"bir\niki\n"):                 # no file; a file joined wrongly
        if cached is not None:
            (tmp_path / "two.txt").write_bytes(cached)
        with pytest.raises(OSError) as e:
            D.download_corpus("two", tmp_path)
        msg = str(e.value)
        assert "(2 files)" not in msg and "as one file" in msg, msg
        assert "its 2 parts" in msg and "joined in order with a newline between them" in msg
    (tmp_path / "two.txt").write_bytes(joined)             # joined as the message says
    assert D.download_corpus("two", tmp_path) == tmp_path / "two.txt"
    monkeypatch.setitem(D.CORPORA, "one", D.Corpus("one", "one.txt", "0" * 64,
                                                   (("http://127.0.0.1:9/x", "0" * 64),), "t"))
    with pytest.raises(OSError) as e:
        D.download_corpus("one", tmp_path)
    assert "parts" not in str(e.value) and "file)" not in str(e.value)


def test_seyfettin_parts_joined_with_newline(tmp_path, monkeypatch):
    parts = [b"bir\n", b"iki\n"]
    joined = b"\n".join(parts)
    corpus = D.Corpus("s2", "s2.txt", hashlib.sha256(joined).hexdigest(),
                      tuple((f"u{i}", hashlib.sha256(p).hexdigest()) for i, p in
                            enumerate(parts)), "t")
    monkeypatch.setitem(D.CORPORA, "s2", corpus)
    monkeypatch.setattr(D, "_fetch", lambda url, timeout=60.0: parts[int(url[1:])])
    assert D.download_corpus("s2", tmp_path).read_bytes() == b"bir\n\niki\n"
    assert len(D.CORPORA["seyfettin"].parts) == 28
    assert D.clean_seyfettin(":&mdash; Evet&acirc;\nx") == "— Evetâ\nx"


def test_split_and_short_text_errors():
    ids = np.arange(1000, dtype=np.uint16)
    d = D.split_ids(ids, block_size=8)
    assert d.train.size == 900 and d.val.size == 100
    np.testing.assert_array_equal(np.concatenate([d.train, d.val]), ids)   # contiguous
    with pytest.raises(ValueError, match="shorter than block_size"):
        D.split_ids(ids[:5], block_size=8)
    with pytest.raises(ValueError, match="validation part has 3"):
        D.split_ids(ids[:30], block_size=8)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 400), block_size=st.integers(1, 300))
def test_the_block_size_a_split_error_suggests_fits(n, block_size):
    """The error's suggested block_size must itself work (it once fitted the whole text but
    not its 10 % validation part); with no block_size that fits, it names a length that does."""
    import re
    ids = np.arange(n, dtype=np.uint16)
    try:
        D.split_ids(ids, block_size)
        return
    except ValueError as e:
        msg = str(e)
    m = re.search(r"block_size=(\d+) at most", msg)
    if m:
        D.split_ids(ids, int(m.group(1)))
        with pytest.raises(ValueError):
            D.split_ids(ids, int(m.group(1)) + 1)
    else:
        need = int(re.search(r"at least (\d+) tokens", msg).group(1))
        D.split_ids(np.arange(need, dtype=np.uint16), 1)


def test_encode_corpus_compact_and_mmap(tmp_path):
    tok = CharTokenizer.from_text(TR)
    text = TR * 50
    a = D.encode_corpus(text, tok)
    assert a.dtype == np.uint16
    b = D.encode_corpus(text, tok, path=tmp_path / "tokens.npy", chunk_chars=37)
    assert isinstance(b, np.memmap)
    np.testing.assert_array_equal(a, b)
    assert tok.decode(b) == text
    assert D.id_dtype(70_000) == np.uint32



def test_encode_corpus_chunks_of_a_text_without_newlines(tmp_path):
    # Satır sonu olmayan uzun bir metin de sözcük ortasından değil, bir boşluktan önce
    # kesilmeli: NFD yazılmış "ş" (s + U+0327) iki parçaya bölünürse ikinci parçadaki yalnız
    # çengel NFC sözlüğünde yoktur (ValueError), bölünmüş sözcükler de başka belirteçler verir
    import unicodedata
    text = unicodedata.normalize("NFD", "şişe şaşkın kuş, ılık İğde ağacı; " * 40)
    tok = CharTokenizer.from_text(text)
    whole = tok.encode(text)
    for chunk_chars in (20, 33, 64, 101):
        assert D.encode_corpus(text, tok, chunk_chars=chunk_chars).tolist() == whole
        mm = D.encode_corpus(text, tok, path=tmp_path / "tokens.npy", chunk_chars=chunk_chars)
        assert mm.tolist() == whole

def test_encode_corpus_chunks_of_a_crlf_text_without_spaces(tmp_path):
    # Windows satır sonları ("\r\n") ve boşluksuz satırlar (bir sözcük listesi): parça "\r\n"den
    # önce kesilmeli. "\n"den önceki "\r" bir boşluk sayılıp satır sonları atlanıyor, boşluk da
    # olmadığından parça sözcük ortasından (NFD "ş"nin çengelinden önce) kesiliyordu
    import unicodedata
    text = unicodedata.normalize("NFD", "\r\n".join(["şişe", "şaşkın", "kuş,", "ılık"] * 40))
    tok = CharTokenizer.from_text(text)
    whole = tok.encode(text)
    for chunk_chars in (20, 33, 64, 101):
        pieces = list(D._chunks(text, chunk_chars))
        assert "".join(pieces) == text and len(pieces) > 1
        assert all(p.startswith("\r\n") for p in pieces[1:]), chunk_chars
        assert D.encode_corpus(text, tok, chunk_chars=chunk_chars).tolist() == whole
        mm = D.encode_corpus(text, tok, path=tmp_path / "tokens.npy", chunk_chars=chunk_chars)
        assert mm.tolist() == whole


def test_batch_sampler_reproducible_and_shifted():
    ids = np.arange(500, dtype=np.uint16)
    data = D.split_ids(ids, 16)
    s1 = D.BatchSampler(data, 16, 4, seed=7)
    w = s1.train_batch()
    assert w.shape == (4, 17) and w.dtype == np.int64
    np.testing.assert_array_equal(w[:, 1:], w[:, :-1] + 1)     # y is x shifted by one
    state = s1.get_state()
    nxt = s1.train_batch()
    s2 = D.BatchSampler(data, 16, 4, seed=7)
    s2.set_state(state)
    np.testing.assert_array_equal(s2.train_batch(), nxt)
    # eval batches do not disturb the training stream and depend only on (seed, step)
    e1 = list(s1.eval_batches("val", 2, step=5))
    e2 = list(s2.eval_batches("val", 2, step=5))
    np.testing.assert_array_equal(e1[0], e2[0])
    assert e1[0].min() >= 450
    np.testing.assert_array_equal(s1.train_batch(), s2.train_batch())


def test_random_streams_are_independent_of_the_weight_init_stream():
    """Training batches, evaluation batches and dropout must not reuse the bits the initial
    weights are drawn from (SeedSequence ignores trailing zeros: [seed, 0] == seed)."""
    from nanograd_llm.backend import host_rng
    from nanograd_llm.data import STREAM_DROPOUT, BatchSampler, TokenData

    seed = 1337
    ids = np.arange(5000, dtype=np.uint16)
    sampler = BatchSampler(TokenData(ids[:4500], ids[4500:]), block_size=8, batch_size=6,
                           seed=seed)
    init_bits = host_rng(seed).bit_generator.random_raw(8)
    streams = {
        "train": sampler.rng.bit_generator.random_raw(8),
        "dropout step 0": np.random.default_rng([seed, STREAM_DROPOUT, 0]).bit_generator
        .random_raw(8),
    }
    for split in ("train", "val"):
        rng = np.random.default_rng([seed, 1 if split == "train" else 2, 0])
        streams[f"eval {split}"] = rng.bit_generator.random_raw(8)
    # the evaluation streams really are those the sampler uses
    w = next(sampler.eval_batches("val", 1, 0))
    ix = np.random.default_rng([seed, 2, 0]).integers(0, 500 - 8, size=6)
    assert np.array_equal(w[:, 0], ids[4500:][ix])
    named = {"init": init_bits, **streams}
    keys = list(named)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            assert not np.array_equal(named[a], named[b]), f"{a} and {b} share a stream"


def test_cache_dir_order(tmp_path, monkeypatch):
    """$NANOGRAD_LLM_DATA_DIR, else $XDG_CACHE_HOME/nanograd_llm, else ~/.cache/nanograd_llm."""
    monkeypatch.delenv("NANOGRAD_LLM_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert D.cache_dir() == tmp_path / "xdg" / "nanograd_llm"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert D.cache_dir() == tmp_path / "home" / ".cache" / "nanograd_llm"
    monkeypatch.setenv("NANOGRAD_LLM_DATA_DIR", str(tmp_path / "mine"))
    assert D.cache_dir() == tmp_path / "mine"


@pytest.mark.parametrize("fraction", [0.05, 0.5])
def test_val_fraction_splits_contiguously(fraction):
    ids = np.arange(1000, dtype=np.uint16)
    data = D.split_ids(ids, 8, fraction)
    n_val = round(1000 * fraction)
    assert abs(data.val.size - n_val) <= 1 and data.train.size + data.val.size == 1000
    np.testing.assert_array_equal(np.concatenate([data.train, data.val]), ids)


def test_evaluation_batches_depend_on_the_step():
    """Each evaluation draws fresh windows: the stream is seeded by (seed, split, step)."""
    from nanograd_llm.data import BatchSampler, TokenData
    ids = np.arange(5000, dtype=np.uint16)
    sampler = BatchSampler(TokenData(ids[:4500], ids[4500:]), block_size=8, batch_size=6, seed=3)
    for split, stream, n in (("train", 1, 4500), ("val", 2, 500)):
        a = next(sampler.eval_batches(split, 1, 5))
        b = next(sampler.eval_batches(split, 1, 6))
        assert not np.array_equal(a, b)
        ix = np.random.default_rng([3, stream, 6]).integers(0, n - 8, size=6)
        assert np.array_equal(b[:, 0], ids[:4500][ix] if split == "train" else ids[4500:][ix])
        assert np.array_equal(a, next(sampler.eval_batches(split, 1, 5)))   # reproducible


def test_train_batch_refuses_a_batch_size_that_is_not_a_positive_integer():
    """batch_size=0 used to mean the default size (`0 or self.batch_size`), silently."""
    ids = np.arange(200) % 7
    s = D.BatchSampler(D.TokenData(ids[:150], ids[150:]), 16, 4, seed=7)
    assert s.train_batch().shape == (4, 17) and s.train_batch(np.int64(2)).shape == (2, 17)
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            s.train_batch(bad)


@pytest.mark.parametrize("name", sorted(D.CORPORA))
def test_named_corpora_pin_the_digest_of_their_text(name):
    """text_sha256 is what a run on the corpus records (the trainer compares it before any
    download); checked against a verified cached copy where one exists."""
    c = D.CORPORA[name]
    assert len(c.text_sha256) == 64 and D.known_text_sha256(name) == c.text_sha256
    path = D.cache_dir() / c.filename
    if not path.is_file() or D._sha256_file(path) != c.sha256:
        pytest.skip(f"no verified copy of {name} in {D.cache_dir()}")
    text, _ = D.load_text(name)
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == c.text_sha256


def test_a_changed_part_of_a_many_part_corpus_names_its_url(tmp_path, monkeypatch):
    """Each part of a corpus is checked on its own: a part that changed upstream is named by its
    address (not only reported as a wrong digest of the joined corpus)."""
    parts = [b"bir\n", b"iki\n", b"\xc3\xbc\xc3\xa7\n"]
    corpus = D.Corpus("s3", "s3.txt", hashlib.sha256(b"\n".join(parts)).hexdigest(),
                      tuple((f"u{i}", hashlib.sha256(p).hexdigest()) for i, p in
                            enumerate(parts)), "t")
    monkeypatch.setitem(D.CORPORA, "s3", corpus)
    served = {"u0": parts[0], "u1": b"iki (edited)\n", "u2": parts[2]}
    monkeypatch.setattr(D, "_fetch", lambda url, timeout=60.0: served[url])
    with pytest.raises(OSError, match="download of u1 has sha256"):
        D.download_corpus("s3", tmp_path)
    assert not (tmp_path / "s3.txt").exists()


def test_a_bad_byte_after_a_bom_is_reported_at_its_file_offset(tmp_path):
    p = tmp_path / "bom.txt"
    p.write_bytes(b"\xef\xbb\xbfok\n\xff")
    with pytest.raises(ValueError, match=r"0xff at byte offset 6 \(line 2\)"):
        D.read_text_file(p)


def test_id_dtype_switches_to_uint32_past_65536_ids():
    assert D.id_dtype(1) == np.uint16 and D.id_dtype(1 << 16) == np.uint16
    assert D.id_dtype((1 << 16) + 1) == np.uint32

    class Big:                                   # ids up to 65 536: uint16 would wrap to 0
        vocab_size = (1 << 16) + 1

        def encode(self, text):
            return [65_536 if c == "z" else ord(c) for c in text]
    assert D.encode_corpus("az", Big()).tolist() == [97, 65_536]


def test_a_token_file_of_one_token_keeps_it(tmp_path):
    tok = CharTokenizer.from_text("ab")
    ids = D.encode_corpus("b", tok, path=tmp_path / "tokens.npy")
    assert ids.tolist() == [1]


def test_the_seyfettin_corpus_is_cleaned_when_loaded(tmp_path, monkeypatch):
    raw = tmp_path / "turkish_omer_seyfettin.txt"
    raw.write_text(":&mdash; Evet, dedi&acirc;\nKapı&ndash;pencere\n", encoding="utf-8")
    monkeypatch.setattr(D, "download_corpus", lambda name, directory=None, instead=None: raw)
    text, label = D.load_text("seyfettin")
    assert label == "seyfettin"
    assert text == "— Evet, dediâ\nKapı–pencere\n"


def test_char_vocabulary_entries_are_nfc_normalised():
    """A vocabulary written with a character that NFC maps to another one (here the ANGSTROM
    SIGN U+212B, whose NFC form is Å U+00C5) is stored in NFC, like the text it encodes."""
    tok = CharTokenizer(["\u212b", "a"])
    assert tok.chars == ["\u00c5", "a"]
    assert tok.encode("a\u212b") == [1, 0] and tok.decode([0]) == "\u00c5"
    with pytest.raises(ValueError, match="duplicate"):
        CharTokenizer(["\u212b", "\u00c5"])


def test_char_vocabulary_is_the_sorted_characters():
    """The module's example: the vocabulary of "ab a\\n" is ["\\n", " ", "a", "b"]."""
    tok = CharTokenizer.from_text("ab a\n")
    assert tok.chars == ["\n", " ", "a", "b"]
    assert tok.encode("ab a") == [2, 3, 1, 2]


def test_char_decode_refuses_negative_ids():
    tok = CharTokenizer.from_text("abc")
    for bad in ([-1], np.array([0, -3])):
        with pytest.raises(ValueError, match="outside the vocabulary"):
            tok.decode(bad)


def test_char_encode_array_holds_every_id():
    chars = [chr(0x100 + i) for i in range(300)]           # ids past 255
    tok = CharTokenizer(chars)
    a = tok.encode_array("".join(reversed(chars)))
    assert a.dtype == np.uint16 and a.tolist() == list(range(299, -1, -1))


def test_split_ids_takes_a_list_and_checks_its_arguments():
    """split_ids(tok.encode(text), 8) (encode returns a list) fell with "'list' object has no
    attribute 'size'", and val_fraction=1.5 (a share above 1) gave a 50/50 split silently."""
    ids = list(range(200))
    d = D.split_ids(ids, 8)
    assert (d.train.size, d.val.size) == (180, 20) and d.train.dtype.kind == "i"
    for bad in (1.5, 1.0, 0.0, -0.1, "0.1"):
        with pytest.raises(ValueError, match="val_fraction must be a number in"):
            D.split_ids(ids, 8, bad)
    for bad in (0, -1, 8.5, True):
        with pytest.raises(ValueError, match="block_size must be a positive integer"):
            D.split_ids(ids, bad)
    with pytest.raises(ValueError, match=r"1-D array of integer token ids, got shape \(20, 10\)"):
        D.split_ids(np.arange(200).reshape(20, 10), 8)
    with pytest.raises(ValueError, match="got dtype float64"):
        D.split_ids(np.arange(200.0), 8)


def test_batch_sampler_names_its_argument_errors():
    """BatchSampler(ids, ...) fell with AttributeError, a block_size the split could not hold
    (split_ids(ids, 8) then BatchSampler(data, 64, ...)) with NumPy's "high <= 0", an unknown
    split with KeyError; batch_size 2.7 was cut to 2 and block_size 0 gave empty windows."""
    ids = np.arange(200) % 7
    data = D.split_ids(ids, 8)
    with pytest.raises(TypeError, match="expects the TokenData that split_ids"):
        D.BatchSampler(ids, 8, 4)
    with pytest.raises(ValueError, match=r"the train part has 180 token ids, fewer than "
                                         r"block_size \+ 1 = 201"):
        D.BatchSampler(data, 200, 4).train_batch()
    with pytest.raises(ValueError, match="the val part has 20 token ids"):
        next(D.BatchSampler(data, 64, 4).eval_batches("val", 1, 0))
    with pytest.raises(ValueError, match="split must be one of train, val, got 'test'"):
        next(D.BatchSampler(data, 8, 4).eval_batches("test", 1, 0))
    for kw, name in ((dict(block_size=0), "block_size"), (dict(block_size=-1), "block_size"),
                     (dict(batch_size=2.7), "batch_size"), (dict(batch_size=0), "batch_size"),
                     (dict(seed=-1), "seed"), (dict(seed=1.5), "seed")):
        args = {**dict(block_size=8, batch_size=4, seed=0), **kw}
        with pytest.raises(ValueError, match=name):
            D.BatchSampler(data, **args)
    # the edge: a part of exactly block_size + 1 ids has one window
    w = D.BatchSampler(data, 19, 2).eval_batches("val", 1, 0)
    np.testing.assert_array_equal(next(w), np.stack([data.val] * 2))


@pytest.mark.parametrize("text", [b"hello", None, ["h", "e"]])
def test_char_tokenizer_says_it_takes_a_str(text):
    """CharTokenizer.from_text(open(p, "rb").read()) and encode(b"...") fell with
    unicodedata's "normalize() argument 2 must be str, not bytes"."""
    tok = CharTokenizer.from_text("hello")
    match = r"expected a str, got " + type(text).__name__ + (
        r" \(decode it first" if isinstance(text, bytes) else "")
    with pytest.raises(TypeError, match=match):
        tok.encode(text)
    with pytest.raises(TypeError, match=match):
        CharTokenizer.from_text(text)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.float32, "float64"])
def test_char_encode_array_refuses_a_dtype_that_cannot_hold_the_ids(dtype):
    """encode_array(text, dtype=np.uint8) with 300 characters wrapped id 299 to 43 on NumPy 1.x
    (OverflowError on NumPy 2), and a float dtype gave ids the model refuses."""
    chars = [chr(0x100 + i) for i in range(300)]
    tok = CharTokenizer(chars)
    with pytest.raises(ValueError, match=r"cannot hold the token ids 0 … 299"):
        tok.encode_array(chars[-1], dtype=dtype)
    assert tok.encode_array(chars[-1], dtype=np.int16).tolist() == [299]
    assert CharTokenizer("ab").encode_array("ba", dtype=np.uint8).tolist() == [1, 0]


def test_batch_sampler_takes_a_token_data_of_lists_and_names_bad_parts():
    """A TokenData built by hand with lists was refused as "expects the TokenData ..., got
    TokenData" (a message that contradicts itself); a part of float or 2-D ids is named."""
    ids = list(range(100))
    s = D.BatchSampler(D.TokenData(ids[:80], ids[80:]), 8, 3, seed=1)
    w = s.train_batch()
    assert w.shape == (3, 9) and (w[:, 1:] == w[:, :-1] + 1).all()
    with pytest.raises(ValueError, match=r"data.val must be a 1-D array of integer token ids, "
                                         r"got dtype float64"):
        D.BatchSampler(D.TokenData(np.arange(80), np.arange(20.0)), 8, 3)
    with pytest.raises(ValueError, match=r"data.train must be .*got shape \(8, 10\)"):
        D.BatchSampler(D.TokenData(np.arange(80).reshape(8, 10), np.arange(20)), 8, 3)


def test_split_point_is_nanogpts_floor_of_the_training_share():
    """The training part is the first int(n·(1 − val_fraction)) ids (nanoGPT's
    `n = int(0.9 * len(data))`), not a rounded count: n = 15 gives 13 + 2, not 14 + 1."""
    for n in range(20, 120):
        d = D.split_ids(np.arange(n), 1, 0.1)
        assert d.train.size == int(0.9 * n), n
    assert D.split_point(15, 0.1) == 13 and D.split_point(19, 0.5) == 9


def test_split_point_is_the_exact_floor_not_a_float_product():
    """int(n * (1.0 - f)) in floats put the boundary one id early for some fractions (1 - 0.3
    is 0.6999…, so 90 ids gave 62 + 28, not 63 + 27; 0.9 gave 1000 ids 99 + 901): the
    training part is the exact floor of n·(1 − f), and BPE's training text is cut the same way."""
    from fractions import Fraction
    from types import SimpleNamespace
    from nanograd_llm.train import _training_text
    assert D.split_point(90, 0.3) == 63 and D.split_point(1000, 0.9) == 100
    d = D.split_ids(np.arange(90), 8, 0.3)
    assert (d.train.size, d.val.size) == (63, 27)
    for k in range(1, 100):
        f = k / 100
        for n in range(100, 3001, 100):         # n·(1 − f) is a whole number here
            assert D.split_point(n, f) == n * (100 - k) // 100, (n, f)
        for n in (7, 33, 401):
            assert D.split_point(n, f) == int(n * (1 - Fraction(k, 100))), (n, f)
    cfg = SimpleNamespace(tokenizer="bpe", val_fraction=0.3)
    assert len(_training_text("x" * 90, cfg)) == 63


def test_min_tokens_is_the_shortest_text_split_ids_accepts():
    """min_tokens(b, f) ids split, one id fewer does not (a part of exactly block_size + 1
    ids, the edge, is accepted)."""
    for f in (0.1, 0.25, 0.5, 0.9):
        for b in range(1, 30):
            n = D.min_tokens(b, f)
            D.split_ids(np.arange(n), b, f)
            with pytest.raises(ValueError):
                D.split_ids(np.arange(n - 1), b, f)


def test_a_part_of_exactly_block_size_ids_is_a_clear_error():
    """block_size ids hold no window of block_size + 1: the sampler's own message, not
    NumPy's "high <= 0" from rng.integers(0, 0)."""
    data = D.TokenData(np.arange(40), np.arange(8))
    with pytest.raises(ValueError, match=r"the val part has 8 token ids, fewer than "
                                         r"block_size \+ 1 = 9"):
        next(D.BatchSampler(data, 8, 2).eval_batches("val", 1, 0))


def test_encode_corpus_does_not_cut_inside_a_run_of_blank_lines():
    """A chunk may end before a newline only when a non-space precedes it: cutting
    "word \\n\\n next" between its two newlines splits the whitespace word " \\n\\n" that the
    whole text gives into " \\n" + "\\n", other token ids once BPE has merged it."""
    from nanograd_llm.tokenizers.bpe import BPETokenizer
    text = "".join(f"kelime{i % 7} \n\n satır{i % 5} " for i in range(40))
    tok = BPETokenizer.train(text, 270, special_tokens=())
    whole = tok.encode(text)
    assert tok.encode(" \n\n") != tok.encode(" \n") + tok.encode("\n")   # " \n\n" is merged
    for chunk_chars in range(10, 40):
        assert D.encode_corpus(text, tok, chunk_chars=chunk_chars).tolist() == whole, chunk_chars


@settings(max_examples=80, deadline=None)
@given(text=st.lists(st.sampled_from(list("abş\n ") + ["s\u0327", "\U0001f600", "\u00a0",
                                                      "İ", "\u0327"]),
                     min_size=1, max_size=60).map("".join),
       extra=st.text(max_size=5) | st.just("\ud800"))
def test_char_encode_array_gives_the_ids_encode_gives(text, extra):
    """encode_array looks the code points up in a table instead of building one Python int
    per character: the same ids as encode (after NFC), the same error for a character the
    vocabulary lacks (a lone surrogate too: no vocabulary holds one)."""
    tok = CharTokenizer.from_text(text)
    assert tok.encode_array(text).tolist() == tok.encode(text)
    other = text + extra
    try:
        want = tok.encode(other)
    except ValueError as e:
        with pytest.raises(ValueError, match="not in the tokenizer's vocabulary") as got:
            tok.encode_array(other)
        assert str(got.value) == str(e)
    else:
        assert tok.encode_array(other, dtype=np.int32).tolist() == want


def test_encode_corpus_with_a_char_tokenizer_builds_no_list_of_ids(tmp_path, monkeypatch):
    """encode_corpus turned every chunk into a Python list (28 bytes and a dict lookup per
    character) before making it an array: 3.8 of the 8.4 s that a 100 MB corpus took to
    start training. A character tokenizer now encodes each chunk straight into an array;
    the ids, in memory and in the .npy file, are those encode gives."""
    text = "Dikkat puanları öğe öğe hesaplanır.\nAttention scores, one by one.\n" * 50
    tok = CharTokenizer.from_text(text)
    want = np.asarray(tok.encode(text), dtype=np.uint16)

    def no_list(self, *a, **k):
        raise AssertionError("encode_corpus built a list of ids")
    monkeypatch.setattr(CharTokenizer, "encode", no_list)
    for path in (None, tmp_path / "tokens.npy"):
        ids = D.encode_corpus(text, tok, path=path, chunk_chars=100)
        assert ids.dtype == np.uint16 and np.array_equal(ids, want)


def test_encode_corpus_shows_a_progress_bar_over_the_characters(monkeypatch):
    """A 300 MB corpus took tens of seconds to encode (minutes with BPE) without a word on
    the screen: encode_corpus(progress=True) shows a bar over the characters encoded, held
    back PROGRESS_DELAY seconds so that a short text prints nothing; progress=False none."""
    import tqdm as tqdm_module
    bars = []

    class Recorder:
        def __init__(self, total, delay, disable, **kw):
            self.total, self.delay, self.disable = total, delay, disable
            self.n, self.closed = 0, False
            bars.append(self)

        def update(self, n):
            self.n += n

        def close(self):
            self.closed = True
    monkeypatch.setattr(tqdm_module, "tqdm", Recorder)
    text = "satır bir\nsatır iki\n" * 100
    tok = CharTokenizer.from_text(text)
    D.encode_corpus(text, tok, chunk_chars=64, progress=True)
    [bar] = bars
    assert (bar.total, bar.n, bar.closed, bar.disable) == (len(text), len(text), True, False)
    from nanograd_llm import backend
    assert bar.delay == backend.PROGRESS_DELAY > 0
    D.encode_corpus(text, tok, chunk_chars=64)
    assert len(bars) == 1


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60), st.integers(1, 9))
def test_text_sha256_is_the_digest_of_the_utf8_text(text, chunk_chars):
    """Hashed a piece at a time (here a few characters, astral ones included), the digest is
    the one of the whole text's UTF-8 bytes that runs record as data_sha256."""
    want = hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert D.text_sha256(text, chunk_chars=chunk_chars) == want
    assert D.text_sha256(text) == want


def _peak_bytes(fn):
    import tracemalloc
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("where", ["train", "eval"])
def test_the_corpus_digest_needs_no_utf8_copy_of_the_text(where, monkeypatch, tmp_path):
    """train.prepare_data and evaluate.resolve_eval_data hashed text.encode("utf-8"): a copy of
    the whole corpus in UTF-8 (100 MB more at start-up for a 100 MB corpus). The digest is now
    taken a piece at a time: the peak stays far below the text's UTF-8 size."""
    from nanograd_llm import checkpoint as ck
    from nanograd_llm import train as T
    text = "ağaç dalı şöyle\n" * 600_000                # 9.6 M characters, 12 MB in UTF-8
    size = len(text.encode("utf-8"))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()

    class Encoded(Exception):
        pass

    def stop(*a, **k):                                  # the digest is taken before encoding
        raise Encoded
    if where == "train":
        monkeypatch.setattr(T, "load_text", lambda data, instead=None: (text, "big"))
        monkeypatch.setattr(T, "check_corpus_fits", lambda *a: None)
        monkeypatch.setattr(T, "encode_corpus", stop)
        cfg = T.TrainConfig(data="big")
        tok = CharTokenizer.from_text(text[:16])

        def run():
            with pytest.raises(Encoded):
                T.prepare_data(cfg, tmp_path, tok, sha256=digest)
    else:
        from nanograd_llm import evaluate as E
        got = {}
        monkeypatch.setattr(D, "load_text", lambda data, instead=None: (text, "big"))
        monkeypatch.setattr(ck, "find_run_dir", lambda p: tmp_path)
        monkeypatch.setattr(ck, "read_manifest", lambda d: {
            "train_config": {"data": "big"}, "extra": {"data_sha256": digest}})

        def run():
            got["split"] = E.resolve_eval_data(str(tmp_path), None, "big", None)[2]
    assert _peak_bytes(run) < size / 2                 # hashing the UTF-8 copy: > size
    if where == "eval":
        assert got["split"] == "val"                    # the digest matched: the run's text


def test_char_encode_array_of_a_subclass_follows_its_own_encode():
    """encode_array was np.fromiter(self.encode(text)); its lookup table (1e63312) skipped a
    subclass's own encode whenever every character was in the table, so the two gave
    different ids (encode_corpus guarded itself, a direct caller did not). A subclass that
    overrides encode gets the ids its encode gives."""
    class CaseFolding(CharTokenizer):
        def encode(self, text, errors="strict"):
            return super().encode(text.lower(), errors)

    tok = CaseFolding(list("Aab "))
    assert tok.encode("Ab A") == [1, 2, 3, 1]
    assert tok.encode_array("Ab A").tolist() == tok.encode("Ab A")
    assert D.encode_corpus("Ab A", tok).tolist() == tok.encode("Ab A")


def test_a_python_caller_of_load_text_or_download_corpus_is_told_its_own_argument(
        tmp_path, monkeypatch):
    """load_text and download_corpus of a named corpus that cannot be had ended their error,
    by default, "or train on any local text file with --data PATH": an option a Python caller
    does not have → str(e) names load_text's `data` argument (download_corpus: load_text),
    and the command_line_message (what a command prints) keeps data.INSTEAD unchanged."""
    offline_tiny_corpus(monkeypatch)
    monkeypatch.setenv("NANOGRAD_LLM_DATA_DIR", str(tmp_path))
    for call, python in ((lambda: D.load_text("tiny"),
                          ", or read any local text file by passing its path as data"),
                         (lambda: D.download_corpus("tiny"),
                          ", or read any local text file with load_text(path)")):
        with pytest.raises(OSError) as e:
            call()
        msg = str(e.value)
        assert msg.endswith(python) and "--data" not in msg, msg
        assert e.value.command_line_message == msg[:-len(python)] + ", or " + D.INSTEAD
        assert f"can also be placed by hand at {tmp_path / 'tiny.txt'}" in msg


def test_split_ids_at_a_given_cut_and_its_short_part_advice_is_approximate():
    """split_ids(cut=k) (a text cut by characters, each part encoded on its own) puts the val
    part at id k; a part too short still says how many ids each part has, and calls the
    val_fraction and text-length advice, computed from the ids, approximate."""
    d = D.split_ids(np.arange(100), 8, 0.1, cut=80)
    assert (d.train.size, d.val.size, d.split_by) == (80, 20, "characters")
    assert D.split_ids(np.arange(100), 8, 0.1).split_by == "tokens"
    with pytest.raises(ValueError, match=r"has 100 tokens: its 10% validation part has 10 and "
                                         r"its training part 90, .*val_fraction between about "
                                         r"0\.16 and 0\.84, a text of at least about 151 tokens "
                                         r"or block_size=9 at most"):
        D.split_ids(np.arange(100), 15, 0.1, cut=90)
    with pytest.raises(ValueError, match=r"cut must be an integer in \[0, 100\]"):
        D.split_ids(np.arange(100), 8, 0.1, cut=101)


def test_a_cut_texts_short_part_error_says_what_its_share_is_of():
    """For a text cut by characters (split_ids' `cut`), the error said "its 10% validation
    part has 12" where that part is the last 10% of the characters and 12% of the tokens: it
    now says which: "its validation part, the last 10% of its characters, has 12 tokens (12%
    of them)". Where the cut falls at val_fraction of the ids, and without a cut, the share of
    the tokens is val_fraction and the message is unchanged."""
    with pytest.raises(ValueError) as e:
        D.split_ids(np.arange(100), 15, 0.1, cut=88, source="the corpus 'x'")
    assert str(e.value).startswith(
        "the corpus 'x' has 100 tokens: its validation part, the last 10% of its characters, "
        "has 12 tokens (12% of them) and its training part 88, but each needs at least "
        "block_size + 1 = 16; use ")
    assert "10% validation part" not in str(e.value)
    with pytest.raises(ValueError, match=r"the last 30% of its characters, has 17 tokens "
                                         r"\(8\.33% of them\) and its training part 187, "):
        D.split_ids(np.arange(204), 19, 0.3, cut=187)
    for cut in (90, None):
        with pytest.raises(ValueError, match=r"has 100 tokens: its 10% validation part has 10 "
                                             r"and its training part 90, but each needs"):
            D.split_ids(np.arange(100), 15, 0.1, cut=cut)


@pytest.mark.parametrize("cut, n, val, share", [
    (4, 10_000, "9996 tokens", "99.96%"),           # .3g wrote 100%, with 4 training tokens
    (9_998, 10_000, "2 tokens", "0.02%"),
    (2_999_999, 3_000_000, "1 token", "0.0000333%"),  # .3g wrote "1 tokens (3.33e-05%"
    (0, 10_000, "10000 tokens", "100%"), (10_000, 10_000, "0 tokens", "0%")])
def test_a_cut_texts_short_part_share_is_not_rounded_to_all_or_none(cut, n, val, share):
    """The share of the tokens in a cut text's validation part was written with three
    significant digits: 9996 of 10 000 tokens read "(100% of them)" beside a training part of
    4, and one token of three million "1 tokens (3.33e-05% of them)". A share that is neither
    none nor all of the tokens is now never shown as 0% or 100%, nor in scientific notation;
    one token is "1 token"."""
    with pytest.raises(ValueError) as e:
        D.split_ids(np.arange(n), 8, 0.1, cut=cut)
    assert f"has {val} ({share} of them) and its training part {cut}," in str(e.value)


@pytest.mark.parametrize("cut, side", [(7837, "larger val_fraction than 0.1 (the validation"),
                                       (4, "smaller val_fraction than 0.1 (the training")])
def test_a_cut_text_long_enough_is_not_told_to_be_longer(cut, side):
    """A text cut by characters can hold more tokens than min_tokens and still leave one part
    short (a BPE text whose last 10% of characters encode into 2.5% of its tokens): the error
    advised "a text of at least about 2561 tokens" to a text of 8035. It now advises the
    val_fraction that gives the short part more of the characters (with the block size);
    a text shorter than min_tokens is still told how long it must be."""
    assert D.min_tokens(256 if cut > 4 else 8, 0.1) < 8035
    with pytest.raises(ValueError) as e:
        D.split_ids(np.arange(8035), 256 if cut > 4 else 8, 0.1, cut=cut)
    assert "a text of at least" not in str(e.value)
    assert f"; use a {side} part gets more of the characters) or block_size=" in str(e.value)
    with pytest.raises(ValueError) as e:         # no val_fraction to change: the block size
        D.split_ids(np.arange(8035), 256, 0.1, cut=7837, val_fraction_option=False)
    assert str(e.value).endswith("; use block_size=197 at most")
    with pytest.raises(ValueError, match=r"a text of at least about 2561 tokens"):
        D.split_ids(np.arange(2000), 256, 0.1, cut=1900)


@pytest.mark.parametrize("cut", [-3, 55, 2.0, True, None])
def test_encode_split_corpus_refuses_a_cut_outside_the_text(cut):
    """The cut is a character index of the text, in [0, len(text)]: a negative one or one past
    the end was taken as it came (-3 gave ids that are not the text's, none before the cut;
    55 gave them all before it), 2.0 failed deep inside with "slice indices must be integers",
    True was taken as 1. Each is refused with a clear error, as split_ids refuses
    a cut outside its ids."""
    from nanograd_llm.tokenizers import CharTokenizer
    text = "ab cd ef gh ij kl\n" * 3
    with pytest.raises(ValueError, match=r"cut must be an integer in \[0, 54\] \(a character "
                                         r"index of the text\), got "):
        D.encode_split_corpus(text, CharTokenizer.from_text(text), cut, chunk_chars=4)


def test_a_cut_texts_advice_for_a_val_fraction_with_no_room_is_approximate_too():
    """A val_fraction that leaves no room for the val part in any text is advised against with
    the text length val_fraction 0.1 would need: for a text cut by characters (split_ids'
    `cut`) that count of ids is as approximate as the other advice, and says "about" (it did
    not)."""
    with pytest.raises(ValueError, match=r"no room for the validation part in any text \(with "
                                         r"0\.1, a text of at least about 161 tokens\)"):
        D.split_ids(np.arange(20), 16, 1e-20, cut=20)
    with pytest.raises(ValueError, match=r"\(with 0\.1, a text of at least 161 tokens\)"):
        D.split_ids(np.arange(20), 16, 1e-20)


def test_encode_split_corpus_is_each_part_encoded_on_its_own(tmp_path):
    """encode_split_corpus(text, tok, c) is encode_corpus(text[:c]) followed by
    encode_corpus(text[c:]) (in pieces, in memory and into one .npy file), with the count of
    the first part's ids."""
    from nanograd_llm.tokenizers import CharTokenizer
    text = "ab cd\nef  gh\r\nij kl mn\n" * 9
    tok = CharTokenizer.from_text(text)
    for c in (0, 1, 37, 100, len(text)):
        first = D.encode_corpus(text[:c], tok, chunk_chars=7)
        ref = np.concatenate([first, D.encode_corpus(text[c:], tok, chunk_chars=7)])
        for path in (None, tmp_path / f"t{c}.npy"):
            ids, n = D.encode_split_corpus(text, tok, c, path=path, chunk_chars=7)
            np.testing.assert_array_equal(ids, ref)
            assert n == first.size == c
