"""Load a prefix-tuning adapter (e.g. one written by our TypeScript code) into Hugging Face PEFT and
print the logits it gives; optionally compare them with an expected file.

    /work/venvs/oracle/bin/python tools/check_adapter.py BASE_DIR ADAPTER_DIR INPUTS_JSON \
        [--expect LOGITS_JSON] [--atol 1e-4] [--out LOGITS_OUT_JSON] [--generate MAX_NEW [--beams N]]

BASE_DIR     a transformers model directory (config.json + model.safetensors), e.g. fixtures/models/gpt2-tiny
ADAPTER_DIR  a PEFT adapter directory (adapter_config.json + adapter_model.safetensors)
INPUTS_JSON  {"input_ids": [[...], ...], "attention_mask": [[...]]?, "decoder_input_ids": [[...]]?,
              "decoder_attention_mask": [[...]]?}; each value is either a nested int list or a
              {"shape", "data"} tensor object (the format of fixtures/peft/*/expected.json
              "reload_inputs", which can be passed directly by pointing at a file holding it).
              decoder_input_ids is required for encoder-decoder models.
--expect     a JSON file holding {"shape", "data"} logits, or an object with a "logits" or
             "reload_logits" or "peft_logits" field of that form. Exit 1 if any |difference| > atol or shapes differ.

--generate   also run PEFT's `generate` (greedy, or --beams N beam search) for max MAX_NEW new tokens
             from row 0 of input_ids (its attention_mask if given) and print the sequences on stderr
             as `check_adapter: generate [[...]]`; encoder-decoder (SEQ_2_SEQ_LM) adapters included.

Prints {"shape": [...], "data": [...]} logits (float32) on stdout, then on stderr a summary line.
Exit codes: 0 ok, 1 mismatch, 2 usage / input error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def fail(msg: str) -> None:
    print(f"check_adapter: {msg}", file=sys.stderr)
    sys.exit(2)


def as_tensor(torch: Any, value: Any, where: str) -> Any:
    if isinstance(value, dict):
        if "shape" not in value or "data" not in value:
            fail(f"{where}: expected a nested list or {{shape, data}}")
        return torch.tensor(value["data"], dtype=torch.long).view(value["shape"])
    try:
        t = torch.tensor(value, dtype=torch.long)
    except (TypeError, ValueError) as e:
        fail(f"{where}: not a rectangular int list ({e})")
    if t.dim() != 2:
        fail(f"{where}: expected [batch, seq], got shape {list(t.shape)}")
    return t


def load_expected(path: Path) -> tuple[list[int], list[float]]:
    obj = json.loads(path.read_text())
    for key in ("reload_logits", "logits", "peft_logits"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not (isinstance(obj, dict) and "shape" in obj and "data" in obj):
        fail(f"{path}: expected {{shape, data}} or an object with a logits/reload_logits field")
    return obj["shape"], obj["data"]


def main() -> None:
    ap = argparse.ArgumentParser(description="Load an adapter into PEFT and print/compare its logits.")
    ap.add_argument("base_dir", type=Path)
    ap.add_argument("adapter_dir", type=Path)
    ap.add_argument("inputs_json", type=Path)
    ap.add_argument("--expect", type=Path, help="expected logits JSON")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--out", type=Path, help="also write the logits JSON here")
    ap.add_argument("--generate", type=int, metavar="MAX_NEW", help="also print PEFT generate's sequences for row 0")
    ap.add_argument("--beams", type=int, default=1, help="beam size for --generate (default 1: greedy)")
    args = ap.parse_args()

    for p, what in ((args.base_dir / "config.json", "base model config"), (args.adapter_dir / "adapter_config.json", "adapter config")):
        if not p.is_file():
            fail(f"{p}: {what} not found")
    try:
        inputs_raw = json.loads(args.inputs_json.read_text())
    except (OSError, json.JSONDecodeError) as e:
        fail(f"{args.inputs_json}: {e}")
    if not isinstance(inputs_raw, dict) or "input_ids" not in inputs_raw:
        fail(f"{args.inputs_json}: expected an object with input_ids")

    import torch
    from peft import PeftModel
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM
    from transformers.utils import logging as hf_logging

    from oracle_common import tensor_json

    hf_logging.set_verbosity_error()
    config = AutoConfig.from_pretrained(args.base_dir)
    enc_dec = bool(getattr(config, "is_encoder_decoder", False))
    cls = AutoModelForSeq2SeqLM if enc_dec else AutoModelForCausalLM
    base = cls.from_pretrained(args.base_dir).eval()
    model = PeftModel.from_pretrained(base, args.adapter_dir).eval()

    allowed = {"input_ids", "attention_mask"} | ({"decoder_input_ids", "decoder_attention_mask"} if enc_dec else set())
    unknown = set(inputs_raw) - allowed
    if unknown:
        fail(f"{args.inputs_json}: unexpected field(s) {sorted(unknown)} for this model (allowed {sorted(allowed)})")
    if enc_dec and "decoder_input_ids" not in inputs_raw:
        fail(f"{args.inputs_json}: decoder_input_ids is required for an encoder-decoder base model")
    inputs = {k: as_tensor(torch, v, f"{args.inputs_json}.{k}") for k, v in inputs_raw.items()}
    with torch.no_grad():
        logits = model(**inputs).logits
    out = tensor_json(logits)
    text = json.dumps(out, separators=(",", ":"))
    print(text)
    if args.out:
        args.out.write_text(text + "\n")

    if args.generate is not None:
        if args.generate < 1 or args.beams < 1:
            fail("--generate and --beams must be positive")
        row = {k: inputs[k][:1] for k in ("input_ids", "attention_mask") if k in inputs}
        row.setdefault("attention_mask", torch.ones_like(row["input_ids"]))
        with torch.no_grad():
            seqs = model.generate(**row, max_new_tokens=args.generate, num_beams=args.beams, do_sample=False)
        print(f"check_adapter: generate {json.dumps(seqs.tolist())}", file=sys.stderr)

    if args.expect is None:
        print(f"check_adapter: logits shape {out['shape']}", file=sys.stderr)
        return
    shape, data = load_expected(args.expect)
    if list(shape) != out["shape"]:
        print(f"check_adapter: MISMATCH shape expected {shape}, got {out['shape']}", file=sys.stderr)
        sys.exit(1)
    exp = torch.tensor(data, dtype=torch.float32)
    diff = (exp - logits.reshape(-1).float()).abs()
    worst = int(diff.argmax())
    if float(diff.max()) > args.atol:
        print(
            f"check_adapter: MISMATCH max |diff| {float(diff.max()):.3e} > atol {args.atol} at flat index {worst}"
            f" ({int((diff > args.atol).sum())} of {diff.numel()} values)",
            file=sys.stderr,
        )
        sys.exit(1)
    print(f"check_adapter: OK max |diff| {float(diff.max()):.3e} <= atol {args.atol}", file=sys.stderr)


if __name__ == "__main__":
    main()
