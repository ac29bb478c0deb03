"""Fidelity fixtures for real-world checkpoint features (issue 19), written by transformers/PEFT/tokenizers.

Run from the repository root with the oracle virtualenv (see tools/README.md):

    /work/venvs/oracle/bin/python tools/make_fidelity_fixtures.py            # everything (~1 min)
    /work/venvs/oracle/bin/python tools/make_fidelity_fixtures.py rope       # one part:
        rope | bytefallback | perplexity | peft-bart | peft-roundtrip (after the TS side wrote the adapters)

Writes under fixtures/fidelity/ (documented in fixtures/README.md):

* rope/llama-rope-{linear,dynamic,llama3}/: tiny Llama checkpoints with `rope_scaling`, the logits of a
  forward longer than the original context, a greedy continuation through the KV cache that crosses it,
  and `config-legacy.json` (the transformers-4 spelling: `rope_scaling` with `type`, top-level
  `rope_theta`), checked here to give the same logits.
* bytefallback.json: `decode` of random id sequences (heavy in `<0xNN>` byte tokens, valid and
  invalid UTF-8) by tokenizers and transformers, on fixtures/tokenizers/llama-sp and on a
  llama2.c-style tokenizer written here (bytefallback-llama2c/).
* perplexity/: a Llama with the llama-sp vocabulary and its loss on a text as the CLI windows it,
  and source/target pairs on a BART with their conditional loss.
* peft-bart/: a PEFT SEQ_2_SEQ_LM prefix adapter on a BART with 3 encoder and 2 decoder layers, with
  PEFT's logits, greedy and 4-beam `generate`.

Everything is seeded; rerunning with the same versions rewrites the same files.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from oracle_common import FIXTURES, dir_size, seed_all, tensor_json, versions, write_json  # noqa: E402

torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)

from transformers import (  # noqa: E402
    AutoTokenizer,
    BartConfig,
    BartForConditionalGeneration,
    LlamaConfig,
    LlamaForCausalLM,
)
from transformers.utils import logging as hf_logging  # noqa: E402

hf_logging.set_verbosity_error()

OUT = FIXTURES / "fidelity"
LLAMA_SP = FIXTURES / "tokenizers" / "llama-sp"


def randomize_norms_and_biases(model: torch.nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
            elif ("norm" in name or "layernorm" in name) and name.endswith(".weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))


def margin(scores: list[torch.Tensor]) -> float:
    m = float("inf")
    for s in scores:
        f = s[0][torch.isfinite(s[0])]
        if f.numel() >= 2:
            top = f.topk(2).values
            m = min(m, float(top[0] - top[1]))
    return m


# --------------------------------------------------------------------------------------------
# RoPE scaling
# --------------------------------------------------------------------------------------------

ROPE_CASES: dict[str, dict[str, Any]] = {
    # head_dim 16, theta 10000: wavelengths 2π·10000^(j/8) = 6.3, 19.9, 62.8, ...
    "linear": dict(max_position_embeddings=16, rope={"rope_type": "linear", "factor": 4.0}, legacy={"type": "linear", "factor": 4.0}, T=24),
    "dynamic": dict(max_position_embeddings=16, rope={"rope_type": "dynamic", "factor": 3.0}, legacy={"type": "dynamic", "factor": 3.0}, T=24),
    # original 32, low 1, high 4: low_freq_wavelen 32, high_freq_wavelen 8, so j=0 keeps its
    # frequency, j=1 is smoothed, j>=2 are divided by the factor
    "llama3": dict(
        max_position_embeddings=128,
        rope={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 32},
        legacy={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 32},
        T=40,
    ),
}


def rope_model(kind: str, spec: dict[str, Any], seed: int) -> LlamaForCausalLM:
    seed_all(seed)
    cfg = LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, max_position_embeddings=spec["max_position_embeddings"],
        initializer_range=0.25, rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False,
        rope_parameters={**spec["rope"], "rope_theta": 10000.0},
    )
    model = LlamaForCausalLM(cfg).eval()
    randomize_norms_and_biases(model, torch.Generator().manual_seed(seed + 1))
    return model


def do_rope() -> None:
    for i, (kind, spec) in enumerate(ROPE_CASES.items()):
        name = f"llama-rope-{kind}"
        d = OUT / "rope" / name
        shutil.rmtree(d, ignore_errors=True)
        model = rope_model(kind, spec, 9100 + i)
        model.save_pretrained(d, safe_serialization=True)
        T = spec["T"]
        gen = torch.Generator().manual_seed(9200 + i)
        ids = torch.randint(3, 64, (1, T), generator=gen)
        ids[:, 0] = 1
        with torch.no_grad():
            logits = model(input_ids=ids).logits
            short = model(input_ids=ids[:, :10]).logits
        # the transformers-4 spelling of the same config must give the same logits
        cfg_json = json.loads((d / "config.json").read_text())
        legacy = {k: v for k, v in cfg_json.items() if k != "rope_parameters"}
        legacy["rope_scaling"] = spec["legacy"]
        legacy["rope_theta"] = 10000.0
        (d / "config-legacy.json").write_text(json.dumps(legacy, indent=2) + "\n")
        again = LlamaForCausalLM(LlamaConfig.from_dict(legacy)).eval()
        again.load_state_dict(model.state_dict())
        with torch.no_grad():
            assert torch.equal(again(input_ids=ids).logits, logits), f"{name}: legacy config gives other logits"
        prompt = ids[:1, :12]
        new = T - 12 + 4
        with torch.no_grad():
            out = model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), do_sample=False, num_beams=1,
                                 max_new_tokens=new, min_new_tokens=new, output_scores=True, return_dict_in_generate=True)
        seq = out.sequences[0].tolist()
        write_json(d / "expected.json", {
            "model": name,
            "versions": versions(),
            "rope_parameters": model.config.rope_parameters,
            "notes": [
                f"logits of a forward of {T} tokens (past the original context of the rope type) and of its first 10 tokens",
                "greedy: generate from 12 prompt tokens through the KV cache past the original context; min_new_tokens = max_new_tokens so eos never stops it",
                "config-legacy.json (rope_scaling with `type`, top-level rope_theta) gives identical logits in transformers",
            ],
            "inputs": {"input_ids": tensor_json(ids)},
            "logits": tensor_json(logits),
            "short_logits": tensor_json(short),
            "greedy": {"prompt_ids": prompt[0].tolist(), "max_new_tokens": new, "new_tokens": seq[12:], "min_top1_top2_margin": margin(list(out.scores))},
        })
        print(f"rope/{name}: {dir_size(d)} bytes, greedy margin {margin(list(out.scores)):.2e}")


# --------------------------------------------------------------------------------------------
# byte-fallback decoding
# --------------------------------------------------------------------------------------------

LLAMA2C_PIECES = ["▁the", "▁a", "▁Lily", "ing", "ed", "▁was", "▁to", "▁and", "▁.", "▁,", "▁he", "▁she", "er", "▁day", "▁big", "▁cat", "▁dog", "▁play", "▁happ", "y", "▁", "e", "t", "a", "o"]


def llama2c_like_tokenizer(d: Path) -> None:
    """A tokenizer.json laid out as the llama2.c conversion writes it (unk, <s>, </s>, 256 byte
    tokens, then pieces; Prepend/Replace normalizer; Replace/ByteFallback/Fuse/Strip decoder)."""
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = 3 + b
    for p in LLAMA2C_PIECES:
        vocab.setdefault(p, len(vocab))
    special = [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
               for c, i in list(vocab.items())[:3]]
    tj = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": special,
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": True, "byte_fallback": True, "ignore_merges": False, "vocab": vocab, "merges": []},
    }
    d.mkdir(parents=True, exist_ok=True)
    (d / "tokenizer.json").write_text(json.dumps(tj, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (d / "tokenizer_config.json").write_text(json.dumps({
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "clean_up_tokenization_spaces": False,
        "tokenizer_class": "LlamaTokenizer", "add_bos_token": True, "add_eos_token": False,
    }, indent=2) + "\n")


def random_ids(rng: random.Random, n_vocab: int) -> list[int]:
    """Ids biased towards byte tokens: runs of valid UTF-8, truncated or corrupted sequences,
    lone continuation bytes, and ordinary pieces and specials in between."""
    out: list[int] = []
    for _ in range(rng.randint(1, 6)):
        r = rng.random()
        if r < 0.3:  # a valid character's bytes
            ch = rng.choice(["é", "€", "𝄞", "ß", "中", "a", " ", "\n", "😀", "ő"])
            out += [3 + b for b in ch.encode("utf-8")]
        elif r < 0.45:  # a truncated multi-byte sequence
            b = rng.choice(["€", "𝄞", "中", "😀"]).encode("utf-8")
            out += [3 + x for x in b[: rng.randint(1, len(b) - 1)]]
        elif r < 0.65:  # random bytes
            out += [3 + rng.randrange(256) for _ in range(rng.randint(1, 4))]
        elif r < 0.9:
            out.append(rng.randrange(259, n_vocab))
        else:
            out.append(rng.randrange(0, 3))
    return out


def do_bytefallback() -> None:
    from tokenizers import Tokenizer

    l2c = OUT / "bytefallback-llama2c"
    llama2c_like_tokenizer(l2c)
    cases = []
    for tname, d, seed in (("llama-sp", LLAMA_SP, 9300), ("llama2c-like", l2c, 9301)):
        raw = Tokenizer.from_file(str(d / "tokenizer.json"))
        hf = AutoTokenizer.from_pretrained(d)
        n = raw.get_vocab_size(with_added_tokens=True)
        rng = random.Random(seed)
        seen: set[tuple[int, ...]] = set()
        fixed = [[3 + 0xE2, 3 + 0x82, 3 + 0xAC, 3 + 0xFF], [3 + 0xE2, 3 + 0x82], [3 + 0x80], [3 + 0xF0, 3 + 0x9F, 3 + 0x98, 3 + 0x80]]
        while len([c for c in cases if c["tokenizer"] == tname]) < 150:
            ids = fixed.pop(0) if fixed else random_ids(rng, n)
            if tuple(ids) in seen:
                continue
            seen.add(tuple(ids))
            cases.append({
                "tokenizer": tname,
                "ids": ids,
                "tokens": [raw.id_to_token(i) for i in ids],
                "decode": raw.decode(ids, skip_special_tokens=False),
                "decode_skip_special": raw.decode(ids, skip_special_tokens=True),
                "transformers_decode": hf.decode(ids),
                "transformers_decode_skip_special": hf.decode(ids, skip_special_tokens=True),
            })
    write_json(OUT / "bytefallback.json", {
        "versions": versions(),
        "tokenizers": {"llama-sp": "fixtures/tokenizers/llama-sp", "llama2c-like": "fixtures/fidelity/bytefallback-llama2c"},
        "notes": [
            "decode: tokenizers.Tokenizer.decode(ids, skip_special_tokens=False); decode_skip_special: with True",
            "transformers_decode*: AutoTokenizer.from_pretrained(dir).decode(ids[, skip_special_tokens=True])",
            "ByteFallback: a run of consecutive <0xNN> tokens becomes its UTF-8 text when the whole run is valid UTF-8, else one U+FFFD per byte token of the run",
        ],
        "cases": cases,
    })
    print(f"bytefallback.json: {len(cases)} cases")


# --------------------------------------------------------------------------------------------
# perplexity
# --------------------------------------------------------------------------------------------

PPL_TEXT = """<doc>
the cat sat on the mat. the dog ran to the park, and the cat was happy.
</doc>
<doc>
Lily saw a big tree. She played with her friend all day.
</doc>
"""


def windows(tokens: list[int], n: int) -> list[list[int]]:
    return [w for w in (tokens[i:i + n] for i in range(0, len(tokens), n)) if len(w) >= 2]


def do_perplexity() -> None:
    d = OUT / "perplexity"
    shutil.rmtree(d, ignore_errors=True)
    # a causal Llama with the llama-sp vocabulary, so the CLI can run on text
    seed_all(9400)
    tok = AutoTokenizer.from_pretrained(LLAMA_SP)
    vocab = len(tok)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=32, initializer_range=0.25, bos_token_id=1, eos_token_id=2,
        tie_word_embeddings=True,
    )).eval()
    randomize_norms_and_biases(model, torch.Generator().manual_seed(9401))
    md = d / "llama-sp-tiny"
    model.save_pretrained(md, safe_serialization=True)
    tok.save_pretrained(md)
    (d / "text.txt").write_text(PPL_TEXT)
    docs = [b.strip() for b in PPL_TEXT.split("<doc>") if b.strip()]
    docs = [x.replace("</doc>", "").strip() for x in docs]
    ids: list[int] = []
    for doc in docs:
        ids += tok(doc, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    seq_len = 16
    nll = 0.0
    count = 0
    per = []
    with torch.no_grad():
        for w in windows(ids, seq_len):
            t = torch.tensor([w])
            loss = float(model(input_ids=t, labels=t).loss)
            per.append(loss)
            nll += loss * (len(w) - 1)
            count += len(w) - 1
    # BART conditional loss of (source, target) pairs, as token ids
    seed_all(9410)
    bart = bart_model(9410)
    pairs = []
    gen = torch.Generator().manual_seed(9411)
    total, ntok = 0.0, 0
    for s_len, t_len in ((5, 4), (7, 3), (3, 6)):
        src = [0] + torch.randint(3, 64, (s_len,), generator=gen).tolist() + [2]
        labels = [0] + torch.randint(3, 64, (t_len,), generator=gen).tolist() + [2]
        with torch.no_grad():
            out = bart(input_ids=torch.tensor([src]), labels=torch.tensor([labels]))
        pairs.append({"input_ids": src, "labels": labels, "loss": float(out.loss)})
        total += float(out.loss) * len(labels)
        ntok += len(labels)
    # the same through text: a BART with the llama-sp vocabulary and a JSONL of (source, target)
    seed_all(9420)
    bart_sp = BartForConditionalGeneration(BartConfig(
        vocab_size=vocab, d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=24, decoder_ffn_dim=24, max_position_embeddings=32, init_std=0.25,
    )).eval()
    randomize_norms_and_biases(bart_sp, torch.Generator().manual_seed(9421))
    bd = d / "bart-sp-tiny"
    bart_sp.save_pretrained(bd, safe_serialization=True)
    tok.save_pretrained(bd)
    text_pairs = [("the cat sat on the mat.", "a cat."), ("Lily saw a big tree in the park.", "Lily and the tree."), ("the dog ran.", "the dog ran to the park, happy.")]
    (d / "pairs.jsonl").write_text("".join(json.dumps({"source": a, "target": b}) + "\n" for a, b in text_pairs))
    tp = []
    tt, tn = 0.0, 0
    for a, b in text_pairs:
        # as prefix-tune builds BART examples: <s> ' ' + text </s> on both sides (tokenizer's bos/eos)
        src = [tok.bos_token_id] + tok(" " + a, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        labels = [tok.bos_token_id] + tok(" " + b, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        with torch.no_grad():
            loss = float(bart_sp(input_ids=torch.tensor([src]), labels=torch.tensor([labels])).loss)
        tp.append({"input_ids": src, "labels": labels, "loss": loss})
        tt += loss * len(labels)
        tn += len(labels)
    write_json(d / "expected.json", {
        "versions": versions(),
        "seq2seq_text": {
            "model": "fixtures/fidelity/perplexity/bart-sp-tiny", "jsonl": "fixtures/fidelity/perplexity/pairs.jsonl", "pairs": tp,
            "nll": tt / tn, "tokens": tn, "perplexity": float(torch.tensor(tt / tn).exp()),
            "definition": "source ids = [bos] + tokenizer(' ' + source, add_special_tokens=False) + [eos], labels likewise from the target; nll as in seq2seq",
        },
        "causal": {
            "model": "fixtures/fidelity/perplexity/llama-sp-tiny", "text": "fixtures/fidelity/perplexity/text.txt",
            "documents": docs, "ids": ids, "seq_len": seq_len, "window_losses": per,
            "nll": nll / count, "tokens": count, "perplexity": float(torch.tensor(nll / count).exp()),
            "definition": "documents tokenized without special tokens, each followed by eos, cut into windows of seq_len; "
                          "nll = sum over windows of transformers' loss(input_ids=w, labels=w) * (len(w) - 1) / sum(len(w) - 1)",
        },
        "seq2seq": {
            "model": "fixtures/fidelity/peft-bart/bart-enc3-dec2", "pairs": pairs, "nll": total / ntok, "tokens": ntok,
            "definition": "per pair transformers' BartForConditionalGeneration(input_ids, labels).loss (decoder_input_ids = shift_tokens_right(labels)); "
                          "nll = sum(loss * len(labels)) / sum(len(labels))",
        },
    })
    print(f"perplexity: {dir_size(d)} bytes, ppl {float(torch.tensor(nll / count).exp()):.4f}, seq2seq nll {total / ntok:.5f}")


# --------------------------------------------------------------------------------------------
# PEFT SEQ_2_SEQ_LM prefix tuning on an asymmetric BART
# --------------------------------------------------------------------------------------------


def bart_model(seed: int) -> BartForConditionalGeneration:
    seed_all(seed)
    cfg = BartConfig(
        vocab_size=64, d_model=16, encoder_layers=3, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=24, decoder_ffn_dim=24, max_position_embeddings=32, init_std=0.25, scale_embedding=True,
    )
    model = BartForConditionalGeneration(cfg).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    randomize_norms_and_biases(model, gen)
    with torch.no_grad():
        model.final_logits_bias.copy_(0.3 * torch.randn(model.final_logits_bias.shape, generator=gen))
    return model


def do_peft_bart() -> None:
    from peft import PeftModel, PrefixTuningConfig, TaskType, get_peft_model

    d = OUT / "peft-bart"
    shutil.rmtree(d, ignore_errors=True)
    base_dir = d / "bart-enc3-dec2"
    base = bart_model(9410)
    base.save_pretrained(base_dir, safe_serialization=True)
    seed_all(9500)
    pc = PrefixTuningConfig(task_type=TaskType.SEQ_2_SEQ_LM, num_virtual_tokens=3, prefix_projection=False)
    pm = get_peft_model(BartForConditionalGeneration.from_pretrained(base_dir).eval(), pc)
    with torch.no_grad():
        emb = pm.prompt_encoder["default"].embedding.weight
        emb.copy_(torch.randn(emb.shape, generator=torch.Generator().manual_seed(9501)))
    pm.save_pretrained(d / "adapter")
    (d / "adapter" / "README.md").unlink(missing_ok=True)
    cfg_saved = json.loads((d / "adapter" / "adapter_config.json").read_text())
    cfg_saved["base_model_name_or_path"] = "fixtures/fidelity/peft-bart/bart-enc3-dec2"
    (d / "adapter" / "adapter_config.json").write_text(json.dumps(cfg_saved, indent=2, sort_keys=True))
    model = PeftModel.from_pretrained(BartForConditionalGeneration.from_pretrained(base_dir).eval(), d / "adapter").eval()
    gen = torch.Generator().manual_seed(9502)
    enc = torch.randint(3, 64, (2, 7), generator=gen)
    enc[:, 0] = 0
    enc[0, 6] = 2
    enc[1, 4] = 2
    enc[1, 5:] = 1
    mask = torch.ones_like(enc)
    mask[1, 5:] = 0
    dec = torch.randint(3, 64, (2, 5), generator=gen)
    dec[:, 0] = 2
    with torch.no_grad():
        logits = model(input_ids=enc, attention_mask=mask, decoder_input_ids=dec).logits
    src = enc[:1]
    gens: dict[str, Any] = {}
    for kind, kw in (("greedy", dict(num_beams=1, no_repeat_ngram_size=2)), ("beam", dict(num_beams=4, length_penalty=1.0, early_stopping=True, no_repeat_ngram_size=2))):
        kwargs = dict(do_sample=False, max_new_tokens=10, **kw)
        with torch.no_grad():
            out = model.generate(input_ids=src, attention_mask=torch.ones_like(src), output_scores=True, return_dict_in_generate=True, **kwargs)
        g = {"encoder_input_ids": src[0].tolist(), "generate_kwargs": kwargs, "sequences": out.sequences.tolist()}
        if kind == "beam":
            g["sequences_scores"] = tensor_json(out.sequences_scores)
        else:
            g["min_top1_top2_margin"] = margin(list(out.scores))
        gens[kind] = g
    write_json(d / "expected.json", {
        "versions": versions(),
        "base_model": "fixtures/fidelity/peft-bart/bart-enc3-dec2",
        "peft_config": cfg_saved,
        "notes": [
            "BART with encoder_layers 3, decoder_layers 2: PEFT records num_layers = num_hidden_layers = encoder_layers = 3 and num_transformer_submodules 2",
            "PEFT's get_prompt: view [P, 2*num_layers, H, Dh], cat with itself, split in groups of 4: decoder layer l self-attention takes rows 4l, 4l+1 (mod 2*num_layers); the cross-attention cache is reset (encoder states are used)",
            "with decoder_layers > num_layers PEFT fails (IndexError in the cache), so such adapters are refused",
        ],
        "inputs": {"input_ids": tensor_json(enc), "attention_mask": tensor_json(mask), "decoder_input_ids": tensor_json(dec)},
        "logits": tensor_json(logits),
        "generation": gens,
    })
    print(f"peft-bart: {dir_size(d)} bytes, greedy {gens['greedy']['sequences']}, beam {gens['beam']['sequences']}")


def do_peft_roundtrip() -> None:
    """PEFT's logits for the BART adapters our TypeScript code wrote (packages/core/test/prefix/
    peft-seq2seq.test.ts with WRITE_BART_ROUNDTRIP=1), through tools/check_adapter.py."""
    import subprocess

    root = OUT / "peft-roundtrip-bart"
    for case in sorted(p.name for p in root.iterdir() if (p / "adapter").is_dir()):
        d = root / case
        out = d / "peft_logits.tmp.json"
        gens = {}
        for beams in (1, 4):
            r = subprocess.run([sys.executable, str(Path(__file__).resolve().parent / "check_adapter.py"), str(OUT / "peft-bart" / "bart-enc3-dec2"),
                                str(d / "adapter"), str(d / "inputs.json"), "--out", str(out), "--generate", "8", "--beams", str(beams)],
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            line = next(x for x in r.stderr.splitlines() if x.startswith("check_adapter: generate "))
            gens["greedy" if beams == 1 else "beam"] = {"num_beams": beams, "max_new_tokens": 8, "sequences": json.loads(line[len("check_adapter: generate "):])}
        logits = json.loads(out.read_text())
        out.unlink()
        write_json(d / "expected.json", {
            "versions": versions(),
            "check": "tools/check_adapter.py fixtures/fidelity/peft-bart/bart-enc3-dec2 adapter inputs.json --generate 8 --beams 1|4 (PeftModel.from_pretrained; generate from row 0 of input_ids with the model's generation config)",
            "adapter_config": json.loads((d / "adapter" / "adapter_config.json").read_text()),
            "peft_logits": logits,
            "generation": gens,
        })
        print(f"peft-roundtrip-bart/{case}: PEFT logits {logits['shape']}")


PARTS = {"rope": do_rope, "bytefallback": do_bytefallback, "peft-bart": do_peft_bart, "perplexity": do_perplexity, "peft-roundtrip": do_peft_roundtrip}


def main() -> None:
    parts = sys.argv[1:] or list(PARTS)
    for p in parts:
        if p not in PARTS:
            sys.exit(f"unknown part {p!r} (one of {', '.join(PARTS)})")
        PARTS[p]()


if __name__ == "__main__":
    main()
