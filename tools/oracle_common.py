"""Shared helpers for the Hugging Face oracle scripts (tools/make_fixtures.py, tools/check_adapter.py).

Tensors are written to JSON as {"shape": [...], "data": [...]} with `data` the row-major (C order)
flattening. Float tensors are converted to float32 first and every value is written as the shortest
decimal string that parses back to the same float32 (numpy's float32 repr), so a reader that rounds
the parsed double to float32 (Math.fround) recovers the exact bits. Integer tensors are written as
ints.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "fixtures"


def shared_dir() -> Path:
    """The read-only shared folder: $PREFIX_TUNING_SHARED or <repo>/../shared."""
    env = os.environ.get("PREFIX_TUNING_SHARED")
    return Path(env) if env else REPO_ROOT.parent / "shared"


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def f32_list(values: np.ndarray) -> list[float]:
    """float32 values as Python floats printed with the shortest float32 round-trip repr."""
    flat = np.asarray(values, dtype=np.float32).reshape(-1)
    out: list[float] = []
    for v in flat:
        if not math.isfinite(float(v)):
            raise ValueError(f"non-finite value {v} cannot be written to JSON")
        # str(np.float32) is the shortest decimal that round-trips to this float32.
        out.append(float(str(v)))
    return out


def tensor_json(t: Any) -> dict[str, Any]:
    """{"shape", "data"} for a torch tensor / numpy array (float -> float32, int/bool -> int)."""
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu()
        arr = t.to(torch.float32).numpy() if t.is_floating_point() else t.to(torch.int64).numpy()
    else:
        arr = np.asarray(t)
    shape = list(arr.shape)
    if np.issubdtype(arr.dtype, np.floating):
        return {"shape": shape, "data": f32_list(arr)}
    return {"shape": shape, "data": [int(x) for x in arr.reshape(-1)]}


def versions() -> dict[str, str]:
    import peft
    import safetensors
    import tokenizers
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "tokenizers": tokenizers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
    }


def write_json(path: Path, obj: Any) -> None:
    """Write JSON with 1-space indentation except that number lists stay on one line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = _dumps(obj, 0)
    path.write_text(text + "\n", encoding="utf-8")


def _is_scalar_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, (int, float, bool)) or x is None for x in v)


def _dumps(obj: Any, depth: int) -> str:
    pad = " " * (depth + 1)
    end = " " * depth
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{pad}{json.dumps(str(k), ensure_ascii=False)}: {_dumps(v, depth + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + end + "}"
    if isinstance(obj, (list, tuple)):
        obj = list(obj)
        if not obj:
            return "[]"
        if _is_scalar_list(obj) or all(_is_scalar_list(x) for x in obj):
            return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        items = [f"{pad}{_dumps(v, depth + 1)}" for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + end + "]"
    return json.dumps(obj, ensure_ascii=False, allow_nan=False)


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
