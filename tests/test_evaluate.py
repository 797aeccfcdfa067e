"""nanograd_llm.evaluate and `nanograd-llm eval`: every position counted once, the numbers
against an independent computation, and the command's choices and errors."""
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanograd_llm import GPT, GPTConfig
from nanograd_llm.cli import main as cli_main
from nanograd_llm.evaluate import (EvalResult, encode_for_eval, evaluate_ids, evaluate_text,
                                   select_split, sliding_windows, token_nll)
from nanograd_llm.models.bigram import BigramLM
from nanograd_llm.tokenizers import CharTokenizer
from nanograd_llm.train import train

from _train_helpers import GPT2_TEXT, TEXT, tiny_config, tiny_gpt2_folder


@settings(max_examples=300, deadline=None)
@given(n=st.integers(2, 300), context=st.integers(1, 40), data=st.data())
def test_windows_count_every_target_once(n, context, data):
    L = min(context, n - 1)
    stride = data.draw(st.integers(1, L))
    wins = sliding_windows(n, context, stride)
    counted = []
    for k, (start, first) in enumerate(wins):
        assert 0 <= start and start + L <= n - 1           # inputs and targets inside the ids
        assert 0 <= first < L
        targets = list(range(start + 1 + first, start + L + 1))
        counted += targets
        if k > 0:                                          # after the first window, at least
            assert first >= L - stride                     # L - stride tokens of context
    assert counted == list(range(1, n))                    # each target once, in order
    assert sliding_windows(n, context) == sliding_windows(n, context, L)


def test_window_arguments_are_checked():
    with pytest.raises(ValueError, match="at least 2 tokens"):
        sliding_windows(1, 8)
    with pytest.raises(ValueError, match="stride must be between 1 and the window length 5"):
        sliding_windows(6, 8, 6)
    with pytest.raises(ValueError, match="stride"):
        sliding_windows(100, 8, 0)
    with pytest.raises(ValueError, match="context must be"):
        sliding_windows(100, 0)


def _model(V=11, T=8, seed=0, dtype="float64"):
    return GPT(GPTConfig(vocab_size=V, block_size=T, n_layer=1, n_head=2, n_embd=8),
               seed=seed, dtype=dtype)


def _brute_force_nll(model, ids, L, stride):
    """Each target's loss from its own forward pass over the context it is meant to have,
    derived here from the definition rather than from sliding_windows: windows start at
    0, S, 2S, … (the last one moved back to end at the last id); target p is counted by the
    first window whose end s + L reaches it, and sees ids[s:p]."""
    n = ids.size
    starts = list(range(0, n - 1 - L + 1, stride))
    if starts[-1] != n - 1 - L:
        starts.append(n - 1 - L)
    total = 0.0
    for p in range(1, n):
        s = next(s for s in starts if s + L >= p) if p > L else 0
        ctx = ids[s:p]
        logits, _ = model.forward(ctx[None, :])
        z = logits[0, -1]
        total += float(np.log(np.exp(z - z.max()).sum()) + z.max() - z[ids[p]])
    return total


@pytest.mark.parametrize("n,stride", [(33, None), (40, 3), (9, None), (5, 2), (57, 1)])
def test_totals_equal_an_independent_per_target_computation(n, stride):
    model = _model()
    ids = np.random.default_rng(n).integers(0, 11, n)
    L = min(8, n - 1)
    r = evaluate_ids(model, ids, stride=stride, batch_size=3)
    assert r.tokens == n - 1 and r.context == L and r.stride == (stride or L)
    ref = _brute_force_nll(model, ids, L, stride or L)
    assert r.nll == pytest.approx(ref, rel=1e-12)
    assert r.loss == pytest.approx(ref / (n - 1), rel=1e-12)
    assert r.perplexity == pytest.approx(math.exp(ref / (n - 1)), rel=1e-12)
    assert r.bits_per_token == pytest.approx(ref / (n - 1) / math.log(2), rel=1e-12)


def test_non_overlapping_windows_equal_the_training_loss():
    """Stride = block_size on (T+1)-aligned ids is the mean of the trainer's own batch losses."""
    model = _model(T=8)
    ids = np.random.default_rng(3).integers(0, 11, 8 * 6 + 1)
    w = ids[np.arange(6)[:, None] * 8 + np.arange(9)]                   # (6, 9)
    _, loss = model.forward(w[:, :-1], w[:, 1:])
    assert evaluate_ids(model, ids).loss == pytest.approx(float(loss), rel=1e-12)


def test_batch_size_and_dtype_do_not_change_the_result():
    ids = np.random.default_rng(4).integers(0, 11, 200)
    model = _model()
    results = [evaluate_ids(model, ids, stride=3, batch_size=b).nll for b in (1, 7, 1000)]
    assert results[1] == pytest.approx(results[0], rel=1e-12)
    assert results[2] == pytest.approx(results[0], rel=1e-12)
    f32 = evaluate_ids(_model(dtype="float32"), ids, stride=3).nll
    assert f32 == pytest.approx(results[0], rel=1e-5)


def test_shorter_context_and_the_model_mode_is_restored():
    model = _model(T=8)
    ids = np.random.default_rng(5).integers(0, 11, 50)
    short = evaluate_ids(model, ids, context=4)
    assert short.context == 4 and short.windows == 13                 # ceil(49 / 4)
    assert model.training                                              # put back in train mode
    model.eval()
    evaluate_ids(model, ids)
    assert not model.training
    with pytest.raises(ValueError, match="longer than the model's block_size 8"):
        evaluate_ids(model, ids, context=9)
    with pytest.raises(ValueError, match="integers"):
        evaluate_ids(model, ids.astype(float))


def test_dropout_is_off_during_evaluation():
    cfg = GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8, dropout=0.5)
    model = GPT(cfg, seed=0, dtype="float64")
    ids = np.random.default_rng(6).integers(0, 11, 40)
    a, b = evaluate_ids(model, ids).nll, evaluate_ids(model, ids).nll
    assert a == b
    cfg0 = GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8, dropout=0.0)
    assert evaluate_ids(GPT(cfg0, seed=0, dtype="float64"), ids).nll == a


def test_token_nll_and_vocab_limit():
    rng = np.random.default_rng(7)
    logits = rng.standard_normal((2, 3, 6))
    tgt = rng.integers(0, 4, (2, 3))
    full = token_nll(logits, tgt)
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(full, -np.log(np.take_along_axis(p, tgt[..., None], -1)[..., 0]),
                               rtol=1e-12)
    lim = token_nll(logits, tgt, vocab_limit=4)
    q = np.exp(logits[..., :4]) / np.exp(logits[..., :4]).sum(-1, keepdims=True)
    np.testing.assert_allclose(lim, -np.log(np.take_along_axis(q, tgt[..., None], -1)[..., 0]),
                               rtol=1e-12)
    # large logits: no overflow
    assert np.isfinite(token_nll(logits * 1e4, tgt)).all()


def test_bigram_model_takes_a_context_argument():
    model = BigramLM(7, seed=0, dtype="float64")
    ids = np.random.default_rng(8).integers(0, 7, 30)
    r = evaluate_ids(model, ids, context=5)
    table = model.params["token_embedding.weight"]
    z = table[ids[:-1]]
    ref = (np.log(np.exp(z).sum(-1)) - z[np.arange(29), ids[1:]]).sum()
    assert r.nll == pytest.approx(ref, rel=1e-12)
    assert evaluate_ids(model, ids, context=29).nll == pytest.approx(ref, rel=1e-12)
    default = evaluate_ids(model, ids)                 # no block_size: DEFAULT_CONTEXT windows
    assert default.context == 29 and default.nll == pytest.approx(ref, rel=1e-12)
    long_ids = np.random.default_rng(9).integers(0, 7, 700)
    assert evaluate_ids(model, long_ids).context == 256


def test_cli_eval_of_a_bigram_run(tmp_path, capsys):
    cfg = tiny_config(tmp_path, model="bigram", max_iters=3, eval_interval=3)
    train(cfg, quiet=True)
    out = _eval_json(capsys, "--ckpt", str(tmp_path / "run"))
    assert out["split"] == "val" and out["context"] == min(256, out["tokens"])
    (tmp_path / "one.txt").write_text("a", encoding="utf-8")
    assert cli_main(["eval", "--ckpt", str(tmp_path / "run"), "--data",
                     str(tmp_path / "one.txt")]) == 1
    assert "error: the text has 1 token(s)" in capsys.readouterr().err


def test_select_split_matches_the_trainer():
    from nanograd_llm.data import split_ids
    ids = np.arange(1000)
    d = split_ids(ids, 16, 0.1)
    np.testing.assert_array_equal(select_split(ids, "val", 0.1), d.val)
    np.testing.assert_array_equal(select_split(ids, "train", 0.1), d.train)
    assert select_split(ids, "all") is ids
    with pytest.raises(ValueError, match="split must be"):
        select_split(ids, "test")


def test_evaluate_text_counts_characters_and_unknowns():
    tok = CharTokenizer.from_text("abc \n")
    model = _model(V=tok.vocab_size)
    r, skipped = evaluate_text(model, tok, "abc cab\nba " * 5)
    assert r.tokens == 54 and r.characters == 54 and not skipped
    assert r.bits_per_char == pytest.approx(r.bits_per_token, rel=1e-12)
    # Python's advice is the keyword, the command line's (what report_errors prints) the option
    with pytest.raises(ValueError, match=r"2 character\(s\).*'x' ×2.*'é' ×1.*; use "
                                         r"unknown='skip' to leave them out$") as e:
        evaluate_text(model, tok, "abxcx é")
    assert e.value.command_line_message == str(e.value).replace("unknown='skip'",
                                                                "--unknown skip")
    r2, skipped = evaluate_text(model, tok, "abxcx é", unknown="skip")
    assert skipped == {"x": 2, "é": 1} and r2.tokens == 3               # "abc " -> 3 targets
    r3, _ = evaluate_text(model, tok, "abc cab\nba " * 5, max_tokens=10)
    assert r3.tokens == 10
    with pytest.raises(ValueError, match="^the text has 1 token.*at least 2 are needed"):
        evaluate_text(model, tok, "a")


def test_bits_per_char_with_a_bpe_tokenizer():
    pytest.importorskip("regex")
    from nanograd_llm.tokenizers.bpe import BPETokenizer
    text = "merhaba dünya, merhaba güneş; dünya dönüyor. " * 20
    tok = BPETokenizer.train(text, 270)
    model = _model(V=tok.vocab_size, T=16)
    r, _ = evaluate_text(model, tok, text)
    ids = tok.encode(text)
    assert r.tokens == len(ids) - 1
    assert r.characters == len(tok.decode(ids[1:])) > r.tokens
    assert r.bits_per_char == pytest.approx(r.nll / math.log(2) / r.characters, rel=1e-12)


def test_bits_per_char_counts_nfc_characters_for_every_tokenizer():
    # Aynı metin NFD yazılmışsa BPE onu olduğu gibi kodlar; karakter sayısı yine de NFC'dir
    pytest.importorskip("regex")
    import unicodedata
    from nanograd_llm.tokenizers.bpe import BPETokenizer
    nfc = "Ali, Şükrü ağaçta; İğdır'da ılık, çiçekli bir gün. " * 6
    nfd = unicodedata.normalize("NFD", nfc)
    assert len(nfd) > len(nfc)
    bpe = BPETokenizer.train(nfc, 270)
    model = _model(V=bpe.vocab_size, T=16)
    r, _ = evaluate_text(model, bpe, nfd)
    first = unicodedata.normalize("NFC", bpe.decode(bpe.encode(nfd)[:1]))
    assert r.characters == len(nfc) - len(first)
    char = CharTokenizer.from_text(nfc)
    rc, _ = evaluate_text(_model(V=char.vocab_size, T=16), char, nfd)
    assert rc.characters == len(nfc) - 1


def test_bits_per_char_counts_a_character_split_across_tokens_once():
    # A byte-level BPE cuts a character it has no merge for into byte tokens: the characters are
    # those of the text the targets cover, not U+FFFDs of stray continuation bytes
    pytest.importorskip("regex")
    from nanograd_llm.tokenizers.bpe import BPETokenizer
    tok = BPETokenizer.train("hello world, the quick brown fox " * 20, 270)
    text = "🦊 the quick brown fox 🦊🦊 hello"
    ids = tok.encode(text)
    assert len(tok.encode("🦊")) == 4 and ids[:4] == tok.encode("🦊")
    model = _model(V=tok.vocab_size, T=16)
    r, _ = evaluate_text(model, tok, text)
    assert r.tokens == len(ids) - 1
    assert r.characters == len(text) - 1        # the fox begins in the first (unscored) token
    assert r.bits_per_char == pytest.approx(r.nll / math.log(2) / (len(text) - 1), rel=1e-12)


def test_result_dict():
    r = EvalResult(tokens=4, nll=4 * math.log(3), characters=8, windows=1, context=4, stride=4,
                   vocab_size=9)
    d = r.to_dict()
    assert d["perplexity"] == pytest.approx(3.0) and d["bits_per_char"] == pytest.approx(
        math.log2(3) / 2)
    assert d["uniform_loss"] == pytest.approx(math.log(9))
    assert EvalResult(1, 1.0, 0, 1, 1, 1, 2).bits_per_char is None


# -- the command -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evalrun")
    cfg = tiny_config(tmp, dropout=0.0, max_iters=8)
    train(cfg, quiet=True, progress=False)
    return tmp


def _eval_json(capsys, *args):
    assert cli_main(["eval", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_cli_eval_defaults_to_the_runs_own_val_part(run_dir, capsys):
    from nanograd_llm.checkpoint import load_model, load_run_tokenizer
    from nanograd_llm.data import encode_corpus, split_ids
    run = run_dir / "run"
    out = _eval_json(capsys, "--ckpt", str(run))
    assert out["split"] == "val" and out["data"] == str(run_dir / "corpus.txt")
    model, tok = load_model(run), load_run_tokenizer(run)
    val = split_ids(encode_corpus(TEXT, tok), 16).val
    ref = evaluate_ids(model, np.asarray(val, dtype=np.int64))
    assert out["tokens"] == val.size - 1 == ref.tokens
    assert out["loss"] == pytest.approx(ref.loss, rel=1e-6)
    # the same file named explicitly is still "the run's corpus": val by default
    assert _eval_json(capsys, "--ckpt", str(run), "--data", str(run_dir / "corpus.txt"))[
        "split"] == "val"
    train_part = _eval_json(capsys, "--ckpt", str(run), "--split", "train", "--stride", "4")
    assert train_part["split"] == "train" and train_part["stride"] == 4
    assert train_part["tokens"] == split_ids(encode_corpus(TEXT, tok), 16).train.size - 1


def test_cli_eval_other_text_defaults_to_all(run_dir, tmp_path, capsys):
    other = tmp_path / "other.txt"
    other.write_text("Dikkat katmanı geri yayılım.\n" * 3, encoding="utf-8")
    out = _eval_json(capsys, "--ckpt", str(run_dir / "run"), "--data", str(other))
    assert out["split"] == "all" and out["tokens"] == len(other.read_text()) - 1
    assert out["characters"] == out["tokens"]
    assert cli_main(["eval", "--ckpt", str(run_dir / "run"), "--data", str(other)]) == 0
    text = capsys.readouterr().out
    assert "the whole text of" in text and "perplexity" in text and "bits/character" in text


@pytest.mark.parametrize("args,msg", [
    (["--stride", "0"], "--stride must be >= 1"),
    (["--stride", "17"], "error: --stride must be between 1 and the window length 16, got 17"),
    (["--context", "17"], "error: --context 17 is longer than the model's block_size 16"),
    (["--context", "4", "--stride", "5"], "error: --stride must be between 1 and the window "
                                          "length 4, got 5"),
    (["--max-tokens", "0"], "--max-tokens must be >= 1"),
    (["--batch-size", "-1"], "--batch-size must be >= 1"),
    (["--data", "no/such/file.txt"], "data file not found"),
])
def test_cli_eval_errors(run_dir, capsys, args, msg):
    assert cli_main(["eval", "--ckpt", str(run_dir / "run"), *args]) == 1
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err


def test_window_errors_name_the_keyword_in_python_and_the_option_on_the_command_line():
    """`eval --stride 17` and `--context 17` were told 'stride must be …' and 'context 17 is
    longer …', the keyword names, not the options typed: the command line's message
    (command_line_message, what report_errors prints) names --stride / --context, Python's
    the keyword."""
    model = _model(T=8)
    ids = np.random.default_rng(0).integers(0, 11, 40)
    for kw, python, command in (
            (dict(stride=9), "stride must be between 1 and the window length 8, got 9",
             "--stride must be between 1 and the window length 8, got 9"),
            (dict(context=9), "context 9 is longer than the model's block_size 8",
             "--context 9 is longer than the model's block_size 8"),
            (dict(batch_size=0), "batch_size must be an integer >= 1, got 0",
             "--batch-size must be an integer >= 1, got 0")):
        with pytest.raises(ValueError) as e:
            evaluate_ids(model, ids, **kw)
        assert str(e.value) == python and e.value.command_line_message == command


def test_cli_eval_unknown_characters_and_hf_without_data(run_dir, tmp_path, capsys):
    odd = tmp_path / "odd.txt"
    odd.write_text("Dikkat ©© katmanı Ω\n" * 2, encoding="utf-8")
    run = str(run_dir / "run")
    assert cli_main(["eval", "--ckpt", run, "--data", str(odd)]) == 1
    err = capsys.readouterr().err
    assert "'©' ×4" in err and err.endswith("; use --unknown skip to leave them out\n"), err
    out = _eval_json(capsys, "--ckpt", run, "--data", str(odd), "--unknown", "skip")
    assert out["skipped_characters"] == 6
    assert cli_main(["eval", "--hf", str(tmp_path), "--data", str(odd)]) == 1
    assert cli_main(["eval", "--hf", str(tmp_path)]) == 1
    assert "--hf needs --data" in capsys.readouterr().err


def test_cli_eval_of_a_folder_of_the_other_kind_is_told_eval_can_read_it(run_dir, tmp_path,
                                                                         capsys):
    """`eval --ckpt` of a GPT-2 folder was told "sample or chat with --hf DIR", and `eval --hf`
    of a training run "sample or chat with --ckpt DIR", as if eval could not read them: the
    advice names eval too, and following it evaluates."""
    run = run_dir / "run"
    tok = CharTokenizer.from_text(TEXT)
    GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=8),
        seed=1).save_hf(tmp_path / "hf")
    tok.save(str(tmp_path / "hf"))
    data = str(run_dir / "corpus.txt")
    assert cli_main(["eval", "--ckpt", str(tmp_path / "hf"), "--data", data]) == 1
    err = capsys.readouterr().err
    assert f"not a training run: sample, chat or eval with --hf {tmp_path / 'hf'}," in err, err
    assert _eval_json(capsys, "--hf", str(tmp_path / "hf"), "--data", data)["tokens"] > 0
    assert cli_main(["eval", "--hf", str(run), "--data", data]) == 1
    err = capsys.readouterr().err
    assert f"not a Hugging Face GPT-2 folder: sample, chat or eval with --ckpt {run}," in err, err
    assert _eval_json(capsys, "--ckpt", str(run), "--data", data)["tokens"] > 0


def test_cli_eval_a_moved_corpus_is_a_clear_error(tmp_path, capsys):
    cfg = tiny_config(tmp_path, dropout=0.0, max_iters=2, eval_interval=2)
    train(cfg, quiet=True, progress=False)
    (tmp_path / "corpus.txt").rename(tmp_path / "moved.txt")
    assert cli_main(["eval", "--ckpt", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "the corpus the run was trained on" in err and "--data" in err
    out = _eval_json(capsys, "--ckpt", str(tmp_path / "run"), "--data",
                     str(tmp_path / "moved.txt"))
    assert out["split"] == "val"                      # same text (sha256), so the run's val part


def test_cli_eval_changed_corpus_warns(tmp_path, capsys):
    cfg = tiny_config(tmp_path, dropout=0.0, max_iters=2, eval_interval=2)
    train(cfg, quiet=True, progress=False)
    (tmp_path / "corpus.txt").write_text(TEXT + "Dikkat.\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="has changed since the run was trained"):
        assert cli_main(["eval", "--ckpt", str(tmp_path / "run"), "--json"]) == 0


def _run_on_an_earlier_embedded_corpus(tmp_path, monkeypatch, saved, digest):
    """A tiny run trained on the embedded corpus (`saved`: its data setting, None or
    'embedded'), whose text then changes as an upgrade of the package changes it; without
    `digest` its manifest records no corpus sha256, as older versions saved it.
    -> (the run's folder, a file holding the text it was trained on)"""
    import dataclasses

    from nanograd_llm import checkpoint as ckpt
    from nanograd_llm import data as D
    old = tmp_path / "old_embedded.txt"
    old.write_text(TEXT, encoding="utf-8")
    monkeypatch.setattr(D, "EMBEDDED_PATH", old)
    train(dataclasses.replace(tiny_config(tmp_path, dropout=0.0, max_iters=1, eval_interval=1),
                              data=saved), quiet=True, progress=False)
    run = tmp_path / "run"
    man = json.loads((run / ckpt.MANIFEST).read_text(encoding="utf-8"))
    assert man["extra"]["data_sha256"]
    if not digest:
        del man["extra"]["data_sha256"]                 # as an older version saved it
        (run / ckpt.MANIFEST).write_text(json.dumps(man), encoding="utf-8")
    new = tmp_path / "new_embedded.txt"                 # the upgraded package's embedded text
    new.write_text(TEXT.replace("Dikkat", "Dikkat ve geri"), encoding="utf-8")
    monkeypatch.setattr(D, "EMBEDDED_PATH", new)
    return run, old


@pytest.mark.parametrize("digest", [False, True])
def test_cli_eval_of_a_run_on_an_earlier_versions_embedded_corpus_warns(
        tmp_path, monkeypatch, capsys, digest):
    """The embedded corpus is rebuilt with each version. `eval --ckpt` of a run an older
    version trained on it without recording the corpus's sha256 measured today's embedded
    text's val part as the run's own without a word; now it warns, as for a run whose
    digest differs (whose warning names the way to the run's own text: --data PATH, a copy
    of that version's embedded text, which the digest checks)."""
    run, old = _run_on_an_earlier_embedded_corpus(tmp_path, monkeypatch, None, digest)
    with pytest.warns(UserWarning, match="embedded" if digest else "older version") as got:
        assert cli_main(["eval", "--ckpt", str(run), "--json"]) == 0
    if digest:
        assert any("--data PATH" in str(w.message) for w in got), [str(w.message) for w in got]
        capsys.readouterr()
        out = _eval_json(capsys, "--ckpt", str(run), "--data", str(old))
        assert out["split"] == "val"                    # the copy is the run's own text


@pytest.mark.parametrize("saved", ["embedded", None])
def test_cli_eval_of_an_earlier_versions_embedded_run_with_data_embedded_warns(
        tmp_path, monkeypatch, capsys, saved):
    """A run trained on the embedded corpus of an earlier version that recorded its sha256,
    evaluated with --data embedded given explicitly, was measured on this version's embedded
    text as on a text the model had not seen (the whole of it) without a word, while --ckpt
    alone warns that the corpus has changed and names the way to the run's own text. Now
    --data embedded warns too, naming that way; a copy of the old text, the run's own, does
    not warn."""
    run, old = _run_on_an_earlier_embedded_corpus(tmp_path, monkeypatch, saved, True)
    capsys.readouterr()
    with pytest.warns(UserWarning) as got:
        assert cli_main(["eval", "--ckpt", str(run), "--json", "--data", "embedded"]) == 0
    assert json.loads(capsys.readouterr().out)["split"] == "all"
    said = [str(w.message) for w in got]
    assert sum("embedded corpus of another version" in m and "--data PATH" in m
               for m in said) == 1, said
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cli_main(["eval", "--ckpt", str(run), "--json", "--data", str(old)]) == 0
    assert json.loads(capsys.readouterr().out)["split"] == "val"


@pytest.mark.parametrize("saved", ["embedded", None])
def test_cli_eval_of_an_older_embedded_run_warns_with_data_embedded_given_too(
        tmp_path, monkeypatch, capsys, saved):
    """A run an older version trained on the embedded corpus (data='embedded', no sha256
    recorded) evaluated with --data embedded given explicitly is measured on its own val part,
    as without --data, but the warning that this part may not be the text the run held out
    was given only without --data. Now both warn, once. A run saved with data=None (the
    setting's default, the embedded corpus too) was not even taken to be on its own corpus
    with --data embedded: the whole text, the part it trained on included, was measured as a
    text the model had not seen."""
    run, _ = _run_on_an_earlier_embedded_corpus(tmp_path, monkeypatch, saved, False)
    capsys.readouterr()
    for extra in ([], ["--data", "embedded"]):
        with pytest.warns(UserWarning) as got:
            assert cli_main(["eval", "--ckpt", str(run), "--json", *extra]) == 0
        assert json.loads(capsys.readouterr().out)["split"] == "val"
        said = [str(w.message) for w in got]
        assert sum("older version" in m for m in said) == 1, (extra, said)


def test_cli_eval_a_gpt2_folder(tmp_path, capsys):
    """--hf: a GPT-2 folder (weights + byte-level BPE) on a text file, the whole text by default,
    float64 on request, and the same numbers as the Python API."""
    from nanograd_llm.hf import init_from_hf
    d, text = tmp_path / "gpt2", GPT2_TEXT
    _, tok = tiny_gpt2_folder(d, 290)
    data = tmp_path / "t.txt"
    data.write_text(text, encoding="utf-8")
    out = _eval_json(capsys, "--hf", str(d), "--data", str(data), "--dtype", "float64",
                     "--stride", "5")
    assert out["split"] == "all" and out["model"] == str(d) and out["stride"] == 5
    m64, t64 = init_from_hf(d, dtype="float64")
    ref, _ = evaluate_text(m64, t64, text, stride=5)
    assert out["tokens"] == ref.tokens == len(tok.encode(text)) - 1
    assert out["loss"] == pytest.approx(ref.loss, rel=1e-12)
    assert out["characters"] == len(text) - len(tok.decode(tok.encode(text)[:1]))
    assert out["bits_per_char"] < out["bits_per_token"]          # tokens of several characters


def test_cli_eval_default_split_without_a_saved_digest(run_dir, tmp_path, capsys):
    """A checkpoint without the corpus digest (older runs): the run's own file is still its
    corpus (val part), any other file is evaluated whole."""
    import shutil
    old = tmp_path / "old"
    shutil.copytree(run_dir / "run", old)
    man = json.loads((old / "checkpoint.json").read_text())
    del man["extra"]["data_sha256"]
    (old / "checkpoint.json").write_text(json.dumps(man))
    corpus = str(run_dir / "corpus.txt")
    assert _eval_json(capsys, "--ckpt", str(old), "--data", corpus)["split"] == "val"
    other = tmp_path / "copy.txt"
    other.write_text(TEXT, encoding="utf-8")
    assert _eval_json(capsys, "--ckpt", str(old), "--data", str(other))["split"] == "all"
    # best/ carries the digest too
    best = run_dir / "run" / "best"
    assert _eval_json(capsys, "--ckpt", str(best), "--data", str(other))["split"] == "val"
    assert _eval_json(capsys, "--ckpt", str(best))["split"] == "val"


def test_cli_eval_a_checkpoint_that_does_not_name_its_corpus_needs_data(run_dir, tmp_path,
                                                                         capsys):
    """A checkpoint written with save_checkpoint and no train_config was evaluated on the
    val part of the embedded corpus, reported as the run's own held-out text."""
    from nanograd_llm import checkpoint as ckpt
    run = run_dir / "run"
    model, tok = ckpt.load_model(run), ckpt.load_run_tokenizer(run)
    ckpt.save_checkpoint(tmp_path / "hand", model, None, tok, 0)
    for extra in ([], ["--unknown", "skip"]):
        assert cli_main(["eval", "--ckpt", str(tmp_path / "hand"), *extra]) == 1
        err = capsys.readouterr().err
        assert "does not record the corpus" in err and "--data" in err
        assert "Traceback" not in err
    out = _eval_json(capsys, "--ckpt", str(tmp_path / "hand"), "--data",
                     str(run_dir / "corpus.txt"))
    assert out["split"] == "all"


# -- found by a mutation audit ------------------------------------------------------------------

def test_split_fraction_batch_size_and_vocab_limit_bounds():
    from nanograd_llm.evaluate import default_batch_size
    ids = np.arange(100)
    for split in ("val", "train"):
        with pytest.raises(ValueError, match="val_fraction must be in"):
            select_split(ids, split, 0.0)
    assert default_batch_size(1024, 50257) == 1            # GPT-2: logits bound the batch
    assert default_batch_size(64, 10_000) == 52
    assert default_batch_size(16, 65) == 256               # small model: the token bound
    model = _model(V=5)
    with pytest.raises(ValueError, match="vocab_limit must be between 1 and the model's "
                                         "vocab_size 5"):
        evaluate_ids(model, np.arange(10) % 5, vocab_limit=6)


def test_activations_are_released_and_nfd_text_is_the_same_text():
    import unicodedata
    tok = CharTokenizer.from_text("çay ")
    model = _model(V=tok.vocab_size)
    r, skipped = evaluate_text(model, tok, unicodedata.normalize("NFD", "çay çay"))
    assert skipped == {} and r.tokens == 6
    assert model._cache is None                             # nothing kept for a backward pass


def test_a_padded_vocabulary_is_scored_over_the_tokenizers_ids():
    tok = CharTokenizer.from_text("abcd ")                  # 5 ids, the model has 8
    model = _model(V=8)
    text = "abcd dcba abc " * 4
    r, _ = evaluate_text(model, tok, text)
    ids = np.asarray(tok.encode(text))
    assert r.nll == pytest.approx(evaluate_ids(model, ids, vocab_limit=5).nll, rel=1e-12)
    assert r.nll != pytest.approx(evaluate_ids(model, ids).nll, rel=1e-6)
    assert r.vocab_size == 5 and r.uniform_loss == pytest.approx(math.log(5))


def test_many_unknown_characters_are_summarised():
    tok = CharTokenizer.from_text("ab ")
    with pytest.raises(ValueError, match=r"12 character\(s\).*and 2 more"):
        evaluate_text(_model(V=3), tok, "ab " + "".join(chr(0x400 + i) for i in range(12)))


def test_cli_eval_uses_the_runs_val_fraction_and_warns_only_about_its_own_corpus(
        tmp_path, capsys):
    import warnings
    from nanograd_llm.checkpoint import load_run_tokenizer
    from nanograd_llm.data import encode_corpus, split_ids
    cfg = tiny_config(tmp_path, max_iters=2, eval_interval=2, val_fraction=0.2)
    train(cfg, quiet=True)
    run = tmp_path / "run"
    out = _eval_json(capsys, "--ckpt", str(run))
    tok = load_run_tokenizer(run)
    assert out["tokens"] == split_ids(encode_corpus(TEXT, tok), 16, 0.2).val.size - 1
    other = tmp_path / "other.txt"
    other.write_text("Dikkat katmanı.\n" * 3, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")                      # another text is not "changed"
        assert _eval_json(capsys, "--ckpt", str(run), "--data", str(other))["split"] == "all"


@pytest.mark.parametrize("bad", [[0.2], {"x": 1}, "abc", True, 10 ** 400, 5, 0])
def test_cli_eval_a_bad_saved_val_fraction_is_a_clear_error(run_dir, tmp_path, capsys, bad):
    """A hand-edited val_fraction in checkpoint.json is refused naming the file: one that is no
    number, also 10**400 (an integer no float holds; found by fuzz_checkpoint_manifest.py
    --sweep: an OverflowError traceback) and a number outside (0, 1) (was 'val_fraction must
    be in (0, 1), got 5.0', naming no file, as if the user had passed it)."""
    import shutil
    run = tmp_path / "run"
    shutil.copytree(run_dir / "run", run)
    m = json.loads((run / "checkpoint.json").read_text())
    m["train_config"]["val_fraction"] = bad
    (run / "checkpoint.json").write_text(json.dumps(m))
    assert cli_main(["eval", "--ckpt", str(run)]) == 1
    err = capsys.readouterr().err
    assert "checkpoint.json: 'val_fraction' in 'train_config' must be a number in (0, 1)" \
        in err and "Traceback" not in err and len(err) < 400, err


@pytest.mark.parametrize("bad, says", [
    ([], "checkpoint.json: 'data' in 'train_config' must be a path or a corpus name, not []"),
    (1.5, "checkpoint.json: 'data' in 'train_config' must be a path or a corpus name, not 1.5"),
    (".", "data path is a directory, expected a text file: . (the corpus the run was trained "
          "on, as "),
    ("no-such-corpus", "unknown corpus 'no-such-corpus' and no such file: expected a path"),
])
def test_cli_eval_a_bad_saved_corpus_is_named_as_the_runs(run_dir, tmp_path, capsys, bad, says,
                                                          monkeypatch):
    """Found by fuzzing checkpoint.json (scripts/fuzz/fuzz_checkpoint_manifest.py --sweep):
    `eval --ckpt RUN` evaluates the corpus train_config records; a hand-edited value that is
    not a path gave `error: unknown corpus '[]' and no such file`, a folder `error: data path
    is a directory, expected a text file: .`, as if the user had passed them. A value that is
    not a string is refused with the manifest's name; the others say they are the run's
    corpus as its manifest records it, and to pass --data."""
    import shutil
    run = tmp_path / "run"
    shutil.copytree(run_dir / "run", run)
    monkeypatch.chdir(tmp_path)
    m = json.loads((run / "checkpoint.json").read_text())
    m["train_config"]["data"] = bad
    (run / "checkpoint.json").write_text(json.dumps(m))
    assert cli_main(["eval", "--ckpt", str(run)]) == 1
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert str(run / "checkpoint.json") in err and "pass --data PATH|NAME" in err


def test_a_model_with_non_finite_weights_is_an_error_not_a_nan_loss(run_dir, tmp_path, capsys):
    from nanograd_llm import checkpoint as ckpt
    model = _model()
    model.flat[...] = np.nan
    with pytest.raises(RuntimeError, match=r"non-finite losses \(NaN or inf\)"):
        evaluate_ids(model, np.arange(20) % 11)
    # the command: exit status 1 and one line, not "loss nan" (and no NaN in --json)
    model, tok = ckpt.load_model(run_dir / "run"), ckpt.load_run_tokenizer(run_dir / "run")
    model.flat[...] = np.inf
    ckpt.save_checkpoint(tmp_path / "run", model, None, tok, 1,
                         train_config={"data": str(run_dir / "corpus.txt")})
    for extra in ([], ["--json"]):
        assert cli_main(["eval", "--ckpt", str(tmp_path / "run"), *extra]) == 1
        captured = capsys.readouterr()
        assert "non-finite losses" in captured.err and "Traceback" not in captured.err
        assert "nan" not in captured.out.lower()


def test_token_ids_at_the_limit_are_refused_clearly():
    model = _model(V=5)
    with pytest.raises(ValueError, match=r"token id 5 is outside \[0, 5\) \(the model's "
                                         r"vocabulary\)"):
        evaluate_ids(model, np.array([0, 1, 5, 2]))
    with pytest.raises(ValueError, match=r"token id 3 is outside \[0, 3\) \(the model's "
                                         r"vocab_limit\)"):
        evaluate_ids(model, np.array([0, 1, 3, 2]), vocab_limit=3)
    assert evaluate_ids(model, np.array([0, 1, 2, 2]), vocab_limit=3).tokens == 3


def test_the_report_gives_the_rate_of_short_runs():
    from nanograd_llm.evaluate import describe
    r = EvalResult(tokens=1000, nll=1000 * math.log(5), characters=0, windows=1, context=64,
                   stride=64, vocab_size=5, seconds=0.25)
    text = describe(r, "run", "x.txt", "all")
    assert "time           0.2 s (4,000 tokens/s)" in text
    assert "perplexity     5.000" in text and "bits/character" not in text


def test_a_huge_finite_perplexity_is_written_with_an_exponent():
    """A mean loss between about 690 and 709.78 nats has a finite perplexity of up to 1.8e308:
    written with .3f it was a number of about 300 digits on the report's line."""
    from nanograd_llm.evaluate import describe
    r = EvalResult(tokens=10, nll=10 * 700.0, characters=0, windows=1, context=8, stride=8,
                   vocab_size=5)
    line = next(x for x in describe(r, "run", "x.txt", "all").splitlines()
                if x.startswith("perplexity"))
    assert line == f"perplexity     {math.exp(700.0):.4g}" and len(line) < 40, line


def test_a_batch_of_several_rows_is_not_read_as_one_text():
    """evaluate_ids(model, x) with x a (B, T) batch flattened it: each row's first tokens were
    scored with the end of the previous row as their context, a wrong loss without a word."""
    model = _model()
    ids = np.random.default_rng(3).integers(0, 11, (4, 9))
    with pytest.raises(ValueError, match=r"one sequence of token ids \(1-D\), got shape \(4, 9\)"):
        evaluate_ids(model, ids)
    # one row (what generate returns for one prompt) is that row
    assert evaluate_ids(model, ids[:1]).nll == evaluate_ids(model, ids[0]).nll


def test_window_and_batch_sizes_must_be_integers():
    """evaluate_ids(context=4.0) and batch_size=2.0 fell with "'float' object cannot be
    interpreted as an integer" from deep inside, stride=2.5 was cut to 2 silently and
    sliding_windows(10, 3.5) returned windows starting at 3.5."""
    model = _model()
    ids = np.random.default_rng(0).integers(0, 11, 60)
    for kw, name in ((dict(context=4.0), "context"), (dict(stride=2.5), "stride"),
                     (dict(batch_size=2.0), "batch_size"), (dict(stride=True), "stride")):
        with pytest.raises(ValueError, match=f"{name} must be an integer"):
            evaluate_ids(model, ids, **kw)
    with pytest.raises(ValueError, match="context must be an integer"):
        sliding_windows(10, 3.5)
    r = evaluate_ids(model, ids, context=np.int64(4), stride=np.int32(2), batch_size=np.int64(3))
    assert r.nll == evaluate_ids(model, ids, context=4, stride=2, batch_size=3).nll
    assert json.loads(json.dumps(r.to_dict()))["context"] == 4


def test_vocab_limit_must_be_an_integer():
    """evaluate_ids(vocab_limit=5.0) passed the bounds check and fell inside token_nll with
    "slice indices must be integers"."""
    model = _model()
    ids = np.random.default_rng(1).integers(0, 5, 40)
    for bad in (5.0, True):
        with pytest.raises(ValueError, match="vocab_limit must be between 1 and the model's "
                                             "vocab_size 11"):
            evaluate_ids(model, ids, vocab_limit=bad)
    r = evaluate_ids(model, ids, vocab_limit=np.int64(5))
    assert r.vocab_size == 5 and type(r.vocab_size) is int


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_max_tokens_of_the_whole_text_encodes_only_the_pieces_it_needs(kind, monkeypatch):
    """evaluate_text(split="all", max_tokens=N) (`eval --max-tokens N`, the default split of
    --data FILE) encoded the whole text though it evaluates its first N + 1 tokens only: half
    a minute for BPE on 100 MB. Encoding now stops after the piece that holds them; the pieces
    are encoded on their own, so the ids, and the result, are the same. The char tokenizer's
    val and train parts still encode the whole text (their boundary is a count of its tokens);
    BPE's are cut by characters, so its val part encodes the pieces of the val text it needs
    only. Unknown characters are still looked for in the whole text."""
    from nanograd_llm import data as D
    from nanograd_llm.evaluate import target_characters
    if kind == "bpe":
        pytest.importorskip("regex")
        from nanograd_llm.tokenizers.bpe import BPETokenizer
        tok = BPETokenizer.train(TEXT, 300)
    else:
        tok = CharTokenizer.from_text(TEXT)
    real, pieces = D._chunks, []

    def small(text, size):                      # pieces of 64 characters, each one counted
        for c in real(text, 64):
            pieces.append(c)
            yield c
    monkeypatch.setattr(D, "_chunks", small)
    whole = D.encode_corpus(TEXT, tok)
    n_pieces = len(pieces)
    assert n_pieces > 20
    model = _model(V=tok.vocab_size, T=8)
    for n in (1, 20, 45):
        pieces.clear()
        r, _ = evaluate_text(model, tok, TEXT, max_tokens=n)
        assert 1 <= len(pieces) <= 3
        ref = evaluate_ids(model, whole[:n + 1])
        assert (r.tokens, r.nll, r.windows) == (ref.tokens, ref.nll, ref.windows) and r.tokens == n
        assert r.characters == target_characters(tok, whole[1:n + 1])
    pieces.clear()
    r, _ = evaluate_text(model, tok, TEXT, split="val", max_tokens=20)
    if kind == "char":
        assert len(pieces) == n_pieces
        ref = evaluate_ids(model, select_split(whole, "val")[:21])
    else:
        assert 1 <= len(pieces) <= 3
        val = D.encode_corpus(TEXT[D.split_point(len(TEXT), 0.1):], tok)
        ref = evaluate_ids(model, val[:21])
    assert (r.tokens, r.nll) == (ref.tokens, ref.nll)
    if kind == "char":
        with pytest.raises(ValueError, match=r"1 character\(s\).*'☺' ×1"):
            evaluate_text(model, tok, TEXT + "☺", max_tokens=20)
        r, skipped = evaluate_text(model, tok, TEXT + "☺", max_tokens=20, unknown="skip")
        assert skipped == {"☺": 1} and r.nll == evaluate_ids(model, whole[:21]).nll


def test_a_loss_whose_perplexity_is_beyond_a_float_is_reported_not_a_traceback(run_dir,
                                                                              tmp_path, capsys):
    """A diverged model's mean loss can pass ln(max float) ≈ 709.78 nats: math.exp raised
    OverflowError, so `eval` (text and --json) ended in a traceback. The perplexity is inf,
    the report says so, and --json writes null (valid JSON) beside the finite loss."""
    from nanograd_llm import checkpoint as ckpt
    model, tok = ckpt.load_model(run_dir / "run"), ckpt.load_run_tokenizer(run_dir / "run")
    model.params["wte.weight"][...] *= 1e4
    r = evaluate_ids(model, np.asarray(tok.encode(TEXT[:200])))
    assert math.isfinite(r.loss) and r.loss > 710
    assert r.perplexity == math.inf and r.to_dict()["perplexity"] is None
    ckpt.save_checkpoint(tmp_path / "run", model, None, tok, 1,
                         train_config={"data": str(run_dir / "corpus.txt")})
    out = _eval_json(capsys, "--ckpt", str(tmp_path / "run"))
    assert out["perplexity"] is None and out["loss"] > 710
    json.loads(json.dumps(out, allow_nan=False))
    assert cli_main(["eval", "--ckpt", str(tmp_path / "run")]) == 0
    text = capsys.readouterr().out
    assert f"perplexity     inf (e^{out['loss']:.4f} is beyond a float)" in text


def test_max_tokens_must_be_an_integer():
    """evaluate_text(max_tokens=2.5) passed the >= 1 check and fell slicing the split with
    "slice indices must be integers"; max_tokens=True was taken as 1 without a word."""
    tok = CharTokenizer.from_text("abc ")
    model = _model(V=tok.vocab_size)
    for bad in (2.5, True, 3.0):
        with pytest.raises(ValueError, match=r"^max_tokens must be an integer, got ") as e:
            evaluate_text(model, tok, "abc cab " * 5, max_tokens=bad)
        assert e.value.command_line_message.startswith("--max-tokens must be an integer")
    r, _ = evaluate_text(model, tok, "abc cab " * 5, max_tokens=np.int64(3))
    assert r.tokens == 3 and json.loads(json.dumps(r.to_dict()))["tokens"] == 3


def test_a_character_begun_in_the_unscored_first_token_is_not_counted():
    """An NFD text encoded by a BPE whose first token is the "S" of "Ş" (S + a combining
    cedilla) and whose second begins the cedilla: target_characters decoded the targets alone,
    where the cedilla has no letter to join in NFC, and counted it as a character of its own,
    one more than the character tokenizer's count of the same text (and bits per character a
    little lower). The characters are now NFC(first token + targets) less NFC(first token)."""
    pytest.importorskip("regex")
    import unicodedata
    from nanograd_llm.tokenizers.bpe import BPETokenizer
    nfc = "Şükrü ağaçta; İğdır'da ılık, çiçekli bir gün. Öç Üş " * 4
    nfd = unicodedata.normalize("NFD", nfc)
    bpe = BPETokenizer.train(nfc, 270)
    ids = bpe.encode(nfd)
    assert bpe.decode(ids[:1]) == "S"                          # the cedilla is a target
    r, _ = evaluate_text(_model(V=bpe.vocab_size, T=16), bpe, nfd)
    char = CharTokenizer.from_text(nfc)
    rc, _ = evaluate_text(_model(V=char.vocab_size, T=16), char, nfd)
    assert r.characters == rc.characters == len(nfc) - 1
    assert r.bits_per_char == pytest.approx(r.nll / math.log(2) / (len(nfc) - 1), rel=1e-12)


def test_skipped_characters_of_a_split_count_only_that_parts(run_dir, tmp_path, capsys):
    """`eval --split val --unknown skip` reported in skipped_characters (and on stderr) the
    unknown characters removed from the whole text, those of the training part too: it now
    counts the evaluated part's only. The ids are cut after the unknown characters are removed;
    one left out between the two parts counts for the part of the next character kept."""
    from nanograd_llm.checkpoint import load_model, load_run_tokenizer
    from nanograd_llm.data import encode_corpus, split_point
    run = run_dir / "run"
    model, tok = load_model(run), load_run_tokenizer(run)
    s = split_point(len(TEXT), 0.1)
    assert len(encode_corpus(TEXT, tok)) == len(TEXT)           # one id per character
    # "©" ×3 at the start and "Ω" before the last training character: train; "©" just before
    # the first val character and "Ω" ×2 at the end: val
    text = "©©©" + TEXT[:s - 1] + "Ω" + TEXT[s - 1] + "©" + TEXT[s:] + "ΩΩ"
    want = {"all": {"©": 4, "Ω": 3}, "train": {"©": 3, "Ω": 1}, "val": {"©": 1, "Ω": 2}}
    for split, counts in want.items():
        r, skipped = evaluate_text(model, tok, text, split=split, unknown="skip")
        assert skipped == counts, split
        ref, _ = evaluate_text(model, tok, TEXT, split=split)
        assert (r.tokens, r.nll) == (ref.tokens, ref.nll)
    odd = tmp_path / "odd.txt"
    odd.write_text(text, encoding="utf-8")
    assert cli_main(["eval", "--ckpt", str(run), "--data", str(odd), "--split", "val",
                     "--unknown", "skip", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out.strip().splitlines()[-1])["skipped_characters"] == 3
    assert "left out 3 occurrence(s) of 2 unknown character(s)" in captured.err
    # "c©" + a combining cedilla: with © removed NFC joins c and the cedilla into ç, one id
    # fewer than the characters kept; where each © was cannot be told: the whole text's count
    tok = CharTokenizer(["a", "c", "ç", "\u0327", " "])
    text = "©© " + "ac a " * 20 + "c©\u0327 " + "a" * 30
    r, skipped = evaluate_text(BigramLM(tok.vocab_size), tok, text, split="val", unknown="skip")
    assert skipped == {"©": 3} and r.tokens > 0


def test_skip_leaves_out_a_character_nfc_forms_once_an_unknown_one_is_removed():
    """With unknown="skip", removing an unknown character from between a letter and a
    combining accent lets NFC join them: "e©" + a combining cedilla becomes "ȩ". Where the
    tokenizer lacks "ȩ" too, the tokenizer stopped with "... is not in the tokenizer's
    vocabulary; ... use --unknown skip", the option given. It is now left out and counted as
    well; strict still names only the characters of the text as written."""
    tok = CharTokenizer(["a", "e", "\u0327", " "])
    text = "a e " * 10 + "e©\u0327 " + "a " * 10
    r, skipped = evaluate_text(BigramLM(tok.vocab_size), tok, text, unknown="skip")
    assert skipped == {"©": 1, "ȩ": 1}
    assert r.tokens == len(text) - 3 - 1                 # ©, e and the cedilla left out
    ids, _ = encode_for_eval(text, tok, "skip")
    assert tok.decode(ids) == "a e " * 10 + " " + "a " * 10
    with pytest.raises(ValueError, match=r"1 character\(s\) the tokenizer does not know "
                                         r"\('©' ×1\)"):
        evaluate_text(BigramLM(tok.vocab_size), tok, text)
    r, skipped = evaluate_text(BigramLM(tok.vocab_size), tok, text, split="val", unknown="skip")
    assert skipped == {"©": 1, "ȩ": 1}              # where each was cannot be told: the whole
