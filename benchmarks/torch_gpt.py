"""A compact nanoGPT-style GPT in PyTorch, used only as the benchmark baseline.

Same architecture as nanograd_llm's GPT (pre-LN blocks, fused c_attn, tanh-GELU, tied wte/lm_head,
learned positions); weights are copied from a nanograd_llm model through the GPT-2 parameter names
(nanograd_llm stores linear weights as (in, out), torch.nn.Linear as (out, in): a transpose).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, C, n_head, bias=True):
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(C, 3 * C, bias=bias)
        self.c_proj = nn.Linear(C, C, bias=bias)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)   # as nanoGPT
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, C, bias=True):
        super().__init__()
        self.c_fc = nn.Linear(C, 4 * C, bias=bias)
        self.c_proj = nn.Linear(4 * C, C, bias=bias)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, C, n_head, bias=True, eps=1e-5):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C, eps=eps, bias=bias)
        self.attn = CausalSelfAttention(C, n_head, bias)
        self.ln_2 = nn.LayerNorm(C, eps=eps, bias=bias)
        self.mlp = MLP(C, bias)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TorchGPT(nn.Module):
    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd, bias=True, eps=1e-5):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList([Block(n_embd, n_head, bias, eps) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd, eps=eps, bias=bias)

    def forward(self, idx, targets):
        T = idx.shape[1]
        pos = torch.arange(T, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for blk in self.h:
            x = blk(x)
        x = self.ln_f(x)
        logits = x @ self.wte.weight.t()            # tied output layer
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss


def from_state_dict(cfg: dict, state: dict) -> TorchGPT:
    """Build a TorchGPT from nanograd_llm's GPT-2-named state dict (host numpy arrays)."""
    m = TorchGPT(cfg["vocab_size"], cfg["block_size"], cfg["n_layer"], cfg["n_head"],
                 cfg["n_embd"], cfg.get("bias", True), cfg.get("layer_norm_epsilon", 1e-5))
    own = dict(m.named_parameters())
    with torch.no_grad():
        for name, p in own.items():
            arr = torch.from_numpy(state[name].copy())
            if name.endswith(".weight") and (".c_attn." in name or ".c_proj." in name
                                             or ".c_fc." in name):
                arr = arr.t()                        # (in, out) -> (out, in)
            if tuple(arr.shape) != tuple(p.shape):
                raise ValueError(f"{name}: shape {tuple(arr.shape)} vs {tuple(p.shape)}")
            p.copy_(arr)
    missing = set(state) - set(own)
    if missing:
        raise ValueError(f"parameters without a torch counterpart: {sorted(missing)}")
    return m


def param_groups(model: TorchGPT, weight_decay: float):
    """nanoGPT's grouping: decay every parameter with ndim >= 2, none of the others."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def train_step(model: TorchGPT, opt, idx, tgt, bf16: bool = False):
    """One training step: forward (under bf16 autocast on the GPU when asked), backward, the
    optimizer's step, gradients set to None. Returns the detached loss."""
    if bf16:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            _, loss = model(idx, tgt)
    else:
        _, loss = model(idx, tgt)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss.detach()
