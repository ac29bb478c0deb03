"""Independent NumPy re-implementation of the fixture models' forward passes, written from the
architecture descriptions in fixtures/README.md (not from transformers' code), checked against the
committed expected.json logits. It proves that the documented semantics (Conv1D layout, position
offsets, scale_attn_by_inverse_layer_idx, BART's scaled embeddings / offset-2 positions / post-LN /
final_logits_bias, Llama's GQA + RoPE with rope_parameters, PEFT prefix layout) are sufficient to
reproduce transformers, i.e. what the TypeScript code has to do.

    /work/venvs/oracle/bin/python tools/verify_fixtures.py     # exit 1 on any mismatch
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "fixtures"
ATOL = 1e-4


def tensor(obj: dict) -> np.ndarray:
    # parse, round to float32 (the exact stored value, like Math.fround), then compute in float64
    return np.asarray(obj["data"], dtype=np.float32).astype(np.float64).reshape(obj["shape"])


def ints(obj: dict) -> np.ndarray:
    return np.asarray(obj["data"], dtype=np.int64).reshape(obj["shape"])


def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(-1, keepdims=True)


def gelu_new(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def gelu_erf(x: np.ndarray) -> np.ndarray:
    from math import erf

    return 0.5 * x * (1 + np.vectorize(erf)(x / math.sqrt(2)))


def attend(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray, scale: float) -> np.ndarray:
    """q [B,H,Tq,D], k/v [B,H,Tk,D], mask [B,Tq,Tk] bool (True = may attend)."""
    s = q @ k.transpose(0, 1, 3, 2) * scale
    s = np.where(mask[:, None], s, -1e30)
    return softmax(s) @ v


def causal_mask(key_mask: np.ndarray, past: int) -> np.ndarray:
    """key_mask [B, past+T] (1 = real) -> [B, T, past+T]."""
    B, Tk = key_mask.shape
    T = Tk - past
    causal = np.arange(Tk)[None, :] <= (np.arange(T)[:, None] + past)
    return causal[None] & (key_mask[:, None, :] == 1)


def gpt2_forward(d: Path, ids: np.ndarray, mask: np.ndarray, prefix: np.ndarray | None = None) -> np.ndarray:
    cfg = json.loads((d / "config.json").read_text())
    W = {k: v.astype(np.float64) for k, v in load_file(str(d / "model.safetensors")).items()}
    H, E = cfg["n_head"], cfg["n_embd"]
    hd = E // H
    B, T = ids.shape
    P = 0 if prefix is None else prefix.shape[0]
    x = W["transformer.wte.weight"][ids] + W["transformer.wpe.weight"][np.arange(P, P + T)]
    km = np.concatenate([np.ones((B, P), dtype=np.int64), mask], 1)
    m = causal_mask(km, P)
    for i in range(cfg["n_layer"]):
        p = f"transformer.h.{i}."
        h = layer_norm(x, W[p + "ln_1.weight"], W[p + "ln_1.bias"], cfg["layer_norm_epsilon"])
        qkv = h @ W[p + "attn.c_attn.weight"] + W[p + "attn.c_attn.bias"]  # Conv1D: [in, out]
        q, k, v = (t.reshape(B, T, H, hd).transpose(0, 2, 1, 3) for t in np.split(qkv, 3, -1))
        if prefix is not None:
            pv = prefix.reshape(P, -1, H, hd)  # [P, 2L, H, hd]
            pk = np.broadcast_to(pv[:, 2 * i].transpose(1, 0, 2), (B, H, P, hd))
            pvv = np.broadcast_to(pv[:, 2 * i + 1].transpose(1, 0, 2), (B, H, P, hd))
            k = np.concatenate([pk, k], 2)
            v = np.concatenate([pvv, v], 2)
        scale = 1 / math.sqrt(hd)
        if cfg.get("scale_attn_by_inverse_layer_idx"):
            scale /= i + 1
        a = attend(q, k, v, m, scale).transpose(0, 2, 1, 3).reshape(B, T, E)
        x = x + a @ W[p + "attn.c_proj.weight"] + W[p + "attn.c_proj.bias"]
        h = layer_norm(x, W[p + "ln_2.weight"], W[p + "ln_2.bias"], cfg["layer_norm_epsilon"])
        h = gelu_new(h @ W[p + "mlp.c_fc.weight"] + W[p + "mlp.c_fc.bias"])
        x = x + h @ W[p + "mlp.c_proj.weight"] + W[p + "mlp.c_proj.bias"]
    x = layer_norm(x, W["transformer.ln_f.weight"], W["transformer.ln_f.bias"], cfg["layer_norm_epsilon"])
    return x @ W["transformer.wte.weight"].T


def bart_forward(
    d: Path, enc: np.ndarray, enc_mask: np.ndarray, dec: np.ndarray, dec_mask: np.ndarray | None, prefix: np.ndarray | None = None
) -> np.ndarray:
    cfg = json.loads((d / "config.json").read_text())
    W = {k: v.astype(np.float64) for k, v in load_file(str(d / "model.safetensors")).items()}
    E, H = cfg["d_model"], cfg["encoder_attention_heads"]
    hd = E // H
    scale_emb = math.sqrt(E) if cfg["scale_embedding"] else 1.0
    tied = cfg.get("tie_word_embeddings", True)
    enc_emb = W["model.shared.weight"] if tied else W["model.encoder.embed_tokens.weight"]
    dec_emb = W["model.shared.weight"] if tied else W["model.decoder.embed_tokens.weight"]
    lm_head = W["model.shared.weight"] if tied else W["lm_head.weight"]
    eps = 1e-5

    def lin(x: np.ndarray, name: str) -> np.ndarray:
        return x @ W[name + ".weight"].T + W[name + ".bias"]  # nn.Linear: [out, in]

    def mha(xq: np.ndarray, xkv: np.ndarray, p: str, mask: np.ndarray, pre: tuple | None = None) -> np.ndarray:
        B, Tq, _ = xq.shape
        Tk = xkv.shape[1]
        q = lin(xq, p + "q_proj").reshape(B, Tq, H, hd).transpose(0, 2, 1, 3)
        k = lin(xkv, p + "k_proj").reshape(B, Tk, H, hd).transpose(0, 2, 1, 3)
        v = lin(xkv, p + "v_proj").reshape(B, Tk, H, hd).transpose(0, 2, 1, 3)
        if pre is not None:
            k = np.concatenate([np.broadcast_to(pre[0], (B,) + pre[0].shape), k], 2)
            v = np.concatenate([np.broadcast_to(pre[1], (B,) + pre[1].shape), v], 2)
        o = attend(q, k, v, mask, 1 / math.sqrt(hd)).transpose(0, 2, 1, 3).reshape(B, Tq, E)
        return lin(o, p + "out_proj")

    B, Te = enc.shape
    x = enc_emb[enc] * scale_emb + W["model.encoder.embed_positions.weight"][np.arange(Te) + 2]
    x = layer_norm(x, W["model.encoder.layernorm_embedding.weight"], W["model.encoder.layernorm_embedding.bias"], eps)
    em = np.broadcast_to((enc_mask == 1)[:, None, :], (B, Te, Te))
    for i in range(cfg["encoder_layers"]):
        p = f"model.encoder.layers.{i}."
        x = layer_norm(x + mha(x, x, p + "self_attn.", em), W[p + "self_attn_layer_norm.weight"], W[p + "self_attn_layer_norm.bias"], eps)
        h = lin(gelu_erf(lin(x, p + "fc1")), p + "fc2")
        x = layer_norm(x + h, W[p + "final_layer_norm.weight"], W[p + "final_layer_norm.bias"], eps)
    mem = x
    Td = dec.shape[1]
    P = 0 if prefix is None else prefix.shape[0]
    y = dec_emb[dec] * scale_emb + W["model.decoder.embed_positions.weight"][np.arange(P, P + Td) + 2]
    y = layer_norm(y, W["model.decoder.layernorm_embedding.weight"], W["model.decoder.layernorm_embedding.bias"], eps)
    dm = np.ones((B, Td), dtype=np.int64) if dec_mask is None else dec_mask
    sm = causal_mask(np.concatenate([np.ones((B, P), dtype=np.int64), dm], 1), P)
    cm = np.broadcast_to((enc_mask == 1)[:, None, :], (B, Td, Te))
    L = cfg["decoder_layers"]
    for i in range(L):
        p = f"model.decoder.layers.{i}."
        pre = None
        if prefix is not None:
            pv = prefix.reshape(P, -1, H, hd).transpose(1, 2, 0, 3)  # [2L, H, P, hd]
            pre = (pv[(4 * i) % (2 * L)], pv[(4 * i + 1) % (2 * L)])
        y = layer_norm(y + mha(y, y, p + "self_attn.", sm, pre), W[p + "self_attn_layer_norm.weight"], W[p + "self_attn_layer_norm.bias"], eps)
        y = layer_norm(y + mha(y, mem, p + "encoder_attn.", cm), W[p + "encoder_attn_layer_norm.weight"], W[p + "encoder_attn_layer_norm.bias"], eps)
        h = lin(gelu_erf(lin(y, p + "fc1")), p + "fc2")
        y = layer_norm(y + h, W[p + "final_layer_norm.weight"], W[p + "final_layer_norm.bias"], eps)
    return y @ lm_head.T + W["final_logits_bias"]


def llama_forward(d: Path, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    cfg = json.loads((d / "config.json").read_text())
    W = {k: v.astype(np.float64) for k, v in load_file(str(d / "model.safetensors")).items()}
    E, H, KV = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or E // H
    theta = (cfg.get("rope_parameters") or {}).get("rope_theta", cfg.get("rope_theta", 10000.0))
    eps = cfg["rms_norm_eps"]
    B, T = ids.shape

    def rms(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        return x / np.sqrt((x**2).mean(-1, keepdims=True) + eps) * w

    inv = 1.0 / theta ** (np.arange(0, hd, 2) / hd)
    ang = np.arange(T)[:, None] * inv[None]  # [T, hd/2]
    cos = np.cos(np.concatenate([ang, ang], -1))
    sin = np.sin(np.concatenate([ang, ang], -1))

    def rope(x: np.ndarray) -> np.ndarray:  # rotate_half convention
        x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
        return x * cos + np.concatenate([-x2, x1], -1) * sin

    x = W["model.embed_tokens.weight"][ids]
    m = causal_mask(mask, 0)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms(x, W[p + "input_layernorm.weight"])
        q = (h @ W[p + "self_attn.q_proj.weight"].T).reshape(B, T, H, hd).transpose(0, 2, 1, 3)
        k = (h @ W[p + "self_attn.k_proj.weight"].T).reshape(B, T, KV, hd).transpose(0, 2, 1, 3)
        v = (h @ W[p + "self_attn.v_proj.weight"].T).reshape(B, T, KV, hd).transpose(0, 2, 1, 3)
        q, k = rope(q), rope(k)
        k = np.repeat(k, H // KV, axis=1)  # query head h uses kv head h // (H/KV)
        v = np.repeat(v, H // KV, axis=1)
        a = attend(q, k, v, m, 1 / math.sqrt(hd)).transpose(0, 2, 1, 3).reshape(B, T, H * hd)
        x = x + a @ W[p + "self_attn.o_proj.weight"].T
        h = rms(x, W[p + "post_attention_layernorm.weight"])
        g = h @ W[p + "mlp.gate_proj.weight"].T
        u = h @ W[p + "mlp.up_proj.weight"].T
        x = x + (g / (1 + np.exp(-g)) * u) @ W[p + "mlp.down_proj.weight"].T
    x = rms(x, W["model.norm.weight"])
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    return x @ head.T


def check(label: str, got: np.ndarray, want: np.ndarray, failures: list[str]) -> None:
    diff = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
    ok = diff <= ATOL
    print(f"{'ok ' if ok else 'BAD'} {label}: max |diff| {diff:.2e}")
    if not ok:
        failures.append(label)


def main() -> None:
    failures: list[str] = []
    for d in sorted((FIX / "models").iterdir()):
        e = json.loads((d / "expected.json").read_text())
        inp = {k: ints(v) for k, v in e["inputs"].items()}
        if d.name.startswith("gpt2"):
            got = gpt2_forward(d, inp["input_ids"], inp["attention_mask"])
        elif d.name.startswith("bart"):
            got = bart_forward(d, inp["input_ids"], inp["attention_mask"], inp["decoder_input_ids"], inp["decoder_attention_mask"])
        else:
            got = llama_forward(d, inp["input_ids"], inp["attention_mask"])
        check(f"models/{d.name} logits", got, tensor(e["logits"]), failures)
    for d in sorted((FIX / "peft").iterdir()):
        e = json.loads((d / "expected.json").read_text())
        base = ROOT / e["base_model"]
        prefix = load_file(str(d / "adapter" / "adapter_model.safetensors"))["prompt_embeddings"].astype(np.float64)
        b = {k: ints(v) for k, v in e["batch"].items()}
        if "bart" in d.name:
            dec = ints(e["batch_derived"]["decoder_input_ids"])
            got = bart_forward(base, b["input_ids"], b["attention_mask"], dec, None, prefix)
        else:
            got = gpt2_forward(base, b["input_ids"], b["attention_mask"], prefix)
        check(f"peft/{d.name} logits", got, tensor(e["logits"]), failures)
        # loss: mean CE over labels != -100 (causal LM shifted by one)
        def loss_of(pre: np.ndarray) -> float:
            if "bart" in d.name:
                lg = bart_forward(base, b["input_ids"], b["attention_mask"], dec, None, pre)
                lab = b["labels"]
            else:
                lg = gpt2_forward(base, b["input_ids"], b["attention_mask"], pre)[:, :-1]
                lab = b["labels"][:, 1:]
            logp = lg - lg.max(-1, keepdims=True)
            logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
            return float(-np.mean([logp[i, j, lab[i, j]] for i, j in zip(*np.nonzero(lab != -100))]))

        check(f"peft/{d.name} loss", np.array(loss_of(prefix)), np.array(e["loss"]), failures)
        # d loss / d prefix by central differences on a few entries (incl. the largest)
        g = tensor(e["prefix_grad"])
        rng = np.random.default_rng(0)
        picks = [np.unravel_index(int(np.abs(g).argmax()), g.shape)] + [
            tuple(int(rng.integers(0, n)) for n in g.shape) for _ in range(5)
        ]
        fd = []
        for idx in picks:
            hi, lo = prefix.copy(), prefix.copy()
            hi[idx] += 1e-4
            lo[idx] -= 1e-4
            fd.append((loss_of(hi) - loss_of(lo)) / 2e-4)
        check(f"peft/{d.name} prefix_grad (finite differences, 6 entries)", np.array(fd), np.array([g[i] for i in picks]), failures)
        # the reparametrisation: prefix = transform.2(tanh(transform.0(embedding))) and its chain rule
        ip = {k: tensor(v) for k, v in e["initial_parameters"].items()}
        gr = {k: tensor(v) for k, v in e["gradients"].items()}
        if "transform.0.weight" in ip:
            emb = ip["embedding.weight"]
            a = np.tanh(emb @ ip["transform.0.weight"].T + ip["transform.0.bias"])
            pre = a @ ip["transform.2.weight"].T + ip["transform.2.bias"]
            dz = (g @ ip["transform.2.weight"]) * (1 - a**2)
            want = {
                "transform.2.weight": g.T @ a,
                "transform.2.bias": g.sum(0),
                "transform.0.weight": dz.T @ emb,
                "transform.0.bias": dz.sum(0),
                "embedding.weight": dz @ ip["transform.0.weight"],
            }
        else:
            pre = ip["embedding.weight"]
            want = {"embedding.weight": g}
        check(f"peft/{d.name} prefix = encoder(initial_parameters)", pre, prefix, failures)
        assert set(want) == set(gr), (set(want), set(gr))
        for k in sorted(want):
            check(f"peft/{d.name} gradients[{k}] = chain rule from prefix_grad", want[k], gr[k], failures)
    if failures:
        print(f"{len(failures)} mismatches: {failures}")
        sys.exit(1)
    print("all fixtures reproduced")


if __name__ == "__main__":
    main()
