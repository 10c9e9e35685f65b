#!/usr/bin/env python3
"""The model and training step that `scalinglab bench` times, in PyTorch eager, for the
throughput comparison of `scripts/bench-torch.sh`.

Same GPT as src/model/gpt.rs (nanoGPT's model.py): token + learned position embeddings,
pre-LayerNorm blocks of causal multi-head attention (c_attn → scores/√hd → causal softmax →
·v → c_proj) and a 4× MLP with exact-erf GELU, final LayerNorm, LM head tied to the token
embedding, biases everywhere, no dropout. GPT-2 init (src/model/init.rs): N(0, 0.02) for
matrices and embeddings, N(0, 0.02/√(2L)) for the residual projections, zero biases, unit
LayerNorm weights. One step is the one `Trainer::step` runs: forward, mean cross-entropy,
backward, global-norm clip to 1.0, AdamW (β = 0.9, 0.95, ε = 1e-8, weight decay 0.1 on the
Linear weights only, lr 1e-3) — `torch.optim.AdamW` with its default (for-loop on CPU)
implementation. Random tokens, B sequences of T tokens per step, 1 thread.

Attention uses `F.scaled_dot_product_attention(is_causal=True)` (nanoGPT's fast path and the
stronger eager baseline on CPU); `--attention manual` runs nanoGPT's explicit masked softmax.

Prints a table or, with --json, one JSON object per shape with the same keys as
`scalinglab bench --json` (tokens_per_second, mfu, ms_per_step, cpu_tokens_per_second — tokens
per second of process CPU time, all threads —, peak_rss_mib, ...).
"""

import argparse
import json
import math
import os
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, c, h, manual):
        super().__init__()
        self.h, self.manual = h, manual
        self.ln_1 = nn.LayerNorm(c)
        self.c_attn = nn.Linear(c, 3 * c)
        self.attn_proj = nn.Linear(c, c)
        self.ln_2 = nn.LayerNorm(c)
        self.c_fc = nn.Linear(c, 4 * c)
        self.mlp_proj = nn.Linear(4 * c, c)

    def attn(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        q = q.view(b, t, self.h, c // self.h).transpose(1, 2)
        k = k.view(b, t, self.h, c // self.h).transpose(1, 2)
        v = v.view(b, t, self.h, c // self.h).transpose(1, 2)
        if self.manual:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            mask = torch.ones(t, t, dtype=torch.bool).tril()
            att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
            y = att @ v
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.attn_proj(y.transpose(1, 2).contiguous().view(b, t, c))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, vocab, block, c, layers, heads, manual):
        super().__init__()
        self.wte = nn.Embedding(vocab, c)
        self.wpe = nn.Embedding(block, c)
        self.h = nn.ModuleList(Block(c, heads, manual) for _ in range(layers))
        self.ln_f = nn.LayerNorm(c)
        self.lm_head = nn.Linear(c, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * layers))
            elif p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith("bias"):
                nn.init.zeros_(p)
            else:
                nn.init.ones_(p)

    def forward(self, idx, targets):
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(t))
        for blk in self.h:
            x = blk(x)
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def flops_per_token(v, t, c, layers):
    """Exact training matmul FLOPs per token, as src/model/count.rs: 3·(24LC² + 4LTC + 2CV)."""
    return 3.0 * (24 * layers * c * c + 4 * layers * t * c + 2 * c * v)


def bench(shape, a):
    c, layers, heads = shape
    torch.manual_seed(0)
    model = GPT(a.vocab_size, a.block_size, c, layers, heads, a.attention == "manual")
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and not n.startswith(("wte", "wpe"))]
    other = [p for n, p in model.named_parameters() if not (p.dim() == 2 and not n.startswith(("wte", "wpe")))]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
        lr=1e-3,
        betas=(0.9, 0.95),
        eps=1e-8,
    )
    g = torch.Generator().manual_seed(0)

    def batch():
        shp = (a.batch_size, a.block_size)
        return torch.randint(0, a.vocab_size, shp, generator=g), torch.randint(0, a.vocab_size, shp, generator=g)

    def step(x, y):
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    for _ in range(a.warmup):
        step(*batch())
    secs = cpu = 0.0
    for _ in range(a.steps):
        x, y = batch()
        c0 = time.process_time()
        t0 = time.perf_counter()
        step(x, y)
        secs += time.perf_counter() - t0
        cpu += time.process_time() - c0
    tps = a.steps * a.batch_size * a.block_size / secs
    mfu = tps * flops_per_token(a.vocab_size, a.block_size, c, layers) / (a.peak_gflops * 1e9 * a.threads)
    return {
        "shape": f"{c}x{layers}x{heads}",
        "threads": a.threads,
        "tokens_per_second": tps,
        "mfu": mfu,
        "ms_per_step": 1e3 * secs / a.steps,
        "cpu_tokens_per_second": a.steps * a.batch_size * a.block_size / cpu,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "params_total": sum(p.numel() for p in model.parameters()),
        "block_size": a.block_size,
        "vocab_size": a.vocab_size,
        "batch_size": a.batch_size,
        "steps": a.steps,
        "peak_gflops_per_core": a.peak_gflops,
        "torch": torch.__version__,
        "attention": a.attention,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", default="64x2x4,128x4x4,256x6x8", help="CxLxH, comma-separated")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--block-size", type=int, default=128)
    p.add_argument("--vocab-size", type=int, default=4096)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--peak-gflops", type=float, default=250.0, help="per core, for MFU (as scalinglab bench)")
    p.add_argument("--attention", choices=["sdpa", "manual"], default="sdpa")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    shapes = [tuple(int(v) for v in s.split("x")) for s in a.shape.split(",")]
    if not a.json:
        print(f"{'shape':>10} {'threads':>7} {'tokens/s':>12} {'MFU':>7} {'ms/step':>10} {'peak RSS':>9}")
    for s in shapes:
        r = bench(s, a)
        if a.json:
            print(json.dumps(r), flush=True)
        else:
            print(
                f"{r['shape']:>10} {r['threads']:>7} {r['tokens_per_second']:>12.0f} {100 * r['mfu']:>6.1f}% "
                f"{r['ms_per_step']:>10.1f} {r['peak_rss_mib']:>8.0f}M",
                flush=True,
            )


if __name__ == "__main__":
    main()
