"""An independent PyTorch autograd implementation of the same GPT, used only by the tests.

It reads our parameter dict (GPT-2 names and layouts) and uses torch's own ops (F.layer_norm,
F.gelu(approximate='tanh'), F.softmax, F.cross_entropy), so agreement is a real cross-check.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from nanograd_llm.layers.positional import sinusoidal_table


def torch_gpt_forward(params: dict, cfg, idx, targets=None, dtype=torch.float64, masks=None):
    """Returns (logits, loss, torch_params) with requires_grad leaves in torch_params.

    masks: fixed dropout scales (0 or 1/(1-p)) to apply, as dropout_masks(model) reads them from
    our model's last forward; None: no dropout."""
    masks = masks or {}

    def drop(h, name):
        m = masks.get(name)
        return h if m is None else h * torch.as_tensor(np.asarray(m), dtype=dtype)
    P = {k: torch.tensor(np.asarray(v), dtype=dtype, requires_grad=True) for k, v in params.items()}
    idx_t = torch.as_tensor(np.asarray(idx), dtype=torch.long)
    B, T = idx_t.shape
    C, nh = cfg.n_embd, cfg.n_head
    hs = C // nh
    x = P["wte.weight"][idx_t]
    if cfg.positional == "learned":
        x = x + P["wpe.weight"][:T]
    else:
        x = x + torch.as_tensor(sinusoidal_table(T, C, np, np.float64), dtype=dtype)
    x = drop(x, "emb")
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))

    def lin(h, name):
        out = h @ P[name + ".weight"]
        if name + ".bias" in P:
            out = out + P[name + ".bias"]
        return out

    def ln(h, name):
        return F.layer_norm(h, (C,), P[name + ".weight"], P.get(name + ".bias"),
                            cfg.layer_norm_epsilon)

    for i in range(cfg.n_layer):
        pre = f"h.{i}."
        h = ln(x, pre + "ln_1")
        q, k, v = lin(h, pre + "attn.c_attn").split(C, dim=2)
        q = q.view(B, T, nh, hs).transpose(1, 2)
        k = k.view(B, T, nh, hs).transpose(1, 2)
        v = v.view(B, T, nh, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        att = att.masked_fill(~mask, float("-inf"))
        att = drop(F.softmax(att, dim=-1), pre + "attn.att")
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + drop(lin(y, pre + "attn.c_proj"), pre + "attn.out")
        h = ln(x, pre + "ln_2")
        h = lin(h, pre + "mlp.c_fc")
        h = F.gelu(h, approximate="tanh") if cfg.activation == "gelu" else F.relu(h)
        x = x + drop(lin(h, pre + "mlp.c_proj"), pre + "mlp.out")
    x = ln(x, "ln_f")
    head = P["wte.weight"] if cfg.tie_weights else P["lm_head.weight"]
    logits = x @ head.T
    loss = None
    if targets is not None:
        tgt = torch.as_tensor(np.asarray(targets), dtype=torch.long)
        ignore = cfg.ignore_index if cfg.ignore_index is not None else -100
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1),
                               ignore_index=ignore)
    return logits, loss, P


def dropout_masks(model) -> dict:
    """The dropout scales of `model`'s last training forward (one part, dense attention), named
    as torch_gpt_forward's masks; read them before backward(), which frees the forward's cache."""
    (cache,) = model._cache
    _, _, c_drop, c_blocks = cache[:4]
    masks = {"emb": c_drop.scale}
    for i, c in enumerate(c_blocks):
        masks[f"h.{i}.attn.att"] = c.attn.attn.drop.scale
        masks[f"h.{i}.attn.out"] = c.attn.drop.scale
        masks[f"h.{i}.mlp.out"] = c.mlp.drop.scale
    return masks
