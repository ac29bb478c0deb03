"""PEFT prefix-tuning fixtures (fixtures/peft/<case>/), called by tools/make_fixtures.py.

Run through make_fixtures.py (`... tools/make_fixtures.py peft`); it needs fixtures/models/ first.
Each case builds PEFT's PrefixTuningConfig on a fixture base model, records the initial trainable
parameters, loss, gradients and logits on a fixed batch, saves the adapter with save_pretrained,
reloads it with PeftModel.from_pretrained and records the logits the reloaded adapter gives.

Besides trusting PEFT, each case re-derives PEFT's result by hand (the prefix placed into a
transformers cache in the documented layout, run through the plain base model) and asserts that the
logits and loss agree: the layout written into expected.json is checked, not copied from comments.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

import torch
from peft import PeftModel, PrefixTuningConfig, TaskType, get_peft_model
from safetensors import safe_open
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, DynamicCache, EncoderDecoderCache

import make_fixtures as mf
from oracle_common import dir_size, seed_all, tensor_json, versions, write_json


@dataclass
class PeftCase:
    name: str
    base: str  # fixture model name under fixtures/models
    projection: bool
    num_virtual_tokens: int
    seed: int
    beam: bool = False


CASES = [
    PeftCase("gpt2-tiny-prefix-proj", "gpt2-tiny", True, 4, 11000, beam=True),
    PeftCase("gpt2-tiny-prefix-noproj", "gpt2-tiny", False, 3, 12000),
    PeftCase("bart-tiny-prefix-proj", "bart-tiny", True, 3, 13000),
    PeftCase("bart-tiny-prefix-noproj", "bart-tiny", False, 4, 14000, beam=True),
]
ENCODER_HIDDEN = 24


def load_base(name: str) -> tuple[torch.nn.Module, bool]:
    path = mf.MODELS / name
    import json

    enc_dec = json.loads((path / "config.json").read_text())["is_encoder_decoder"] if "bart" in name else False
    cls = AutoModelForSeq2SeqLM if enc_dec else AutoModelForCausalLM
    return cls.from_pretrained(path).eval(), enc_dec


def gpt2_batch(cfg: Any, seed: int) -> dict[str, torch.Tensor]:
    """source ; eos ; target ; eos, labels -100 on source and separator (Li & Liang's format);
    row 1 shorter and right-padded with eos (attention 0, label -100)."""
    gen = torch.Generator().manual_seed(seed)
    eos = cfg.eos_token_id

    def draw(n: int) -> list[int]:
        out = []
        while len(out) < n:
            t = int(torch.randint(3, cfg.vocab_size, (1,), generator=gen))
            if t != eos:
                out.append(t)
        return out

    rows = [(draw(5), draw(4)), (draw(3), draw(3))]
    T = max(len(s) + len(t) + 2 for s, t in rows)
    ids, mask, labels = [], [], []
    for s, t in rows:
        seq = s + [eos] + t + [eos]
        lab = [-100] * (len(s) + 1) + t + [eos]
        pad = T - len(seq)
        ids.append(seq + [eos] * pad)
        mask.append([1] * len(seq) + [0] * pad)
        labels.append(lab + [-100] * pad)
    return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask), "labels": torch.tensor(labels)}


def bart_batch(cfg: Any, seed: int) -> dict[str, torch.Tensor]:
    """encoder <s> source </s> (row 1 right-padded with <pad>, mask 0); labels target </s>
    (row 1 padded with -100). transformers derives decoder_input_ids = shift_tokens_right(labels)."""
    gen = torch.Generator().manual_seed(seed)
    special = {cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id}

    def draw(n: int) -> list[int]:
        out = []
        while len(out) < n:
            t = int(torch.randint(3, cfg.vocab_size, (1,), generator=gen))
            if t not in special:
                out.append(t)
        return out

    srcs = [draw(6), draw(3)]
    tgts = [draw(4), draw(2)]
    Te = max(len(s) for s in srcs) + 2
    Td = max(len(t) for t in tgts) + 1
    ids, mask, labels = [], [], []
    for s, t in zip(srcs, tgts):
        e = [cfg.bos_token_id] + s + [cfg.eos_token_id]
        ids.append(e + [cfg.pad_token_id] * (Te - len(e)))
        mask.append([1] * len(e) + [0] * (Te - len(e)))
        lab = t + [cfg.eos_token_id]
        labels.append(lab + [-100] * (Td - len(lab)))
    return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask), "labels": torch.tensor(labels)}


def peft_row_mapping(num_layers: int, submodules: int) -> list[dict[str, int]]:
    """Apply PEFT's get_prompt reshaping (view -> cat for 2 submodules -> permute -> split) to the
    row indices of the [2L] axis, to learn which row feeds which cache slot of which layer."""
    rows = torch.arange(2 * num_layers).view(1, 1, 2 * num_layers, 1, 1).float()
    if submodules == 2:
        rows = torch.cat([rows, rows], dim=2)
    chunks = rows.permute([2, 0, 3, 1, 4]).split(submodules * 2)
    names = ["key", "value"] if submodules == 1 else ["self_key", "self_value", "cross_key", "cross_value"]
    return [{n: int(c[i].item()) for i, n in enumerate(names)} for c in chunks]


def manual_cache(prefix: torch.Tensor, batch: int, L: int, H: int, enc_dec: bool) -> Any:
    """The prefix [P, 2*L*H*hd] placed into a transformers cache by the layout stated in the JSON."""
    P = prefix.shape[0]
    v = prefix.view(P, 2 * L, H, -1).permute(1, 2, 0, 3)  # [2L, H, P, hd]
    mapping = peft_row_mapping(L, 2 if enc_dec else 1)
    cache = DynamicCache()
    for layer, m in enumerate(mapping):
        k_row, v_row = (m["self_key"], m["self_value"]) if enc_dec else (m["key"], m["value"])
        k = v[k_row].unsqueeze(0).expand(batch, -1, -1, -1)
        val = v[v_row].unsqueeze(0).expand(batch, -1, -1, -1)
        cache.update(k, val, layer)
    if enc_dec:
        # PEFT puts the cross rows into the cache too, then replaces the cross-attention cache by an
        # empty one, so cross-attention uses only the encoder output.
        return EncoderDecoderCache(cache, DynamicCache())
    return cache


def manual_forward(
    base: torch.nn.Module, enc_dec: bool, batch: dict[str, torch.Tensor], prefix: torch.Tensor, L: int, H: int
) -> Any:
    B = batch["input_ids"].shape[0]
    P = prefix.shape[0]
    cache = manual_cache(prefix, B, L, H, enc_dec)
    if enc_dec:
        return base(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            labels=batch["labels"],
            past_key_values=cache,
        )
    am = torch.cat([torch.ones(B, P, dtype=batch["attention_mask"].dtype), batch["attention_mask"]], dim=1)
    return base(input_ids=batch["input_ids"], attention_mask=am, labels=batch["labels"], past_key_values=cache)


def make_case(case: PeftCase) -> None:
    out_dir = mf.PEFT_DIR / case.name
    last: Exception | None = None
    for attempt in range(10):
        seed = case.seed + 31 * attempt
        try:
            exp = case_expected(case, seed, out_dir)
            break
        except mf.NearTie as e:
            last = e
            print(f"  {case.name}: seed {seed}: near tie ({e}); reseeding")
    else:
        raise RuntimeError(f"{case.name}: no seed without near ties: {last}")
    write_json(out_dir / "expected.json", exp)
    print(f"  {case.name}: seed {seed}, loss {exp['loss']:.6f}, {dir_size(out_dir)} bytes")


def case_expected(case: PeftCase, seed: int, out_dir: Any) -> dict[str, Any]:
    base, enc_dec = load_base(case.base)
    cfg = base.config
    L = cfg.num_hidden_layers if not enc_dec else cfg.decoder_layers
    H = cfg.num_attention_heads if not enc_dec else cfg.decoder_attention_heads
    d = cfg.hidden_size if not enc_dec else cfg.d_model
    batch = bart_batch(cfg, seed) if enc_dec else gpt2_batch(cfg, seed)

    seed_all(seed)
    pcfg = PrefixTuningConfig(
        task_type=TaskType.SEQ_2_SEQ_LM if enc_dec else TaskType.CAUSAL_LM,
        num_virtual_tokens=case.num_virtual_tokens,
        prefix_projection=case.projection,
        encoder_hidden_size=ENCODER_HIDDEN if case.projection else None,
    )
    pm = get_peft_model(base, pcfg)
    pm.eval()  # dropout off: gradients are deterministic
    enc = pm.prompt_encoder["default"]
    trainable = {n: p for n, p in pm.named_parameters() if p.requires_grad}
    params = dict(enc.named_parameters())
    assert set(trainable) == {f"prompt_encoder.default.{n}" for n in params}, trainable.keys()
    initial = {n: tensor_json(p) for n, p in params.items()}

    out = pm(**batch)
    out.loss.backward()
    grads = {n: tensor_json(p.grad) for n, p in params.items()}
    logits = out.logits.detach()

    prefix = pm.get_prompt_embedding_to_save("default")  # [P, 2*L*d]
    assert prefix.shape == (case.num_virtual_tokens, 2 * L * d), prefix.shape

    # Independent re-derivation: the prefix in a cache, plain base model (positions default).
    pre = prefix.clone().requires_grad_(True)
    base_plain, _ = load_base(case.base)
    man = manual_forward(base_plain, enc_dec, batch, pre, L, H)
    assert torch.allclose(man.logits, logits, atol=1e-5), (man.logits - logits).abs().max()
    assert abs(man.loss.item() - out.loss.item()) < 1e-6
    man.loss.backward()
    prefix_grad = pre.grad.detach()
    # Which [2L]-axis rows of the prefix influence the loss at all.
    row_grad = prefix_grad.view(case.num_virtual_tokens, 2 * L, -1).abs().sum(dim=(0, 2))
    unused_rows = [i for i in range(2 * L) if float(row_grad[i]) == 0.0]

    # position ids: does HF shift the positions of the real tokens by P? (check by explicit ids)
    positions = position_check(base_plain, enc_dec, batch, prefix, L, H, logits)

    # save and reload
    if out_dir.exists():
        shutil.rmtree(out_dir)
    adapter_dir = out_dir / "adapter"
    # a repo-relative base path instead of this machine's absolute path
    pm.peft_config["default"].base_model_name_or_path = f"fixtures/models/{case.base}"
    pm.save_pretrained(adapter_dir)
    (adapter_dir / "README.md").unlink(missing_ok=True)  # PEFT's model-card template, not needed
    with safe_open(str(adapter_dir / "adapter_model.safetensors"), "pt") as f:
        saved = {k: f.get_tensor(k) for k in f.keys()}
    assert list(saved) == ["prompt_embeddings"], list(saved)
    assert torch.allclose(saved["prompt_embeddings"], prefix.detach(), atol=0), "saved != computed prefix"
    base2, _ = load_base(case.base)
    rm = PeftModel.from_pretrained(base2, adapter_dir).eval()
    fwd = {k: v for k, v in batch.items() if k != "labels"}
    if enc_dec:
        # without labels transformers cannot derive decoder_input_ids: pass them explicitly
        fwd["decoder_input_ids"] = derived_decoder_input_ids(base2, batch["labels"])
    with torch.no_grad():
        reload_logits = rm(**fwd).logits
    assert torch.allclose(reload_logits, logits, atol=1e-5), (reload_logits - logits).abs().max()

    exp: dict[str, Any] = {
        "case": case.name,
        "base_model": f"fixtures/models/{case.base}",
        "versions": versions(),
        "seed": seed,
        "peft_config": json_load(adapter_dir / "adapter_config.json"),
        "geometry": {"num_layers": L, "num_heads": H, "head_dim": d // H, "token_dim": d, "num_virtual_tokens": case.num_virtual_tokens},
        "batch": {k: tensor_json(v) for k, v in batch.items()},
        "initial_parameters": initial,
        "parameter_names": {n: f"prompt_encoder.default.{n}" for n in params},
        "loss": out.loss.item(),
        "gradients": grads,
        "logits": tensor_json(logits),
        "prefix": tensor_json(prefix),
        "prefix_grad": tensor_json(prefix_grad),
        "prefix_layout": layout_doc(L, H, d, enc_dec, unused_rows, positions),
        "adapter": {
            "dir": "adapter",
            "files": sorted(p.name for p in adapter_dir.iterdir()),
            "tensors": {k: list(v.shape) for k, v in saved.items()},
            "note": "save_pretrained stores only the computed prefix `prompt_embeddings` [P, 2*L*d] (the "
            "reparametrisation MLP is dropped); PeftModel.from_pretrained loads it in inference mode as "
            "prompt_encoder.embedding.weight and uses it directly.",
        },
        "reload_inputs": {k: tensor_json(v) for k, v in fwd.items()},
        "reload_logits": tensor_json(reload_logits),
        "loss_definition": (
            "transformers' default: mean cross-entropy over positions whose label != -100; "
            + (
                "BART labels are aligned with decoder positions and decoder_input_ids = shift_tokens_right(labels, "
                "pad, decoder_start) (-100 replaced by pad), given in batch_derived."
                if enc_dec
                else "causal LM: logits[:, t] is scored against labels[:, t+1] (shift inside the model)."
            )
        ),
        "train_mode": "model.eval() (dropout disabled) while computing loss and gradients",
    }
    if enc_dec:
        exp["batch_derived"] = {"decoder_input_ids": tensor_json(derived_decoder_input_ids(base2, batch["labels"]))}
    if case.beam:
        exp["generation_with_prefix"] = generation_cases(rm, batch, cfg, enc_dec)
    return exp


def derived_decoder_input_ids(model: Any, labels: torch.Tensor) -> torch.Tensor:
    from transformers.models.bart.modeling_bart import shift_tokens_right

    return shift_tokens_right(labels, model.config.pad_token_id, model.config.decoder_start_token_id)


def position_check(
    base: Any, enc_dec: bool, batch: dict[str, torch.Tensor], prefix: torch.Tensor, L: int, H: int, logits: torch.Tensor
) -> str:
    P = prefix.shape[0]
    if enc_dec:
        # Capture the positional embeddings actually added and match them against table rows.
        seen: dict[str, torch.Tensor] = {}
        hooks = [
            base.model.encoder.embed_positions.register_forward_hook(lambda m, a, o: seen.__setitem__("enc", o)),
            base.model.decoder.embed_positions.register_forward_hook(lambda m, a, o: seen.__setitem__("dec", o)),
        ]
        with torch.no_grad():
            lg = manual_forward(base, True, batch, prefix.detach(), L, H).logits
        for h in hooks:
            h.remove()
        assert torch.allclose(lg, logits, atol=1e-5)

        def rows(which: str, table: torch.Tensor) -> list[int]:
            out = seen[which].reshape(-1, table.shape[1])[: seen[which].shape[-2]]
            return [int((table - r).abs().sum(1).argmin()) for r in out]

        enc_rows = rows("enc", base.model.encoder.embed_positions.weight)
        dec_rows = rows("dec", base.model.decoder.embed_positions.weight)
        Te = batch["input_ids"].shape[1]
        Td = batch["labels"].shape[1]
        assert enc_rows == list(range(2, Te + 2)), enc_rows
        assert dec_rows == list(range(P + 2, P + Td + 2)), dec_rows
        return (
            "decoder positions start at num_virtual_tokens: decoder token t uses embed_positions row "
            "P + t + 2 (offset 2); encoder token t uses row t + 2 (checked on the embedding rows used)"
        )
    B, T = batch["input_ids"].shape
    am = torch.cat([torch.ones(B, P, dtype=torch.long), batch["attention_mask"]], dim=1)
    res = {}
    for label, pos in (("shifted", torch.arange(P, P + T)), ("zero_based", torch.arange(T))):
        cache = manual_cache(prefix.detach(), B, L, H, False)
        with torch.no_grad():
            lg = base(
                input_ids=batch["input_ids"], attention_mask=am, past_key_values=cache, position_ids=pos.expand(B, -1)
            ).logits
        res[label] = bool(torch.allclose(lg, logits, atol=1e-5))
    assert res["shifted"] != res["zero_based"], res
    if res["shifted"]:
        return "token t of the real input uses position id P + t (wpe row P + t): transformers counts the prefix as past tokens"
    return "token t of the real input uses position id t (the prefix does not shift positions)"


def layout_doc(L: int, H: int, d: int, enc_dec: bool, unused_rows: list[int], positions: str) -> dict[str, Any]:
    hd = d // H
    mapping = peft_row_mapping(L, 2 if enc_dec else 1)
    doc: dict[str, Any] = {
        "prefix_shape": "[P, 2*L*d] = [num_virtual_tokens, num_layers * 2 * num_heads * head_dim]",
        "flat_index": "prefix[p, ((r * H) + h) * head_dim + j], r in [0, 2L) is the row, h the head, j in [0, head_dim)",
        "view": f"prefix.view(P, 2L={2 * L}, H={H}, head_dim={hd})",
        "row_to_cache": mapping,
        "cache_tensor": "cache[layer][slot] = prefix.view(P, 2L, H, hd)[:, row].permute(1, 0, 2) -> [H, P, hd], "
        "broadcast over the batch -> [B, H, P, hd], placed before the real tokens' keys/values",
        "attention_mask": "PEFT prepends P ones to attention_mask (decoder-only); for BART it prepends P ones to "
        "decoder_attention_mask only when one is given (not in this batch), the encoder mask is unchanged",
        "positions": positions,
        "rows_with_zero_gradient": unused_rows,
        "verified": "logits and loss re-derived with this layout through the plain base model (atol 1e-5)",
    }
    if enc_dec:
        doc["bart_semantics"] = (
            "PEFT (this version) only prefixes the DECODER SELF-ATTENTION. get_prompt concatenates the [2L] rows with "
            "themselves ([2L] -> [4L]) and splits them into chunks of 4 per layer = (self key, self value, cross key, "
            "cross value), so layer l self-attention uses rows (4l mod 2L, 4l+1 mod 2L) (row_to_cache above); it then "
            "replaces the cross-attention cache by an empty DynamicCache, so the cross rows are discarded and "
            "cross-attention uses the encoder output only. The encoder gets no prefix. Rows that never reach a "
            "used slot get zero gradient (rows_with_zero_gradient). This differs from Li & Liang's BART prefix "
            "(encoder, decoder and cross-attention prefixes)."
        )
    else:
        doc["gpt2_semantics"] = "layer l attention uses key = row 2l, value = row 2l+1 (row_to_cache)"
    return doc


def generation_cases(rm: Any, batch: dict[str, torch.Tensor], cfg: Any, enc_dec: bool) -> dict[str, Any]:
    """Greedy and beam (num_beams 3) from the reloaded adapter. Decoder-only: prompt = row 0 source +
    separator. BART: the encoder input = row 0 source (up to its EOS); the decoder starts from
    decoder_start_token_id and the config's forced EOS applies, as in any BART generate."""
    eos = cfg.eos_token_id
    row = batch["input_ids"][0].tolist()
    prompt = torch.tensor([row[: row.index(eos) + 1]])
    family = "bart" if enc_dec else "gpt2"
    extra = {} if enc_dec else {"pad_token_id": eos}
    greedy = mf.greedy_case(rm, family, prompt, extra)
    beam = mf.beam_case(rm, family, prompt, greedy["new_tokens"], extra, num_beams=3, options=False)
    return {
        "model": "the reloaded adapter (PeftModel.from_pretrained, inference mode)",
        "greedy": greedy,
        "beam": beam,
        "note": "PEFT generate fills the cache with the prefix before the prompt; positions as in prefix_layout"
        + (" (BART: the prefix fills the decoder self-attention cache; decoder positions start at num_virtual_tokens)" if enc_dec else ""),
    }


def json_load(path: Any) -> Any:
    import json

    return json.loads(path.read_text())


def do_peft() -> None:
    print("peft:")
    for case in CASES:
        make_case(case)
