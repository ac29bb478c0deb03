"""Generate the Hugging Face oracle fixtures under fixtures/ (models, peft, tokenizers).

Run (from the repository root, with the oracle virtualenv, see tools/README.md):

    /work/venvs/oracle/bin/python tools/make_fixtures.py            # everything
    /work/venvs/oracle/bin/python tools/make_fixtures.py models     # only fixtures/models
    /work/venvs/oracle/bin/python tools/make_fixtures.py peft       # only fixtures/peft (needs models)
    /work/venvs/oracle/bin/python tools/make_fixtures.py tokenizers # only fixtures/tokenizers

Everything is seeded; rerunning with the same library versions rewrites byte-identical files.
Models are random-weight checkpoints written by transformers itself (`save_pretrained`), so the
TypeScript code is compared with transformers/PEFT on checkpoints that no one here hand-wrote.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from oracle_common import FIXTURES, dir_size, seed_all, shared_dir, tensor_json, versions, write_json  # noqa: E402

torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)

from transformers import (  # noqa: E402
    BartConfig,
    BartForConditionalGeneration,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    LogitsProcessor,
    LogitsProcessorList,
)
from transformers.utils import logging as hf_logging  # noqa: E402

hf_logging.set_verbosity_error()

MODELS = FIXTURES / "models"
PEFT_DIR = FIXTURES / "peft"
TOK_DIR = FIXTURES / "tokenizers"

# A decision (greedy top-1 vs top-2, beam cut-off) closer than this is a near tie: reseed.
MIN_MARGIN = 1e-3
VOCAB = 128
BART_VOCAB = 96  # smaller so that the untied BART (four embedding matrices) stays under 300 KB
HIDDEN = 32
LAYERS = 2
HEADS = 4
INIT = 0.25
MAX_NEW = 12


# --------------------------------------------------------------------------------------------
# model construction
# --------------------------------------------------------------------------------------------


def randomize_norms_and_biases(model: torch.nn.Module, gen: torch.Generator) -> None:
    """transformers initialises norm weights to 1 and biases to 0; make them random so that a
    backend that forgets a bias or a norm scale cannot match by accident."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
            elif ("ln_" in name or "norm" in name or "layernorm" in name) and name.endswith(".weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))


def mean_token_probs(model: torch.nn.Module, gen: torch.Generator) -> torch.Tensor:
    ids = torch.randint(3, VOCAB, (8, 16), generator=gen)
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    return logits.softmax(-1).mean(dim=(0, 1))


def build_gpt2(name: str, seed: int) -> GPT2LMHeadModel:
    seed_all(seed)
    kw: dict[str, Any] = dict(
        vocab_size=VOCAB,
        n_positions=64,
        n_embd=HIDDEN,
        n_layer=LAYERS,
        n_head=HEADS,
        initializer_range=INIT,
        bos_token_id=0,
        eos_token_id=0,
    )
    if name == "gpt2-tiny":
        kw.update(scale_attn_by_inverse_layer_idx=False, n_inner=None)
    elif name == "gpt2-tiny-scaled":
        kw.update(scale_attn_by_inverse_layer_idx=True, n_inner=3 * HIDDEN, activation_function="gelu_new")
    else:
        raise ValueError(name)
    model = GPT2LMHeadModel(GPT2Config(**kw)).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    randomize_norms_and_biases(model, gen)
    # GPT-2 uses one id for bos = eos. Pick the random model's 4th most likely token (on average
    # over random contexts) so that some beam hypotheses finish early (exercising min_length, early
    # stopping and length_penalty) while greedy decoding still runs for a while.
    eos = int(mean_token_probs(model, gen)[3:].argsort(descending=True)[3]) + 3
    for cfg in (model.config, model.generation_config):
        cfg.bos_token_id = eos
        cfg.eos_token_id = eos
    return model


def build_bart(name: str, seed: int) -> BartForConditionalGeneration:
    seed_all(seed)
    kw: dict[str, Any] = dict(
        vocab_size=BART_VOCAB,
        d_model=HIDDEN,
        encoder_layers=LAYERS,
        decoder_layers=LAYERS,
        encoder_attention_heads=HEADS,
        decoder_attention_heads=HEADS,
        encoder_ffn_dim=48,
        decoder_ffn_dim=48,
        max_position_embeddings=64,
        init_std=INIT,
        scale_embedding=True,
    )
    if name == "bart-tiny":
        pass
    elif name == "bart-tiny-noscale":
        kw.update(scale_embedding=False)
    elif name == "bart-tiny-untied":
        kw.update(tie_word_embeddings=False)
    else:
        raise ValueError(name)
    model = BartForConditionalGeneration(BartConfig(**kw)).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    randomize_norms_and_biases(model, gen)
    with torch.no_grad():
        # final_logits_bias is a persistent buffer that the checkpoint carries; make it non-zero.
        model.final_logits_bias.copy_(0.3 * torch.randn(model.final_logits_bias.shape, generator=gen))
        # Then raise </s> to the 3rd largest mean logit over random contexts, so that beam
        # hypotheses can finish before max_new_tokens.
        enc = torch.randint(3, BART_VOCAB, (8, 12), generator=gen)
        dec = torch.randint(3, BART_VOCAB, (8, 8), generator=gen)
        mean = model(input_ids=enc, decoder_input_ids=dec).logits.mean(dim=(0, 1))
        eos = model.config.eos_token_id
        model.final_logits_bias[0, eos] += mean.sort(descending=True).values[2] - mean[eos]
    return model


def build_llama(name: str, seed: int) -> LlamaForCausalLM:
    seed_all(seed)
    kw: dict[str, Any] = dict(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        intermediate_size=3 * HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=2,
        max_position_embeddings=64,
        initializer_range=INIT,
        rms_norm_eps=1e-6,
        bos_token_id=1,
        eos_token_id=2,
    )
    if name == "llama-tiny-gqa-tied":
        kw.update(tie_word_embeddings=True, rope_theta=500000.0)
    elif name == "llama-tiny-gqa-untied":
        kw.update(tie_word_embeddings=False, rope_theta=10000.0)
    else:
        raise ValueError(name)
    model = LlamaForCausalLM(LlamaConfig(**kw)).eval()
    randomize_norms_and_biases(model, torch.Generator().manual_seed(seed + 1))
    return model


@dataclass
class ModelSpec:
    name: str
    family: str  # gpt2 | bart | llama
    build: Callable[[str, int], torch.nn.Module]
    seed: int
    beam: bool
    hidden_states: bool = False
    notes: list[str] = field(default_factory=list)


MODEL_SPECS = [
    ModelSpec("gpt2-tiny", "gpt2", build_gpt2, 1000, True, hidden_states=True),
    ModelSpec("gpt2-tiny-scaled", "gpt2", build_gpt2, 2000, False),
    ModelSpec("bart-tiny", "bart", build_bart, 3000, True, hidden_states=True),
    ModelSpec("bart-tiny-noscale", "bart", build_bart, 4000, False),
    ModelSpec("bart-tiny-untied", "bart", build_bart, 5000, False),
    ModelSpec("llama-tiny-gqa-tied", "llama", build_llama, 6000, False, hidden_states=True),
    ModelSpec("llama-tiny-gqa-untied", "llama", build_llama, 7000, False),
]


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------


def avoid(ids: torch.Tensor, banned: set[int], gen: torch.Generator, vocab: int) -> torch.Tensor:
    out = ids.clone()
    for i in range(out.numel()):
        while int(out.view(-1)[i]) in banned:
            out.view(-1)[i] = int(torch.randint(3, vocab, (1,), generator=gen))
    return out


def decoder_only_inputs(model: torch.nn.Module, seed: int, family: str) -> dict[str, torch.Tensor]:
    """input_ids [2, 8]; row 1 has 5 real tokens then 3 pads (id 0, mask 0)."""
    gen = torch.Generator().manual_seed(seed + 2)
    special = {int(model.config.eos_token_id), int(model.config.bos_token_id), 0, 1, 2}
    ids = avoid(torch.randint(3, VOCAB, (2, 8), generator=gen), special, gen, VOCAB)
    if family == "llama":
        ids[:, 0] = model.config.bos_token_id
    mask = torch.ones(2, 8, dtype=torch.long)
    ids[1, 5:] = 0
    mask[1, 5:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def bart_inputs(model: BartForConditionalGeneration, seed: int) -> dict[str, torch.Tensor]:
    """Encoder [2, 9] (<s> ... </s>, row 1 right-padded with <pad>); decoder [2, 6] starting with
    decoder_start_token_id, row 1 right-padded with decoder_attention_mask 0."""
    c = model.config
    gen = torch.Generator().manual_seed(seed + 2)
    special = {c.bos_token_id, c.eos_token_id, c.pad_token_id, c.decoder_start_token_id}
    enc = avoid(torch.randint(3, c.vocab_size, (2, 9), generator=gen), special, gen, c.vocab_size)
    enc[:, 0] = c.bos_token_id
    enc[0, 8] = c.eos_token_id
    enc[1, 5] = c.eos_token_id
    enc[1, 6:] = c.pad_token_id
    enc_mask = torch.ones(2, 9, dtype=torch.long)
    enc_mask[1, 6:] = 0
    dec = avoid(torch.randint(3, c.vocab_size, (2, 6), generator=gen), special, gen, c.vocab_size)
    dec[:, 0] = c.decoder_start_token_id
    dec[1, 4:] = c.pad_token_id
    dec_mask = torch.ones(2, 6, dtype=torch.long)
    dec_mask[1, 4:] = 0
    return {
        "input_ids": enc,
        "attention_mask": enc_mask,
        "decoder_input_ids": dec,
        "decoder_attention_mask": dec_mask,
    }


# --------------------------------------------------------------------------------------------
# decoding checks
# --------------------------------------------------------------------------------------------


class UniformNoise(LogitsProcessor):
    """Adds uniform noise in [-eps, eps] to the processed scores (robustness probe only)."""

    def __init__(self, eps: float, seed: int) -> None:
        self.eps = eps
        self.gen = torch.Generator().manual_seed(seed)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        noise = (torch.rand(scores.shape, generator=self.gen) * 2 - 1) * self.eps
        return scores + noise


class NearTie(Exception):
    pass


def greedy_case(model: torch.nn.Module, family: str, prompt: torch.Tensor, extra: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(do_sample=False, num_beams=1, max_new_tokens=MAX_NEW, **extra)
    with torch.no_grad():
        out = model.generate(
            input_ids=prompt,
            attention_mask=torch.ones_like(prompt),
            output_scores=True,
            return_dict_in_generate=True,
            **kwargs,
        )
    seq = out.sequences[0].tolist()
    start = prompt.shape[1] if family != "bart" else 1
    chosen = [float(sc[0, tok]) for sc, tok in zip(out.scores, seq[start:])]
    margins = []
    for s in out.scores:
        finite = s[0][torch.isfinite(s[0])]
        if finite.numel() < 2:  # a step where a processor forces one token (forced EOS)
            continue
        top = finite.topk(2).values
        margins.append(float(top[0] - top[1]))
    if min(margins) < MIN_MARGIN:
        raise NearTie(f"greedy margin {min(margins)}")
    return {
        "prompt_ids": prompt[0].tolist() if family != "bart" else None,
        "encoder_input_ids": prompt[0].tolist() if family == "bart" else None,
        "generate_kwargs": kwargs,
        "sequences": [seq],
        "new_tokens": seq[start:],
        # processed score (= raw logit unless a processor forced the token) of each chosen token, so
        # that a wrong KV cache is caught even when a random model repeats one token
        "chosen_token_scores": chosen,
        "min_top1_top2_margin": min(margins),
    }


def beam_case(
    model: torch.nn.Module,
    family: str,
    prompt: torch.Tensor,
    greedy_new: list[int],
    extra: dict[str, Any],
    generate: Callable[..., Any] | None = None,
    num_beams: int = 5,
    options: bool = True,
) -> dict[str, Any]:
    generate = generate or model.generate
    kwargs: dict[str, Any] = dict(do_sample=False, num_beams=num_beams, max_new_tokens=MAX_NEW, early_stopping=True, **extra)
    if options:
        # ban the first greedy token so that bad_words_ids changes the result
        bad = greedy_new[0]
        min_length = (prompt.shape[1] if family != "bart" else 1) + 5
        kwargs.update(length_penalty=0.8, min_length=min_length, no_repeat_ngram_size=2, bad_words_ids=[[bad]])

    def run(nrs: int, noise_seed: int | None) -> Any:
        lp = LogitsProcessorList([UniformNoise(MIN_MARGIN / 4, noise_seed)]) if noise_seed is not None else None
        with torch.no_grad():
            return generate(
                input_ids=prompt,
                attention_mask=torch.ones_like(prompt),
                num_return_sequences=nrs,
                output_scores=True,
                return_dict_in_generate=True,
                logits_processor=lp,
                **kwargs,
            )

    one = run(1, None)
    allh = run(num_beams, None)
    # Near-tie probe: small noise on every processed score must not change any returned hypothesis
    # nor their order.
    for k in range(8):
        noisy = run(num_beams, 100 + k)
        if noisy.sequences.shape != allh.sequences.shape or not torch.equal(noisy.sequences, allh.sequences):
            raise NearTie("beam result changes under 2.5e-4 noise")
    ss = allh.sequences_scores.tolist()
    gaps = [ss[i] - ss[i + 1] for i in range(len(ss) - 1)]
    if gaps and min(gaps) < MIN_MARGIN:
        raise NearTie(f"final hypothesis scores too close: {gaps}")
    return {
        "prompt_ids": prompt[0].tolist() if family != "bart" else None,
        "encoder_input_ids": prompt[0].tolist() if family == "bart" else None,
        "generate_kwargs": {**kwargs, "num_return_sequences": 1},
        "sequences": one.sequences.tolist(),
        "sequences_scores": tensor_json(one.sequences_scores),
        "all_hypotheses": {
            "num_return_sequences": num_beams,
            "sequences": allh.sequences.tolist(),
            "sequences_scores": tensor_json(allh.sequences_scores),
        },
        "score_formula": score_formula(model, family, prompt, allh, kwargs.get("length_penalty", 1.0)),
    }


def score_formula(model: torch.nn.Module, family: str, prompt: torch.Tensor, out: Any, lp: float) -> dict[str, Any]:
    """Check sequences_scores against the per-step processed log-probs (via beam_indices) and a
    teacher-forced recomputation, and report the per-token scores of each returned hypothesis."""
    per_hyp = []
    n_prompt = prompt.shape[1] if family != "bart" else 1
    for r in range(out.sequences.shape[0]):
        toks = out.sequences[r].tolist()
        steps = []
        for step, sc in enumerate(out.scores):
            b = int(out.beam_indices[r, step])
            if b < 0:
                break
            tok = toks[n_prompt + step]
            finite = int(torch.isfinite(sc[b]).sum())
            steps.append((tok, float(sc[b, tok]), finite == 1))
        gen_toks = [t for t, _, _ in steps]
        with torch.no_grad():
            if family == "bart":
                dec = torch.tensor([toks[:1] + gen_toks])
                logits = model(input_ids=prompt, decoder_input_ids=dec).logits[0, :-1]
            else:
                full = torch.tensor([prompt[0].tolist() + gen_toks])
                logits = model(input_ids=full).logits[0, n_prompt - 1 : -1]
        logp = torch.log_softmax(logits, -1)
        for i, (tok, val, forced) in enumerate(steps):
            want = 0.0 if forced else float(logp[i, tok])
            assert abs(val - want) < 1e-4, f"step {i}: processed score {val} vs teacher-forced {want}"
        total = sum(v for _, v, _ in steps)
        n = len(steps)
        target = float(out.sequences_scores[r])
        assert abs(total / (n**lp) - target) < 1e-4, f"score {total}/{n}^{lp} != {target}"
        per_hyp.append({"generated": gen_toks, "token_scores": [v for _, v, _ in steps], "forced": [f for _, _, f in steps]})
    return {
        "formula": "sequences_scores = sum(token_scores) / (len(generated) ** length_penalty)",
        "token_score": "log_softmax(raw logits)[token] at that step; 0 when a logits processor forced the token "
        "(forced_eos_token_id sets every other token to -inf and the forced one to 0)",
        "generated": "tokens after the prompt (decoder-only) or after decoder_start_token_id (BART), up to and "
        "including the first eos; later positions in `sequences` are pad_token_id",
        "hypotheses": per_hyp,
    }


# --------------------------------------------------------------------------------------------
# forward dumps
# --------------------------------------------------------------------------------------------


def cache_json(cache: Any, family: str) -> list[dict[str, Any]]:
    layers = []
    if family == "bart":
        for sl, cl in zip(cache.self_attention_cache.layers, cache.cross_attention_cache.layers):
            layers.append(
                {
                    "self_key": tensor_json(sl.keys),
                    "self_value": tensor_json(sl.values),
                    "cross_key": tensor_json(cl.keys),
                    "cross_value": tensor_json(cl.values),
                }
            )
    else:
        for layer in cache.layers:
            layers.append({"key": tensor_json(layer.keys), "value": tensor_json(layer.values)})
    return layers


def forward_dump(model: torch.nn.Module, family: str, inputs: dict[str, torch.Tensor], hidden: bool) -> dict[str, Any]:
    with torch.no_grad():
        out = model(**inputs, use_cache=True, output_hidden_states=True)
    d: dict[str, Any] = {"logits": tensor_json(out.logits), "past_key_values": cache_json(out.past_key_values, family)}
    if not hidden:
        return d
    if family == "bart":
        # BART has no final encoder norm: encoder_last_hidden_state == encoder_hidden_states[-1].
        assert torch.equal(out.encoder_last_hidden_state, out.encoder_hidden_states[-1])
        d["encoder_hidden_states"] = [tensor_json(h) for h in out.encoder_hidden_states]
        d["decoder_hidden_states"] = [tensor_json(h) for h in out.decoder_hidden_states]
    else:
        d["hidden_states"] = [tensor_json(h) for h in out.hidden_states]
    return d


def check_untied_shared_unused(model: BartForConditionalGeneration, inputs: dict[str, torch.Tensor]) -> str:
    """For the untied BART, show which embedding matrices the forward pass actually reads."""
    base = model(**inputs).logits
    used = {}
    for pname in ["model.shared.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight", "lm_head.weight"]:
        p = dict(model.named_parameters())[pname]
        saved = p.detach().clone()
        with torch.no_grad():
            p.add_(1.0)
            used[pname] = not torch.allclose(model(**inputs).logits, base)
            p.copy_(saved)
    return "; ".join(f"{k}: {'read by forward' if v else 'NOT read by forward'}" for k, v in used.items())


def make_model(spec: ModelSpec) -> None:
    out_dir = MODELS / spec.name
    last_err = None
    # Random tiny models often decode a constant or self-repeating token, which would make the
    # greedy fixture weak (a broken KV cache could produce the same output). Rank 16 seeds by the
    # number of distinct greedy tokens and take the first (most diverse, then lowest seed) whose
    # decisions have no near tie.
    ranked = sorted((-greedy_diversity(spec, spec.seed + 17 * a), spec.seed + 17 * a) for a in range(16))
    for _, seed in ranked:
        model = spec.build(spec.name, seed)
        try:
            expected = model_expected(spec, model, seed)
            break
        except NearTie as e:
            last_err = e
            print(f"  {spec.name}: seed {seed}: near tie ({e}); reseeding")
    else:
        raise RuntimeError(f"{spec.name}: no seed without near ties: {last_err}")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    model.save_pretrained(out_dir)
    # Reload what was written and make sure it reproduces the logits (the fixture is the files).
    cls = type(model)
    reloaded = cls.from_pretrained(out_dir).eval()
    inputs = {k: torch.tensor(v["data"]).view(v["shape"]) for k, v in expected["inputs"].items()}
    with torch.no_grad():
        relog = reloaded(**inputs).logits
    ref = torch.tensor(expected["logits"]["data"]).view(expected["logits"]["shape"])
    assert torch.allclose(relog, ref, atol=1e-5), f"{spec.name}: reloaded checkpoint differs"
    write_json(out_dir / "expected.json", expected)
    size = dir_size(out_dir)
    if size >= 300_000:
        print(f"  WARNING {spec.name}: {size} bytes >= 300 KB")
    print(f"  {spec.name}: seed {seed}, {size} bytes, greedy {expected['greedy']['new_tokens']}")


def greedy_diversity(spec: ModelSpec, seed: int) -> int:
    model = spec.build(spec.name, seed)
    if spec.family == "bart":
        prompt = bart_inputs(model, seed)["input_ids"][:1]
    else:
        prompt = decoder_only_inputs(model, seed, spec.family)["input_ids"][:1]
    with torch.no_grad():
        out = model.generate(
            input_ids=prompt,
            attention_mask=torch.ones_like(prompt),
            do_sample=False,
            num_beams=1,
            max_new_tokens=MAX_NEW,
            pad_token_id=model.generation_config.eos_token_id,
        )
    return len(set(out[0, prompt.shape[1] if spec.family != "bart" else 1 :].tolist()))


def model_expected(spec: ModelSpec, model: torch.nn.Module, seed: int) -> dict[str, Any]:
    fam = spec.family
    if fam == "bart":
        inputs = bart_inputs(model, seed)
        prompt = inputs["input_ids"][:1]
        extra: dict[str, Any] = {}
    else:
        inputs = decoder_only_inputs(model, seed, fam)
        prompt = inputs["input_ids"][:1]
        extra = {"pad_token_id": model.generation_config.eos_token_id} if fam == "gpt2" else {}
    dump = forward_dump(model, fam, inputs, spec.hidden_states)
    greedy = greedy_case(model, fam, prompt, extra)
    exp: dict[str, Any] = {
        "model": spec.name,
        "architecture": type(model).__name__,
        "seed": seed,
        "versions": versions(),
        "inputs": {k: tensor_json(v) for k, v in inputs.items()},
        **dump,
        "greedy": greedy,
        "generation_config": model.generation_config.to_diff_dict(),
        "notes": model_notes(spec, model, inputs),
    }
    if spec.beam:
        exp["beam"] = beam_case(model, fam, prompt, greedy["new_tokens"], extra)
    return exp


def model_notes(spec: ModelSpec, model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> list[str]:
    c = model.config
    notes = [
        "All norm weights and all biases were re-drawn at random after transformers' init "
        "(norm weight = 1 + 0.2 N(0,1), bias = 0.2 N(0,1)); dropout is off (model.eval()).",
        "logits/past_key_values/hidden_states are for `inputs` with the attention masks given; values at "
        "padded positions are included as transformers computes them (pads are masked as keys only).",
    ]
    if spec.family == "gpt2":
        notes += [
            f"bos_token_id = eos_token_id = {c.eos_token_id} (chosen as the random model's most likely token so that "
            "beam hypotheses finish); pad id in inputs is 0 with attention_mask 0.",
            "past_key_values[l].key/value: [batch, n_head, seq, head_dim] (HF layout, before merging heads).",
            "hidden_states: n_layer + 1 entries; [0] = wte + wpe, [i] = output of block i-1, last one has ln_f applied.",
            "greedy/beam: generate() received pad_token_id = eos_token_id (GPT-2 has no pad token).",
        ]
    elif spec.family == "bart":
        tied = bool(c.tie_word_embeddings)
        notes += [
            f"scale_embedding={c.scale_embedding} (token embeddings x sqrt(d_model)={c.d_model ** 0.5:.6f} when true); "
            "learned positions with offset 2 (row = position + 2 of embed_positions.weight, shape "
            f"[{c.max_position_embeddings + 2}, {c.d_model}]); layernorm_embedding after embedding sum.",
            "final_logits_bias (checkpoint buffer, shape [1, vocab]) is random and non-zero and is added to the logits.",
            f"tie_word_embeddings={tied}: "
            + (
                "the checkpoint stores only model.shared.weight; encoder/decoder embed_tokens and lm_head are that matrix."
                if tied
                else "the checkpoint stores four distinct matrices. " + check_untied_shared_unused(model, inputs)
            ),
            "past_key_values[l]: self_key/self_value [batch, heads, dec_seq, head_dim] (decoder self-attention), "
            "cross_key/cross_value [batch, heads, enc_seq, head_dim] (projections of the encoder output).",
            "encoder_hidden_states/decoder_hidden_states: layers + 1 entries; [0] = after layernorm_embedding.",
            "generation uses generation_config.json: decoder_start_token_id and forced_eos_token_id (the last "
            "position allowed by max_new_tokens is forced to </s>).",
        ]
    else:
        rope = getattr(c, "rope_parameters", None) or {"rope_theta": getattr(c, "rope_theta", None)}
        notes += [
            f"num_key_value_heads={c.num_key_value_heads} < num_attention_heads={c.num_attention_heads} (GQA); "
            f"tie_word_embeddings={c.tie_word_embeddings}; rope {rope} (transformers 5 writes `rope_parameters` "
            "in config.json instead of a top-level `rope_theta`).",
            "past_key_values[l].key/value: [batch, num_key_value_heads, seq, head_dim]; keys are after RoPE.",
            "hidden_states: layers + 1 entries; last one has the final RMSNorm applied.",
            "Position ids are 0..T-1 for both rows (right padding does not shift positions).",
        ]
    return notes


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def do_models() -> None:
    print("models:")
    for spec in MODEL_SPECS:
        make_model(spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("parts", nargs="*", help="any of: models peft tokenizers (default: all)")
    args = ap.parse_args()
    allowed = ["models", "peft", "tokenizers"]
    bad = [p for p in args.parts if p not in allowed]
    if bad:
        ap.error(f"unknown part(s) {bad}; expected any of {allowed}")
    parts = args.parts or allowed
    if "models" in parts:
        do_models()
    if "peft" in parts:
        import make_peft_fixtures

        make_peft_fixtures.do_peft()
    if "tokenizers" in parts:
        import make_tokenizer_fixtures

        make_tokenizer_fixtures.do_tokenizers()
    if "models" in parts or "peft" in parts:
        import verify_fixtures  # independent NumPy re-implementation, exits 1 on a mismatch

        verify_fixtures.main()
    print(f"fixtures/ total: {dir_size(FIXTURES)} bytes")


if __name__ == "__main__":
    main()
