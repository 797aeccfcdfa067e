#!/usr/bin/env python3
"""PyTorch reference runs for the `baby` preset (nanoGPT's CPU config; needs torch; not a test).

Default mode: nanoGPT's model (bias-free, tied weights) in PyTorch, started from nanograd_llm's
initial weights (same seed), fed nanograd_llm's batches (BatchSampler), with the same LR
schedule, AdamW groups and clipping. Question: does PyTorch reach the loss that we reach?

`--nanogpt-rng`: nanoGPT's own run as closely as it can be done on CPU: `torch.manual_seed`, the
model built module by module in nanoGPT's order (so every layer's default init draws from the
global generator in the same order), nanoGPT's re-initialisation, its data preparation (sorted
character vocabulary, 90/10 split) and `get_batch` (torch.randint) in its order (first batch
before the loop; each iteration: evaluation, forward, draw the next batch, backward, clip, step),
its warmup/cosine LR and exact GELU. Question: does nanoGPT's own random stream reach 1.88?

`--nanogpt-rng --ours-from-torch`: the same random stream (init and batch indices), but the
training is done by nanograd_llm's GPT, AdamW, clip_grad_norm and get_lr, starting from the torch
model's initial weights. Question: do our losses track nanoGPT's?

Usage:

    python3 benchmarks/baby_torch_reference.py DATA.txt [--seed 1337] [--gelu tanh|none]
    python3 benchmarks/baby_torch_reference.py DATA.txt --nanogpt-rng [--seed 1337]
    python3 benchmarks/baby_torch_reference.py DATA.txt --nanogpt-rng --ours-from-torch
    python3 benchmarks/baby_torch_reference.py DATA.txt --nanogpt-rng --preset shakespeare \
        --device cuda --bf16          # nanoGPT's shakespeare_char run on a GPU (bf16 autocast,
                                      # as nanoGPT does by default; torch.compile is not used)

Prints one JSON line per evaluation; the `--nanogpt-rng` modes end with a line holding the loss
of the model at the last evaluation on the whole validation split (non-overlapping windows of
block_size + 1, as benchmarks/eval_ckpt.py).
"""
from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as _e:     # a script: one line, not a traceback
    raise SystemExit(f"error: baby_torch_reference.py needs PyTorch (pip install torch): {_e}")

from nanograd_llm.data import BatchSampler
from nanograd_llm.optim import get_lr
from nanograd_llm.train import make_config, model_config, prepare_data
from nanograd_llm.checkpoint import build_model


class Block(nn.Module):
    def __init__(self, C, H, gelu="tanh"):
        super().__init__()
        self.gelu = gelu
        self.ln_1 = nn.LayerNorm(C, bias=False)
        self.c_attn = nn.Linear(C, 3 * C, bias=False)
        self.a_proj = nn.Linear(C, C, bias=False)
        self.ln_2 = nn.LayerNorm(C, bias=False)
        self.c_fc = nn.Linear(C, 4 * C, bias=False)
        self.m_proj = nn.Linear(4 * C, C, bias=False)
        self.H = H

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.H, C // self.H).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.a_proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.m_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate=self.gelu))


class TorchGPT(nn.Module):
    def __init__(self, V, T, L, H, C, gelu="tanh"):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(T, C)
        self.h = nn.ModuleList(Block(C, H, gelu) for _ in range(L))
        self.ln_f = nn.LayerNorm(C, bias=False)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for b in self.h:
            x = b(x)
        logits = self.ln_f(x) @ self.wte.weight.T
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def copy_weights(tm: TorchGPT, params: dict) -> None:
    with torch.no_grad():
        tm.wte.weight.copy_(torch.from_numpy(params["wte.weight"]))
        tm.wpe.weight.copy_(torch.from_numpy(params["wpe.weight"]))
        tm.ln_f.weight.copy_(torch.from_numpy(params["ln_f.weight"]))
        for i, b in enumerate(tm.h):
            p = lambda n: torch.from_numpy(np.ascontiguousarray(params[f"h.{i}.{n}"]))
            b.ln_1.weight.copy_(p("ln_1.weight"))
            b.ln_2.weight.copy_(p("ln_2.weight"))
            b.c_attn.weight.copy_(p("attn.c_attn.weight").T)    # ours (in, out), torch (out, in)
            b.a_proj.weight.copy_(p("attn.c_proj.weight").T)
            b.c_fc.weight.copy_(p("mlp.c_fc.weight").T)
            b.m_proj.weight.copy_(p("mlp.c_proj.weight").T)


# ---------------------------------------------------------------------------------------------
# --nanogpt-rng: nanoGPT's model, written so that construction and initialisation consume the
# global torch generator in the same order as nanoGPT's model.py.

class NanoAttention(nn.Module):
    def __init__(self, C, H, dropout):
        super().__init__()
        self.c_attn = nn.Linear(C, 3 * C, bias=False)
        self.c_proj = nn.Linear(C, C, bias=False)
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)
        self.H, self.p = H, dropout

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.H, C // self.H).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.p if self.training else 0.0,
                                           is_causal=True)
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C)))


class NanoMLP(nn.Module):
    def __init__(self, C, dropout, gelu):
        super().__init__()
        self.c_fc = nn.Linear(C, 4 * C, bias=False)
        self.gelu = nn.GELU(approximate=gelu)
        self.c_proj = nn.Linear(4 * C, C, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class NanoBlock(nn.Module):
    def __init__(self, C, H, dropout, gelu):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C, bias=False)
        self.attn = NanoAttention(C, H, dropout)
        self.ln_2 = nn.LayerNorm(C, bias=False)
        self.mlp = NanoMLP(C, dropout, gelu)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class NanoGPT(nn.Module):
    def __init__(self, V, T, L, H, C, dropout=0.0, gelu="none"):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(V, C),
            wpe=nn.Embedding(T, C),
            drop=nn.Dropout(dropout),
            h=nn.ModuleList([NanoBlock(C, H, dropout, gelu) for _ in range(L)]),
            ln_f=nn.LayerNorm(C, bias=False),
        ))
        self.lm_head = nn.Linear(C, V, bias=False)
        self.transformer.wte.weight = self.lm_head.weight           # tied
        self.apply(self._init_weights)        # children first: the tied matrix is drawn twice
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * L))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets):
        tr = self.transformer
        x = tr.drop(tr.wte(idx) + tr.wpe(torch.arange(idx.shape[1], device=idx.device)))
        for block in tr.h:
            x = block(x)
        logits = self.lm_head(tr.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def nanogpt_lr(it, cfg):
    """nanoGPT's get_lr, written out on its own (ours is nanograd_llm.optim.get_lr)."""
    if it < cfg.warmup_iters:
        return cfg.lr * (it + 1) / (cfg.warmup_iters + 1)
    if it > cfg.decay_iters:
        return cfg.min_lr
    ratio = (it - cfg.warmup_iters) / (cfg.decay_iters - cfg.warmup_iters)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (cfg.lr - cfg.min_lr)


def char_splits(path):
    """nanoGPT's data/shakespeare_char/prepare.py: sorted characters, uint16 ids, 90/10."""
    with open(path, "r", encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    ids = np.array([stoi[ch] for ch in text], dtype=np.uint16)
    n = len(text)
    return len(chars), ids[:int(n * 0.9)], ids[int(n * 0.9):]


def torch_to_ours(tm: NanoGPT) -> dict:
    """Torch parameters under our GPT-2 names; Linear weights (out, in) -> ours (in, out)."""
    out = {}
    for name, p in tm.named_parameters():        # the tied matrix appears once, as wte
        a = p.detach().numpy()
        name = name.removeprefix("transformer.")
        if any(name.endswith(k) for k in ("c_attn.weight", "c_proj.weight", "c_fc.weight")):
            a = a.T
        out[name] = np.ascontiguousarray(a, dtype=np.float32)
    return out


def full_val_loss(loss_fn, val: np.ndarray, T: int) -> float:
    """Mean loss over the whole split in non-overlapping (T+1)-windows, 64 windows per call."""
    val = val.astype(np.int64)
    starts = np.arange((val.size - 1) // T) * T
    total, count = 0.0, 0
    for s in range(0, starts.size, 64):
        w = val[starts[s:s + 64, None] + np.arange(T + 1)]
        x, y = np.ascontiguousarray(w[:, :-1]), np.ascontiguousarray(w[:, 1:])
        total += loss_fn(x, y) * y.size
        count += y.size
    return total / count


def run_nanogpt_rng(args):
    cfg = make_config(args.preset, data=args.data, out_dir="/tmp/baby_torch_ref")
    T, B = cfg.block_size, cfg.batch_size
    V, train_ids, val_ids = char_splits(args.data)
    torch.manual_seed(args.seed)
    tm = NanoGPT(V, T, cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.dropout, args.gelu or "none")
    dev = torch.device(args.device)
    tm = tm.to(dev)
    import contextlib
    amp = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if args.bf16 \
        else contextlib.nullcontext

    def t(a):
        return torch.from_numpy(a).to(dev)

    def get_batch(split):
        data = train_ids if split == "train" else val_ids
        ix = torch.randint(len(data) - T, (B,)).numpy()
        w = data[ix[:, None] + np.arange(T + 1)].astype(np.int64)
        return np.ascontiguousarray(w[:, :-1]), np.ascontiguousarray(w[:, 1:])

    # Dropout is 0: a training-mode forward must leave the generator alone, else the batch
    # stream below would depend on the model code. Checked once, then the state is restored.
    state = torch.get_rng_state()
    x, y = get_batch("train")
    before = torch.get_rng_state()
    with amp():
        loss0 = tm(t(x), t(y))
    loss0.backward()
    if not torch.equal(before, torch.get_rng_state()):
        raise SystemExit("the torch forward/backward draws random numbers: streams would differ")
    tm.zero_grad(set_to_none=True)
    torch.set_rng_state(state)

    if args.ours_from_torch:
        from nanograd_llm.models.gpt import GPT, GPTConfig
        from nanograd_llm.optim import AdamW, clip_grad_norm
        model = GPT(GPTConfig(vocab_size=V, block_size=T, n_layer=cfg.n_layer,
                              n_head=cfg.n_head, n_embd=cfg.n_embd, dropout=cfg.dropout,
                              bias=False), dtype="float32")
        model.load_state_dict(torch_to_ours(tm), source="torch model")
        del tm
        opt = AdamW.from_model(model, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps,
                               weight_decay=cfg.weight_decay)

        def loss_of(x, y):
            return float(model.forward(x, y)[1])

        def set_mode(train):
            model.train() if train else model.eval()

        def update(x, y, it):
            _, loss = model.forward(x, y)
            nxt = get_batch("train")                 # nanoGPT: next batch before backward
            model.backward()
            clip_grad_norm(model.grad_flat, cfg.grad_clip)
            opt.step(model.grads, lr=get_lr(it, cfg.lr, cfg.min_lr, cfg.warmup_iters,
                                            cfg.decay_iters))
            return float(loss), nxt
    else:
        params = [p for p in tm.parameters()]
        opt = torch.optim.AdamW(
            [{"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
             {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
            lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=False)

        def loss_of(x, y):
            with torch.no_grad(), amp():
                return tm(t(x), t(y)).item()

        def set_mode(train):
            tm.train(train)

        def update(x, y, it):
            for g in opt.param_groups:
                g["lr"] = nanogpt_lr(it, cfg)
            with amp():
                loss = tm(t(x), t(y))
            nxt = get_batch("train")                 # nanoGPT: next batch before backward
            loss.backward()
            torch.nn.utils.clip_grad_norm_(tm.parameters(), cfg.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            return loss.item(), nxt

    t0 = time.perf_counter()
    x, y = get_batch("train")                        # the first batch, before the loop
    it = 0
    while True:
        if it % cfg.eval_interval == 0:
            set_mode(False)
            e = {s: float(np.mean([loss_of(*get_batch(s)) for _ in range(cfg.eval_iters)]))
                 for s in ("train", "val")}
            set_mode(True)
            print(json.dumps({"step": it, "train_loss": round(e["train"], 4),
                              "val_loss": round(e["val"], 4),
                              "elapsed_s": round(time.perf_counter() - t0, 1)}), flush=True)
        if it == cfg.max_iters:
            # nanoGPT does one more update here and then stops; it changes nothing it reports.
            break
        loss, (x, y) = update(x, y, it)
        if it < 3 or not math.isfinite(loss):
            print(json.dumps({"step": it, "batch_loss": round(loss, 6)}), flush=True)
        if not math.isfinite(loss):
            raise SystemExit(f"non-finite loss at step {it}")
        it += 1
    set_mode(False)
    print(json.dumps({"step": it, "full_val_loss": round(full_val_loss(loss_of, val_ids, T), 4),
                      "trainer": "nanograd_llm" if args.ours_from_torch else "torch",
                      "seed": args.seed, "gelu": "tanh" if args.ours_from_torch
                      else (args.gelu or "none"),
                      "elapsed_s": round(time.perf_counter() - t0, 1)}), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--gelu", choices=["tanh", "none"], default=None,
                    help="'none' = exact erf GELU (nanoGPT's nn.GELU; default with "
                         "--nanogpt-rng); 'tanh' = ours (default otherwise)")
    ap.add_argument("--nanogpt-rng", action="store_true",
                    help="nanoGPT's own random stream for init and batches (see above)")
    ap.add_argument("--preset", choices=["baby", "shakespeare"], default="baby",
                    help="with --nanogpt-rng: nanoGPT's shakespeare_char CPU ('baby') or GPU "
                         "('shakespeare') configuration")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--bf16", action="store_true", help="cuda: bfloat16 autocast (nanoGPT's "
                    "default dtype on GPUs that support it)")
    ap.add_argument("--ours-from-torch", action="store_true",
                    help="with --nanogpt-rng: train nanograd_llm's GPT on that stream")
    args = ap.parse_args(argv)
    if args.threads < 1:        # torch.set_num_threads's RuntimeError traceback
        ap.error(f"--threads must be at least 1, got {args.threads}")
    try:
        from nanograd_llm.data import load_text
        load_text(args.data)    # a missing or unreadable DATA before anything is built
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    torch.set_num_threads(args.threads)
    if args.ours_from_torch and not args.nanogpt_rng:
        ap.error("--ours-from-torch needs --nanogpt-rng")
    if (args.preset != "baby" or args.device != "cpu" or args.bf16) and \
            (not args.nanogpt_rng or args.ours_from_torch):
        ap.error("--preset/--device/--bf16 apply to the torch side of --nanogpt-rng only")
    if args.bf16 and args.device != "cuda":
        ap.error("--bf16 needs --device cuda")
    if args.ours_from_torch and args.gelu == "none":
        ap.error("nanograd_llm's GELU is the tanh form: --gelu none does not apply to it")
    if args.nanogpt_rng:
        return run_nanogpt_rng(args)
    args.gelu = args.gelu or "tanh"
    cfg = make_config("baby", data=args.data, out_dir="/tmp/baby_torch_ref",
                      overrides={"seed": str(args.seed)})
    tok, data, _ = prepare_data(cfg, __import__("pathlib").Path(cfg.out_dir))
    ours = build_model(model_config(cfg, tok.vocab_size), seed=cfg.seed)
    tm = TorchGPT(tok.vocab_size, cfg.block_size, cfg.n_layer, cfg.n_head, cfg.n_embd, args.gelu)
    copy_weights(tm, ours.state_dict())
    decay = [p for p in tm.parameters() if p.dim() >= 2]
    no_decay = [p for p in tm.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)
    sampler = BatchSampler(data, cfg.block_size, cfg.batch_size, seed=cfg.seed)

    def evaluate(step):
        tm.eval()
        out = {}
        with torch.no_grad():
            for split in ("train", "val"):
                ls = [tm(torch.from_numpy(w[:, :-1]), torch.from_numpy(w[:, 1:])).item()
                      for w in sampler.eval_batches(split, cfg.eval_iters, step)]
                out[split] = sum(ls) / len(ls)
        tm.train()
        return out

    t0 = time.perf_counter()
    for step in range(cfg.max_iters + 1):
        if step % cfg.eval_interval == 0:
            e = evaluate(step)
            print(json.dumps({"step": step, "train_loss": round(e["train"], 4),
                              "val_loss": round(e["val"], 4),
                              "elapsed_s": round(time.perf_counter() - t0, 1)}), flush=True)
        if step == cfg.max_iters:
            break
        lr = get_lr(step, cfg.lr, cfg.min_lr, cfg.warmup_iters, cfg.decay_iters)
        for g in opt.param_groups:
            g["lr"] = lr
        w = torch.from_numpy(sampler.train_batch())
        loss = tm(w[:, :-1], w[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tm.parameters(), cfg.grad_clip)
        opt.step()
        if not math.isfinite(loss.item()):
            raise SystemExit(f"non-finite loss at step {step}")


if __name__ == "__main__":
    main()
