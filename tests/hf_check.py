#!/usr/bin/env python3
"""Independent check of `scalinglab export --hf` (issue #17), used by tests/model_cli.rs.

A GPT-2 forward written here in numpy (float64), from the exported folder alone:
config.json and model.safetensors (parsed by hand: 8-byte header length, JSON header, raw
little-endian f32), in Hugging Face's names and layouts (Conv1D weights are (in, out)). It
scores the validation windows of a prepared corpus (val.bin, the same evenly spread windows as
scalinglab's `val_starts`) and prints one JSON object:

  loss_erf   mean cross-entropy with the exact GELU the config names ("gelu")
  loss_tanh  the same with GPT-2's tanh approximation ("gelu_new"), to measure what exporting
             with GPT-2's default activation would change
  tokenizer  whether transformers' AutoTokenizer loads the folder and encodes bytes as the
             corpus does (null when transformers is not installed)

Usage: hf_check.py HF_DIR CORPUS_DIR N_WINDOWS_SPREAD N_WINDOWS_USED
"""
import json
import math
import struct
import sys

import numpy as np


def load_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8 : 8 + n])
    data = b[8 + n :]
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32", (k, v["dtype"])
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(data[s:e], dtype="<f4").reshape(v["shape"]).astype(np.float64)
    return out, header.get("__metadata__", {})


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


_erf = np.vectorize(math.erf)


def gelu_erf(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def loss(cfg, p, x_ids, y_ids, gelu):
    B, T = x_ids.shape
    C, H = cfg["n_embd"], cfg["n_head"]
    hd = C // H
    eps = cfg["layer_norm_epsilon"]
    t = "transformer."
    x = p[t + "wte.weight"][x_ids] + p[t + "wpe.weight"][:T][None]
    mask = np.triu(np.ones((T, T), dtype=bool), 1)
    for i in range(cfg["n_layer"]):
        h = f"{t}h.{i}."
        a = layer_norm(x, p[h + "ln_1.weight"], p[h + "ln_1.bias"], eps)
        qkv = a @ p[h + "attn.c_attn.weight"] + p[h + "attn.c_attn.bias"]
        q, k, v = (qkv[..., j * C : (j + 1) * C].reshape(B, T, H, hd).transpose(0, 2, 1, 3) for j in range(3))
        att = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd)
        att = np.where(mask, -np.inf, att)
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        y = (att @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
        x = x + y @ p[h + "attn.c_proj.weight"] + p[h + "attn.c_proj.bias"]
        m = layer_norm(x, p[h + "ln_2.weight"], p[h + "ln_2.bias"], eps)
        m = gelu(m @ p[h + "mlp.c_fc.weight"] + p[h + "mlp.c_fc.bias"])
        x = x + m @ p[h + "mlp.c_proj.weight"] + p[h + "mlp.c_proj.bias"]
    x = layer_norm(x, p[t + "ln_f.weight"], p[t + "ln_f.bias"], eps)
    head = p[t + "wte.weight"] if cfg["tie_word_embeddings"] else p["lm_head.weight"]
    logits = x @ head.T
    mx = logits.max(-1, keepdims=True)
    lse = np.log(np.exp(logits - mx).sum(-1)) + mx[..., 0]
    picked = np.take_along_axis(logits, y_ids[..., None], -1)[..., 0]
    return float((lse - picked).mean())


def val_starts(n_tokens, block, n):
    span = max(n_tokens - (block + 1), 0) + 1
    return [min(i * span // max(n, 1), span - 1) for i in range(n)]


def tokenizer_check(hf_dir, corpus_dir):
    try:
        from transformers import AutoTokenizer
    except ImportError:
        return None
    tok = AutoTokenizer.from_pretrained(hf_dir)
    man = json.load(open(f"{corpus_dir}/manifest.json"))
    eot = man["tokenizer"]["eot_id"]
    ok = tok.eos_token == "<|endoftext|>" and tok.eos_token_id == eot
    text = "ROMEO: héllo"
    ids = tok(text)["input_ids"]
    if man["tokenizer"]["kind"] == "byte":
        ok = ok and ids == list(text.encode("utf-8"))
    return bool(ok and tok.decode(ids) == text)


def main():
    hf_dir, corpus_dir, spread, used = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    cfg = json.load(open(f"{hf_dir}/config.json"))
    assert cfg["model_type"] == "gpt2" and cfg["activation_function"] == "gelu", cfg
    p, meta = load_safetensors(f"{hf_dir}/model.safetensors")
    assert meta.get("format") == "pt", meta
    man = json.load(open(f"{corpus_dir}/manifest.json"))
    dtype = {"u8": "<u1", "u16": "<u2", "u32": "<u4"}[man["dtype"]]
    val = np.fromfile(f"{corpus_dir}/val.bin", dtype=dtype).astype(np.int64)
    T = cfg["n_positions"]
    starts = val_starts(len(val), T, spread)[:used]
    xs = np.stack([val[s : s + T] for s in starts])
    ys = np.stack([val[s + 1 : s + T + 1] for s in starts])
    print(
        json.dumps(
            {
                "loss_erf": loss(cfg, p, xs, ys, gelu_erf),
                "loss_tanh": loss(cfg, p, xs, ys, gelu_tanh),
                "windows": len(starts),
                "tokenizer": tokenizer_check(hf_dir, corpus_dir),
            }
        )
    )


if __name__ == "__main__":
    main()
