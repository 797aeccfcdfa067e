"""GPT-2 checkpoints in the Hugging Face layout: load, save, compare with transformers/torch."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")
from safetensors.numpy import load_file, save_file  # noqa: E402

from nanograd_llm import GPT, GPTConfig  # noqa: E402
from nanograd_llm.hf import init_from_hf, load_hf, save_hf  # noqa: E402

V, NPOS, C = 97, 32, 32


def hf_model(tie=True, activation="gelu_new", seed=0):
    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=C, vocab_size=V, n_positions=NPOS,
                                  activation_function=activation, tie_word_embeddings=tie,
                                  resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                  bos_token_id=None, eos_token_id=None)
    m = transformers.GPT2LMHeadModel(cfg)
    with torch.no_grad():    # larger, non-zero biases and LN params so every tensor matters
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return m.eval()


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("gpt2_tiny")
    m = hf_model()
    m.save_pretrained(d)
    return d, m


def torch_logits(m, idx):
    with torch.no_grad():
        return m(torch.as_tensor(idx)).logits.double().numpy()


IDX = np.random.default_rng(0).integers(0, V, size=(2, NPOS))


def test_from_hf_logits_float32(hf_dir):
    d, m = hf_dir
    ours = GPT.from_hf(d)
    assert ours.dtype == np.float32 and ours.config.tie_weights
    assert ours.config.block_size == NPOS and ours.config.activation == "gelu"
    logits, _ = ours.forward(IDX)
    np.testing.assert_allclose(logits, torch_logits(m, IDX), rtol=0, atol=1e-4)


def test_from_hf_logits_and_grads_float64(hf_dir):
    d, m = hf_dir
    m64 = hf_model().double()          # same seed → same weights as the saved model
    ours = GPT.from_hf(d, dtype="float64")
    targets = np.random.default_rng(1).integers(0, V, size=IDX.shape)
    logits, loss = ours.forward(IDX, targets)
    grads = ours.backward()
    t_logits = m64(torch.as_tensor(IDX)).logits
    t_loss = torch.nn.functional.cross_entropy(t_logits.reshape(-1, V),
                                               torch.as_tensor(targets).reshape(-1))
    t_loss.backward()
    ref = t_logits.detach().numpy()
    assert np.abs(logits - ref).max() <= 1e-9 * np.abs(ref).max()
    assert abs(float(loss) - t_loss.item()) <= 1e-12 * abs(t_loss.item())
    tparams = dict(m64.named_parameters())
    for name, g in grads.items():
        tg = tparams["transformer." + name].grad.numpy()
        err = np.abs(g - tg).max() / max(np.abs(tg).max(), 1e-30)
        assert err < 1e-9, (name, err)


def test_cached_generation_matches_transformers_greedy(hf_dir):
    d, m = hf_dir
    ours = GPT.from_hf(d, dtype="float64")
    prompt = IDX[:1, :5]
    out = ours.generate(prompt, 10, temperature=0)
    with torch.no_grad():
        ref = hf_model().double().generate(torch.as_tensor(prompt), max_new_tokens=10,
                                           do_sample=False, pad_token_id=0)
    np.testing.assert_array_equal(out, ref.numpy())


def test_save_hf_round_trip_through_transformers(tmp_path, hf_dir):
    d, m = hf_dir
    ours = GPT.from_hf(d)
    out = tmp_path / "saved"
    ours.save_hf(out)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_type"] == "gpt2" and cfg["architectures"] == ["GPT2LMHeadModel"]
    assert cfg["activation_function"] == "gelu_new" and cfg["n_positions"] == NPOS
    back = transformers.GPT2LMHeadModel.from_pretrained(out).eval()
    np.testing.assert_allclose(torch_logits(back, IDX), torch_logits(m, IDX), atol=1e-5)
    # and our own reader gives back the same parameters
    again = load_hf(out)
    for k, v in ours.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[k], v)


def test_save_hf_of_a_native_model_untied_relu(tmp_path):
    cfg = GPTConfig(vocab_size=40, block_size=12, n_layer=2, n_head=2, n_embd=16,
                    tie_weights=False, activation="relu", layer_norm_epsilon=1e-6)
    ours = GPT(cfg, seed=3, dtype="float64")
    ours.flat[:] += np.random.default_rng(0).standard_normal(ours.flat.size) * 0.05
    save_hf(ours, tmp_path)
    saved = load_file(str(tmp_path / "model.safetensors"))
    assert "lm_head.weight" in saved and saved["transformer.wte.weight"].dtype == np.float64
    back = transformers.GPT2LMHeadModel.from_pretrained(tmp_path, dtype=torch.float64).eval()
    assert back.config.tie_word_embeddings is False
    assert back.config.activation_function == "relu"
    idx = np.random.default_rng(2).integers(0, 40, size=(2, 12))
    ref = torch_logits(back, idx)
    ours_logits, _ = ours.forward(idx)
    np.testing.assert_allclose(ours_logits, ref, rtol=0, atol=1e-10)
    again = load_hf(tmp_path, dtype="float64")
    assert not again.config.tie_weights and again.config.activation == "relu"
    assert again.config.layer_norm_epsilon == 1e-6
    np.testing.assert_allclose(again.forward(idx)[0], ref, atol=1e-10)


def test_untied_hf_model(tmp_path):
    m = hf_model(tie=False, seed=1)
    assert not torch.equal(m.lm_head.weight, m.transformer.wte.weight)
    m.save_pretrained(tmp_path)
    ours = load_hf(tmp_path)
    assert not ours.config.tie_weights
    np.testing.assert_allclose(ours.forward(IDX)[0], torch_logits(m, IDX), atol=1e-4)


def test_lm_head_equal_to_wte_is_tied(tmp_path, hf_dir):
    d, m = hf_dir
    t = load_file(str(d / "model.safetensors"))
    t["lm_head.weight"] = t["transformer.wte.weight"].copy()
    save_file(t, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    (tmp_path / "config.json").write_text((d / "config.json").read_text())
    ours = load_hf(tmp_path)
    assert ours.config.tie_weights and "lm_head.weight" not in ours.params


def test_old_layout_without_prefix_and_with_mask_buffers(tmp_path, hf_dir):
    d, m = hf_dir
    t = load_file(str(d / "model.safetensors"))
    old = {k[len("transformer."):]: v for k, v in t.items()}
    mask = np.tril(np.ones((NPOS, NPOS), dtype=np.float32))[None, None]
    for i in range(2):
        old[f"h.{i}.attn.bias"] = mask
        old[f"h.{i}.attn.masked_bias"] = np.array(-1e4, dtype=np.float32)
    save_file(old, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    cfg = json.loads((d / "config.json").read_text())
    cfg.pop("n_positions")
    cfg["n_ctx"] = NPOS                 # very old configs only have n_ctx
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    ours = load_hf(tmp_path)
    np.testing.assert_allclose(ours.forward(IDX)[0], torch_logits(m, IDX), atol=1e-4)


def _copy_with(tmp_path, d, edit_tensors=None, edit_config=None):
    t = load_file(str(d / "model.safetensors"))
    if edit_tensors:
        edit_tensors(t)
    save_file(t, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    cfg = json.loads((d / "config.json").read_text())
    if edit_config:
        edit_config(cfg)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return tmp_path


def test_missing_tensor_is_a_clear_error(tmp_path, hf_dir):
    d, _ = hf_dir
    p = _copy_with(tmp_path, d, lambda t: t.pop("transformer.h.1.mlp.c_fc.weight"))
    with pytest.raises(ValueError, match=r"model\.safetensors.*missing.*h\.1\.mlp\.c_fc\.weight"):
        load_hf(p)


def test_wrong_shape_is_a_clear_error(tmp_path, hf_dir):
    d, _ = hf_dir
    def edit(t):
        t["transformer.h.0.attn.c_attn.weight"] = t["transformer.h.0.attn.c_attn.weight"].T.copy()
    p = _copy_with(tmp_path, d, edit)
    with pytest.raises(ValueError, match=r"h\.0\.attn\.c_attn\.weight.*shape"):
        load_hf(p)


def test_unexpected_tensor_and_missing_untied_head_are_errors(tmp_path, hf_dir):
    d, _ = hf_dir
    (tmp_path / "a").mkdir()
    p = _copy_with(tmp_path / "a", d, lambda t: t.update(extra=np.zeros(3, np.float32)))
    with pytest.raises(ValueError, match="unexpected.*extra"):
        load_hf(p)
    (tmp_path / "b").mkdir()
    p = _copy_with(tmp_path / "b", d, edit_config=lambda c: c.update(tie_word_embeddings=False))
    with pytest.raises(ValueError, match="lm_head.weight"):
        load_hf(p)


@pytest.mark.parametrize("edit, match", [
    (lambda c: c.update(activation_function="gelu"), "activation_function"),
    (lambda c: c.update(model_type="llama"), "model_type"),
    (lambda c: c.pop("n_layer"), "n_layer"),
    (lambda c: c.update(n_inner=7), "n_inner"),
    (lambda c: c.update(n_inner="128"), "n_inner must be an integer"),
    (lambda c: c.update(activation_function=["gelu_new"]), "activation_function"),
    (lambda c: c.update(n_head=3), "divisible"),
    (lambda c: c.update(tie_word_embeddings="false"),
     "tie_word_embeddings must be true or false, got 'false'"),
])
def test_bad_config_is_a_clear_error(tmp_path, hf_dir, edit, match):
    d, _ = hf_dir
    p = _copy_with(tmp_path, d, edit_config=edit)
    with pytest.raises(ValueError, match=match):
        load_hf(p)


def test_missing_files_are_clear_errors(tmp_path, hf_dir):
    with pytest.raises(ValueError, match="config.json"):
        load_hf(tmp_path)
    d, _ = hf_dir
    (tmp_path / "config.json").write_text((d / "config.json").read_text())
    (tmp_path / "pytorch_model.bin").write_bytes(b"not read")
    with pytest.raises(ValueError, match="model.safetensors.*pickle"):
        load_hf(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot read"):
        load_hf(tmp_path)
    with pytest.raises(ValueError, match="vocab.json"):
        init_from_hf(d)


def test_sharded_checkpoint(tmp_path, hf_dir):
    d, m = hf_dir
    t = load_file(str(d / "model.safetensors"))
    names = sorted(t)
    a, b = names[: len(names) // 2], names[len(names) // 2:]
    save_file({k: t[k] for k in a}, str(tmp_path / "model-00001-of-00002.safetensors"))
    save_file({k: t[k] for k in b}, str(tmp_path / "model-00002-of-00002.safetensors"))
    wm = {k: "model-00001-of-00002.safetensors" for k in a}
    wm.update({k: "model-00002-of-00002.safetensors" for k in b})
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": wm}))
    (tmp_path / "config.json").write_text((d / "config.json").read_text())
    np.testing.assert_allclose(load_hf(tmp_path).forward(IDX)[0], torch_logits(m, IDX),
                               atol=1e-4)


@pytest.mark.parametrize("weight_map", [["model.safetensors"], {"a": 5}, {}])
def test_malformed_shard_index_is_a_clear_error(tmp_path, hf_dir, weight_map):
    d, _ = hf_dir
    (tmp_path / "config.json").write_text((d / "config.json").read_text())
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    with pytest.raises(ValueError, match="weight_map"):
        load_hf(tmp_path)


def test_save_hf_refuses_a_training_run_folder(tmp_path):
    """A run folder has its own config.json: writing GPT-2's over it would break the run and
    leave a folder that is neither."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.json").write_text("{}")
    (run / "config.json").write_text('{"run": true}')
    model = GPT(GPTConfig(vocab_size=20, block_size=8, n_layer=1, n_head=2, n_embd=8))
    with pytest.raises(ValueError, match="training run.*another folder"):
        save_hf(model, run)
    assert (run / "config.json").read_text() == '{"run": true}'
    assert not (run / "model.safetensors").exists()


def test_models_gpt2_cannot_express_are_rejected(tmp_path):
    base = dict(vocab_size=20, block_size=8, n_layer=1, n_head=2, n_embd=8)
    with pytest.raises(ValueError, match="sinusoidal"):
        save_hf(GPT(GPTConfig(**base, positional="sinusoidal")), tmp_path)
    with pytest.raises(ValueError, match="bias"):
        save_hf(GPT(GPTConfig(**base, bias=False)), tmp_path)
    assert not (tmp_path / "model.safetensors").exists()


def test_tokenizer_from_vocab_merges_or_tokenizer_json(tmp_path):
    pytest.importorskip("regex")                 # the `bpe` extra; the module itself must import
    import nanograd_llm.tokenizers.bpe  # noqa: F401
    tk = pytest.importorskip("tokenizers")
    from nanograd_llm.hf import load_hf_tokenizer
    bpe = tk.ByteLevelBPETokenizer()
    bpe.train_from_iterator(["The quick brown fox. Çabuk kahverengi tilki! 🦊 " * 30],
                            vocab_size=320, min_frequency=1, show_progress=False)
    (tmp_path / "a").mkdir()
    bpe.save_model(str(tmp_path / "a"))
    (tmp_path / "b").mkdir()
    bpe.save(str(tmp_path / "b" / "tokenizer.json"))   # the format transformers 5 writes
    text = "The fox, kahverengi tilki — şapka 🦊!\nNew line"
    want = bpe.encode(text).ids
    assert len(want) > 5
    for d in ("a", "b"):
        tok = load_hf_tokenizer(tmp_path / d)
        assert tok.encode(text) == want
        assert tok.decode(want) == text
    with pytest.raises(ValueError, match="vocab.json"):
        load_hf_tokenizer(tmp_path)


def _bpe_tokenizer_json(tmp_path, edit=None):
    tk = pytest.importorskip("tokenizers")
    bpe = tk.ByteLevelBPETokenizer()
    bpe.train_from_iterator(["merhaba dünya, şapka ve çiçek " * 30], vocab_size=280,
                            min_frequency=1, show_progress=False)
    bpe.add_special_tokens(["<|endoftext|>", "<|pad|>"])
    f = tmp_path / "tokenizer.json"
    bpe.save(str(f))
    if edit:
        data = json.loads(f.read_text(encoding="utf-8"))
        edit(data)
        f.write_text(json.dumps(data), encoding="utf-8")
    return bpe


def test_tokenizer_json_added_tokens_are_special_tokens(tmp_path):
    pytest.importorskip("regex")
    from nanograd_llm.hf import load_hf_tokenizer
    bpe = _bpe_tokenizer_json(tmp_path)
    tok = load_hf_tokenizer(tmp_path)
    text = "merhaba<|pad|> dünya<|endoftext|>çiçek"
    want = bpe.encode(text).ids
    assert tok.encode(text) == want
    pad = bpe.token_to_id("<|pad|>")
    assert pad in want and tok.decode([pad]) == "<|pad|>"
    assert tok.decode(want) == text


@pytest.mark.parametrize("edit, match", [
    (lambda d: d["model"].update(merges=[["a", 1]]), "model.merges must be"),
    (lambda d: d["model"]["vocab"].pop(sorted(d["model"]["vocab"], key=len)[-1]),
     "tokenizer.json: .*is not in its model.vocab"),
    (lambda d: d.update(added_tokens=[{"id": "x", "content": "<|pad|>"}]), "added_tokens"),
])
def test_bad_tokenizer_json_names_the_users_file(tmp_path, edit, match):
    pytest.importorskip("regex")
    from nanograd_llm.hf import load_hf_tokenizer
    _bpe_tokenizer_json(tmp_path, edit)
    with pytest.raises(ValueError, match=match) as e:
        load_hf_tokenizer(tmp_path)
    assert str(tmp_path / "tokenizer.json") in str(e.value)
    assert "/tmp/tmp" not in str(e.value).replace(str(tmp_path), "")


def test_a_saved_bpe_keeps_its_special_tokens_and_pattern(tmp_path):
    pytest.importorskip("regex")
    from nanograd_llm.hf import load_hf_tokenizer
    from nanograd_llm.tokenizers.bpe import BPETokenizer
    text = "merhaba dünya, nasılsın? " * 40
    bpe = BPETokenizer.train(text, 270, special_tokens=["<|endoftext|>", "<|user|>"],
                             pattern=r"\S+|\s+")
    bpe.save(str(tmp_path))
    tok = load_hf_tokenizer(tmp_path)
    assert tok.special_tokens == bpe.special_tokens and tok.pattern == bpe.pattern
    s = "<|user|>merhaba dünya"
    assert tok.encode(s) == bpe.encode(s) and tok.encode(s)[0] == bpe.special_tokens["<|user|>"]


def test_block_size_crop_and_dropout(hf_dir):
    d, m = hf_dir
    ours = load_hf(d, block_size=8, dropout=0.1)
    assert ours.config.block_size == 8 and ours.params["wpe.weight"].shape == (8, C)
    assert ours.config.dropout == 0.1 and not ours.training
    np.testing.assert_allclose(ours.forward(IDX[:, :8])[0], torch_logits(m, IDX)[:, :8],
                               atol=1e-4)
    with pytest.raises(ValueError, match="block_size"):
        load_hf(d, block_size=NPOS + 1)


@pytest.mark.parametrize("named", [{"unk_token": "!"}, {"pad_token": "ow"}])
def test_special_tokens_map_tokens_are_split_like_transformers_does(tmp_path, named):
    """special_tokens_map.json may name a byte token ("!") or a merge product ("ow"):
    transformers matches it whole in the text like any special token ("wow!!" becomes
    "w" "ow" "!" "!"). We kept such tokens to the BPE alone and gave other ids ("wow" "!!")."""
    pytest.importorskip("regex")
    tk = pytest.importorskip("tokenizers")
    from nanograd_llm.hf import load_hf_tokenizer
    bpe = tk.ByteLevelBPETokenizer()
    bpe.train_from_iterator(["wow!! quick quicker quickly lowly " * 30], vocab_size=290,
                            min_frequency=1, show_progress=False)
    bpe.save_model(str(tmp_path))
    vocab = json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))
    assert {"!!", "ow", "wow"} <= set(vocab)
    (tmp_path / "special_tokens_map.json").write_text(json.dumps(named))
    hf = transformers.GPT2Tokenizer.from_pretrained(str(tmp_path))
    text = "wow!! quick wowow lowly!"
    want = hf.encode(text)
    assert want != bpe.encode(text).ids                    # the special token changes the ids
    tok = load_hf_tokenizer(tmp_path)
    assert tok.encode(text) == want
    assert tok.decode(want) == text
