#!/usr/bin/env python3
"""PyTorch reference for the `baby` preset: the same model (nanoGPT's GPT, bias=False, tied
weights), the same initial weights (copied from nanograd_llm's GPT with the same seed), the same
batches (nanograd_llm's BatchSampler), LR schedule, AdamW parameter groups and clipping.

It answers one question: does a run of this config in PyTorch reach the val loss that
nanograd_llm reaches? Usage (not part of the test suite; needs torch):

    python3 benchmarks/baby_torch_reference.py /path/to/tinyshakespeare.txt [--seed 1337]
"""
from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--gelu", choices=["tanh", "none"], default="tanh",
                    help="'none' = exact erf GELU (nanoGPT's nn.GELU); 'tanh' = ours")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
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
        lr = get_lr(step, cfg.lr, cfg.min_lr, cfg.warmup_iters, cfg.lr_decay_iters)
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
