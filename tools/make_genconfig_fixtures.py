"""Generate fixtures/genconfig/: tiny checkpoints whose generation_config.json drives decoding.

Run (from the repository root, with the oracle virtualenv, see tools/README.md):

    /work/venvs/oracle/bin/python tools/make_genconfig_fixtures.py

Writes two random-weight checkpoints with `save_pretrained` (config.json, model.safetensors,
generation_config.json, all transformers'), a word-level tokenizer.json in which the word `wN` is
token N (so a test can pass any id sequence as text), and expected.json: for each case the CLI
flags, the equivalent keyword arguments of transformers' `generate`, and what `generate` returned
for every source (token ids, and beam scores).

* `bart-sum`: a BART with a summarisation-style generation config (4 beams, `max_length`,
  `min_length`, `early_stopping: true`, forced BOS and EOS, `no_repeat_ngram_size` 3,
  `length_penalty` 2), decoded with the file alone and with explicit call options (early stopping
  false and "never", other lengths and beams, greedy, the logits processors).
* `gpt2-gen`: a GPT-2 whose generation config sets `max_length` (counting the prompt), two EOS
  ids, a repetition penalty, `no_repeat_ngram_size` and 3 beams.

The seeds are searched so that the cases are informative: with the file's settings, early
stopping true, false and "never" give different outputs for some source, and every decision
(greedy top-1 vs top-2) has a margin of at least 1e-3, so float32 rounding of another runtime
cannot flip it. Deterministic: rerunning with the same library versions rewrites identical files.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from oracle_common import FIXTURES, dir_size, seed_all, versions, write_json  # noqa: E402

torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)

from transformers import BartConfig, BartForConditionalGeneration, GenerationConfig, GPT2Config, GPT2LMHeadModel  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

hf_logging.set_verbosity_error()

OUT = FIXTURES / "genconfig"
VOCAB = 64
MIN_MARGIN = 1e-3


def randomize(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Random norm scales and biases (transformers initialises them to 1 and 0)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
            elif ("ln_" in name or "norm" in name) and name.endswith(".weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))


def tokenizer_json(specials: dict[int, str]) -> dict[str, Any]:
    """WordPiece over whitespace words: `wN` is token N; `specials` are added tokens with their own text."""
    vocab = {specials.get(i, f"w{i}"): i for i in range(VOCAB)}
    unk = specials.get(1, "w1")

    def added(i: int, content: str) -> dict[str, Any]:
        return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}

    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(i, c) for i, c in sorted(specials.items())],
        "normalizer": None, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": None,
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": unk, "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": vocab},
    }


def greedy_margin(model: torch.nn.Module, out: Any) -> float:
    """The smallest top-1 minus top-2 gap of the processed scores over the greedy steps."""
    gaps = [float((s.topk(2, dim=-1).values[:, 0] - s.topk(2, dim=-1).values[:, 1]).min()) for s in out.scores]
    return min(gaps) if gaps else 1.0


def run_case(model: torch.nn.Module, ids: torch.Tensor, kwargs: dict[str, Any], encoder_decoder: bool) -> tuple[dict[str, Any], float]:
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), return_dict_in_generate=True, output_scores=True, **kwargs)
    seqs = out.sequences.tolist()
    cut = 1 if encoder_decoder else ids.shape[1]
    rec: dict[str, Any] = {"input_ids": ids[0].tolist(), "sequences": [s[cut:] for s in seqs]}
    margin = 1.0
    if getattr(out, "sequences_scores", None) is not None:
        rec["scores"] = [float(x) for x in out.sequences_scores]
    elif not kwargs.get("do_sample"):
        margin = greedy_margin(model, out)
    return rec, margin


def build_bart(seed: int) -> BartForConditionalGeneration:
    seed_all(seed)
    cfg = BartConfig(
        vocab_size=VOCAB, d_model=16, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=48, init_std=0.3, scale_embedding=True,
        forced_eos_token_id=2,
    )
    model = BartForConditionalGeneration(cfg).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    randomize(model, gen)
    with torch.no_grad():
        model.final_logits_bias.copy_(0.3 * torch.randn(model.final_logits_bias.shape, generator=gen))
        # </s> among the likelier tokens, so that beam hypotheses finish at different lengths
        enc = torch.randint(3, VOCAB, (8, 12), generator=gen)
        dec = torch.randint(3, VOCAB, (8, 8), generator=gen)
        mean = model(input_ids=enc, decoder_input_ids=dec).logits.mean(dim=(0, 1))
        model.final_logits_bias[0, 2] += mean.sort(descending=True).values[3] - mean[2]
    model.generation_config = GenerationConfig(
        bos_token_id=0, pad_token_id=1, eos_token_id=2, decoder_start_token_id=2, forced_bos_token_id=0, forced_eos_token_id=2,
        num_beams=4, max_length=20, min_length=8, early_stopping=True, no_repeat_ngram_size=3, length_penalty=2.0,
    )
    return model


BART_CASES: list[tuple[str, list[str], dict[str, Any]]] = [
    ("file", [], {}),
    ("early-stopping-false", ["--early-stopping", "false"], {"early_stopping": False}),
    ("early-stopping-never", ["--early-stopping", "never"], {"early_stopping": "never"}),
    ("explicit-lengths", ["--beams", "2", "--max-new-tokens", "9", "--length-penalty", "0.5", "--no-repeat-ngram", "0"],
     {"num_beams": 2, "max_new_tokens": 9, "length_penalty": 0.5, "no_repeat_ngram_size": 0}),
    ("greedy", ["--greedy"], {"num_beams": 1, "do_sample": False}),
    ("min-new-tokens-return-2", ["--min-new-tokens", "12", "--max-length", "16", "--num-return-sequences", "2"],
     {"min_new_tokens": 12, "max_length": 16, "num_return_sequences": 2}),
    ("processors", ["--repetition-penalty", "1.3", "--encoder-no-repeat-ngram", "2", "--suppress-tokens", "5,6", "--begin-suppress-tokens", "7",
                    "--bad-words-ids", "[[8],[9,10]]"],
     {"repetition_penalty": 1.3, "encoder_no_repeat_ngram_size": 2, "suppress_tokens": [5, 6], "begin_suppress_tokens": [7], "bad_words_ids": [[8], [9, 10]]}),
    ("encoder-repetition-greedy", ["--greedy", "--encoder-repetition-penalty", "1.5", "--forced-bos-token-id", "4", "--decoder-start-token-id", "0"],
     {"num_beams": 1, "do_sample": False, "encoder_repetition_penalty": 1.5, "forced_bos_token_id": 4, "decoder_start_token_id": 0}),
]


def build_gpt2(seed: int) -> GPT2LMHeadModel:
    seed_all(seed)
    cfg = GPT2Config(vocab_size=VOCAB, n_positions=32, n_embd=16, n_layer=2, n_head=2, initializer_range=0.3, bos_token_id=3, eos_token_id=3)
    model = GPT2LMHeadModel(cfg).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    randomize(model, gen)
    model.generation_config = GenerationConfig(
        bos_token_id=3, eos_token_id=[3, 4], pad_token_id=5, max_length=14, num_beams=3, repetition_penalty=1.2, no_repeat_ngram_size=2,
    )
    return model


GPT2_CASES: list[tuple[str, list[str], dict[str, Any]]] = [
    ("file", [], {}),
    ("greedy-new-tokens", ["--greedy", "--max-new-tokens", "6", "--min-new-tokens", "4"], {"num_beams": 1, "max_new_tokens": 6, "min_new_tokens": 4}),
    ("beams-return-2", ["--beams", "3", "--num-return-sequences", "2", "--length-penalty", "0.7", "--early-stopping", "true"],
     {"num_beams": 3, "num_return_sequences": 2, "length_penalty": 0.7, "early_stopping": True}),
    ("greedy-processors", ["--greedy", "--bad-words-ids", "[[6],[7,8]]", "--suppress-tokens", "9", "--encoder-repetition-penalty", "1.4",
                           "--encoder-no-repeat-ngram", "2", "--min-length", "9", "--eos-token-id", "4"],
     {"num_beams": 1, "bad_words_ids": [[6], [7, 8]], "suppress_tokens": [9], "encoder_repetition_penalty": 1.4, "encoder_no_repeat_ngram_size": 2,
      "min_length": 9, "eos_token_id": 4}),
]


def sources(seed: int, n: int, lengths: list[int], low: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(low, VOCAB, (1, lengths[i % len(lengths)]), generator=g) for i in range(n)]


def cases_for(model: torch.nn.Module, cases: list[tuple[str, list[str], dict[str, Any]]], srcs: list[torch.Tensor], enc_dec: bool) -> tuple[list[dict[str, Any]], float]:
    out = []
    worst = 1.0
    for name, args, kwargs in cases:
        recs = []
        for s in srcs:
            rec, margin = run_case(model, s, kwargs, enc_dec)
            worst = min(worst, margin)
            recs.append(rec)
        out.append({"name": name, "args": args, "kwargs": kwargs, "results": recs})
    return out, worst


def informative_bart(cases: list[dict[str, Any]]) -> bool:
    by = {c["name"]: [r["sequences"] for r in c["results"]] for c in cases}
    return by["file"] != by["early-stopping-false"] and by["early-stopping-never"] != by["early-stopping-false"]


def write_model(model: torch.nn.Module, name: str, specials: dict[int, str], cases: list[dict[str, Any]], seed: int) -> None:
    d = OUT / name
    if d.exists():
        shutil.rmtree(d)
    model.save_pretrained(d, safe_serialization=True)
    (d / "tokenizer.json").write_text(json.dumps(tokenizer_json(specials), indent=1) + "\n", encoding="utf-8")
    write_json(d / "expected.json", {"seed": seed, "versions": versions(), "cases": cases})
    print(f"{name}: seed {seed}, {dir_size(d) / 1024:.0f} KB")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for seed in range(100, 200):
        model = build_bart(seed)
        srcs = sources(seed, 4, [9, 13, 6, 11], 3)
        cases, margin = cases_for(model, BART_CASES, srcs, True)
        if margin >= MIN_MARGIN and informative_bart(cases):
            write_model(model, "bart-sum", {0: "<s>", 1: "<pad>", 2: "</s>"}, cases, seed)
            break
    else:
        raise SystemExit("no informative BART seed in 100..199")
    for seed in range(100, 200):
        model = build_gpt2(seed)
        srcs = sources(seed, 3, [3, 7, 5], 6)
        cases, margin = cases_for(model, GPT2_CASES, srcs, False)
        if margin >= MIN_MARGIN:
            write_model(model, "gpt2-gen", {}, cases, seed)
            break
    else:
        raise SystemExit("no GPT-2 seed in 100..199 without near ties")


if __name__ == "__main__":
    main()
