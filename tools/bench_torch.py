"""PyTorch side of the ONNX benchmarks (bench/cases.ts), for a side-by-side comparison in one run.

`pnpm -s bench --torch PYTHON` calls this script once per case (each in its own process, so its
peak RSS is its own). It mirrors the ONNX cases exactly: GPT-2 small with random weights from
its config (dropout off), the same batch shapes, the same warm-up and timed repetitions, the same
FLOP formulas (bench/model.ts), and PEFT's PREFIX_TUNING (projection, hidden 512) for the train
step. Needs torch, transformers and peft (tools only: CI and the library never run Python).

    python tools/bench_torch.py --case torch.forward.gpt2-small.b5t128 --threads 2 [--device cuda]

prints one JSON line in the bench result format (backend "torch").
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time

import torch
import transformers
from transformers import DynamicCache, GPT2Config, GPT2LMHeadModel

L, D, V, H = 12, 768, 50257, 12
DEV = torch.device("cpu")  # --device


def sync() -> None:
    if DEV.type == "cuda":
        torch.cuda.synchronize()


def forward_flops(tokens: int, tk: int) -> float:
    return tokens * (24 * L * D * D + 2 * D * V + 4 * L * D * tk)


def prefix_backward_flops(tokens: int, tk: int) -> float:
    return tokens * (24 * (L - 1) * D * D + 18 * D * D + 2 * D * V + 8 * (L - 1) * D * tk + 6 * D * tk)


def prefix_mlp_flops(p: int, hidden: int) -> float:
    return 6 * p * (D * hidden + hidden * 2 * L * D)


def model() -> GPT2LMHeadModel:
    torch.manual_seed(1)
    cfg = GPT2Config(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return GPT2LMHeadModel(cfg).to(DEV)


def ids(b: int, t: int, seed: int) -> torch.Tensor:
    i = torch.arange(b * t, dtype=torch.int64)
    return ((i * 7919 + seed * 104729) % V).reshape(b, t).to(DEV)


def timed(n: int, f) -> list[float]:
    ms = []
    for _ in range(n):
        sync()
        t = time.perf_counter()
        f()
        sync()
        ms.append((time.perf_counter() - t) * 1000)
    return ms


def forward(steps: int) -> dict:
    m = model().eval()
    b, t = 5, 128
    x = ids(b, t, 1)
    with torch.inference_mode():
        run = lambda: m(input_ids=x, labels=x).loss.item()  # noqa: E731
        run()
        ms = timed(steps, run)
    step = statistics.median(ms)
    return {"tokens_per_s": b * t / (step / 1000), "step_ms": step, "flops_per_step": forward_flops(b * t, t),
            "batch": b, "seq": t, "timed_steps": steps, "all_ms": " ".join(f"{v:.1f}" for v in ms)}


def train(steps: int) -> dict:
    from peft import PrefixTuningConfig, get_peft_model

    b, t, p, hidden = 5, 128, 10, 512
    m = get_peft_model(model(), PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=p, prefix_projection=True, encoder_hidden_size=hidden))
    m.train()
    params = [q for q in m.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=5e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    x = ids(b, t, 2)
    mask = torch.ones(b, t, dtype=torch.int64, device=DEV)
    losses = []

    def step() -> None:
        loss = m(input_ids=x, attention_mask=mask, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())

    step()
    ms = timed(steps, step)
    s = statistics.median(ms)
    flops = forward_flops(b * t, p + t) + prefix_backward_flops(b * t, p + t) + prefix_mlp_flops(p, hidden)
    return {"tokens_per_s": b * t / (s / 1000), "step_ms": s, "flops_per_step": flops, "batch": b, "seq": t, "prefix": p,
            "mlp_hidden": hidden, "timed_steps": steps, "all_ms": " ".join(f"{v:.1f}" for v in ms),
            "losses": " ".join(f"{v:.4f}" for v in losses[1:]), "trainable": sum(q.numel() for q in params)}


def decode(rows: int, steps: int, prefix: int) -> dict:
    """Greedy decoding with a KV cache after a 64-token prompt; with `prefix`, row i reads prefix i of a bank."""
    m = model().eval()
    t = 64
    x = ids(rows, t, 3 if prefix == 0 else 4)
    with torch.inference_mode():
        cache = DynamicCache()
        if prefix:
            g = torch.Generator().manual_seed(7)
            bank = (torch.randn(rows, prefix, 2 * L * D, generator=g) * 0.5).to(DEV)  # one stored prefix per user
            kv = bank.view(rows, prefix, 2 * L, H, D // H).permute(2, 0, 3, 1, 4)  # [2L, B, H, P, Dh]
            for layer in range(L):
                cache.update(kv[2 * layer].contiguous(), kv[2 * layer + 1].contiguous(), layer)
        mask = torch.ones(rows, prefix + t, dtype=torch.int64, device=DEV)
        pos = torch.arange(prefix, prefix + t, device=DEV).expand(rows, t)
        sync()
        t0 = time.perf_counter()
        out = m(input_ids=x, attention_mask=mask, position_ids=pos, past_key_values=cache, use_cache=True)
        sync()
        prefill_ms = (time.perf_counter() - t0) * 1000
        n = prefix + t

        def advance() -> None:
            nonlocal out, mask, n
            tok = out.logits[:, -1, :].argmax(-1, keepdim=True)
            mask = torch.cat([mask, torch.ones(rows, 1, dtype=torch.int64, device=DEV)], 1)
            out = m(input_ids=tok, attention_mask=mask, position_ids=torch.full((rows, 1), n, device=DEV), past_key_values=out.past_key_values, use_cache=True)
            n += 1

        for _ in range(2):
            advance()
        sync()
        t1 = time.perf_counter()
        for _ in range(steps):
            advance()
        sync()
        step = (time.perf_counter() - t1) * 1000 / steps
    tk = prefix + t + 2 + steps / 2
    return {"tokens_per_s": rows * 1000 / step, "step_ms": step, "flops_per_step": forward_flops(rows, tk + 1), "batch": rows,
            "prompt": t, "prefix": prefix, "generated": steps, "prefill_ms": round(prefill_ms), "mean_cache": tk}


CASES = {
    "torch.forward.gpt2-small.b5t128": lambda s: forward(s or 4),
    "torch.train.gpt2-small.prefix10.b5t128": lambda s: train(s or 4),
    "torch.decode.gpt2-small.b1": lambda s: decode(1, s or 64, 0),
    "torch.decode.gpt2-small.b32-mixed": lambda s: decode(32, s or 32, 10),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    a = ap.parse_args()
    global DEV
    DEV = torch.device(a.device)
    torch.set_num_threads(a.threads)
    load0 = os.getloadavg()[0]
    r = CASES[a.case](a.steps)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    step_ms = r.pop("step_ms")
    out = {"name": a.case, "backend": "torch", "tokens_per_s": r.pop("tokens_per_s"), "step_ms": step_ms,
           "gflops": r["flops_per_step"] / (step_ms / 1000) / 1e9, "flops_per_step": r.pop("flops_per_step"),
           "peak_rss_mb": round(rss), "threads": a.threads, "device": a.device,
           **({"gpu": torch.cuda.get_device_name(), "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20),
               "tf32_matmul": torch.backends.cuda.matmul.allow_tf32} if a.device == "cuda" else {}), "load_avg_1m": [round(load0, 2), round(os.getloadavg()[0], 2)],
           "torch": torch.__version__, "transformers": transformers.__version__, "blas": "mkl" if torch.backends.mkl.is_available() else "other", **r}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
