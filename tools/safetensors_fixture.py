"""Oracle for packages/core/src/io/safetensors.ts.

Writes fixtures/safetensors/reference.safetensors with the reference implementation (the
`safetensors` package, Rust core) and fixtures/safetensors/reference.json with the values numpy
reads back, so the TypeScript reader and writer are checked against bytes they did not produce.

Run: python3 -m venv /work/venvs/io && /work/venvs/io/bin/pip install safetensors numpy
     /work/venvs/io/bin/python tools/safetensors_fixture.py
"""
import json
import pathlib

import numpy as np
import safetensors
from safetensors.numpy import save

OUT = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "safetensors"
OUT.mkdir(parents=True, exist_ok=True)

rng = np.random.default_rng(1234)
f32 = rng.standard_normal((3, 5)).astype(np.float32)
f32[0, 0] = 1e-30  # below float16's range: must flush to 0 there
f16 = (rng.standard_normal((2, 3, 2)) * 100).astype(np.float16)
f16.flat[0] = np.float16(6.0e-8)  # a subnormal half
f16.flat[1] = np.float16(65504)
f64 = rng.standard_normal((4,)).astype(np.float64)
i64 = np.array([[-(2**40), 7], [123456789012, -1]], dtype=np.int64)
i32 = np.array([1, -2, 3, 2**31 - 1], dtype=np.int32)
u8 = np.arange(6, dtype=np.uint8).reshape(2, 3)
boolean = np.array([True, False, True], dtype=np.bool_)
scalar = np.array(2.5, dtype=np.float32)
empty = np.zeros((0, 4), dtype=np.float32)

# bfloat16: numpy has no bf16, so round float32 to bf16 bits by hand (round to nearest even)
bf_src = rng.standard_normal((2, 4)).astype(np.float32)
bits = bf_src.view(np.uint32).astype(np.uint64)
bf16_bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
bf16_values = (bf16_bits.astype(np.uint32) << 16).view(np.float32)

tensors = {
    "model.embed.weight": f32,
    "h.0.half": f16,
    "h.0.double": f64,
    "ids.i64": i64,
    "ids.i32": i32,
    "bytes.u8": u8,
    "mask": boolean,
    "scalar": scalar,
    "empty": empty,
}
# The low-level serializer of the same Rust core takes raw buffers, which lets us add BF16.
dtype_names = {"f4": "float32", "f2": "float16", "f8": "float64", "i8": "int64", "i4": "int32", "u1": "uint8", "b1": "bool"}
buffers = dict(tensors)  # all C-contiguous (np.ascontiguousarray would turn the 0-d scalar into shape [1])
buffers["h.1.bf16"] = np.ascontiguousarray(bf16_bits)
specs = {
    k: safetensors.TensorSpec(
        dtype="bfloat16" if k == "h.1.bf16" else dtype_names[v.dtype.str[1:]], shape=list(v.shape), data_ptr=v.ctypes.data, data_len=v.nbytes
    )
    for k, v in buffers.items()
}
data = safetensors.serialize(specs, metadata={"format": "pt"})
# the high-level numpy writer must agree on the tensors it can express
_a = save(tensors, metadata={"format": "pt"})
_b = safetensors.serialize({k: s for k, s in specs.items() if k != "h.1.bf16"}, metadata={"format": "pt"})
assert _a == _b, "numpy writer and raw serializer disagree"
(OUT / "reference.safetensors").write_bytes(data)

def as_list(x):
    return [float(v) if x.dtype.kind == "f" else (bool(v) if x.dtype.kind == "b" else int(v)) for v in x.reshape(-1)]

expected = {
    name: {"shape": list(v.shape), "values": as_list(v)} for name, v in tensors.items()
}
expected["h.1.bf16"] = {"shape": [2, 4], "values": [float(v) for v in bf16_values.reshape(-1)]}
expected["__float32_of_f32_as_f16_bits__"] = [int(b) for b in f32.astype(np.float16).view(np.uint16).reshape(-1)]
expected["__metadata__"] = {"format": "pt"}
(OUT / "reference.json").write_text(json.dumps(expected, indent=1) + "\n")
print("wrote", OUT / "reference.safetensors", len(data), "bytes")
