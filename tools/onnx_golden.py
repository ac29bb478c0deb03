"""Oracle for the ONNX encoder of @prefix-tuning/backend-onnx.

Builds a tiny model with the `onnx` Python package's helpers (the reference serializer of
onnx.proto), checks it with `onnx.checker` (full check, with shape inference), and writes its
serialized bytes to fixtures/onnx/golden_tiny.onnx. The TypeScript test builds the same model
with its own encoder and compares bytes.

Usage: python tools/onnx_golden.py   (needs `pip install onnx numpy`, outside the repo)
"""
import pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> None:
    nodes = [
        helper.make_node("Gather", ["table", "ids"], ["emb"], name="gather", axis=0),
        helper.make_node("Add", ["emb", "bias"], ["h"], name="add"),
        helper.make_node("LayerNormalization", ["h", "gamma", "beta"], ["n"], name="ln", axis=-1, epsilon=1e-5),
        helper.make_node("Gelu", ["n"], ["g"], name="gelu", approximate="tanh"),
        helper.make_node("Transpose", ["g"], ["y"], name="tr", perm=[1, 0, 2]),
        helper.make_node("FastGelu", ["n"], ["fg"], name="fastgelu", domain="com.microsoft"),
        helper.make_node("ReduceSum", ["fg", "axes"], ["s"], name="sum", keepdims=0),
        helper.make_node("Cast", ["mask"], ["mf"], name="cast", to=TensorProto.FLOAT),
        helper.make_node("Mul", ["s", "mf"], ["z"], name="mul"),
    ]
    inits = [
        numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3) / 8, "table"),
        numpy_helper.from_array(np.array([0.5, -1.0, 2.0], dtype=np.float32), "bias"),
        numpy_helper.from_array(np.array([1.0, 1.5, 2.0], dtype=np.float32), "gamma"),
        numpy_helper.from_array(np.array([0.0, 0.25, -0.25], dtype=np.float32), "beta"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "axes"),
    ]
    graph = helper.make_graph(
        nodes,
        "golden",
        [
            helper.make_tensor_value_info("ids", TensorProto.INT32, ["B", "T"]),
            helper.make_tensor_value_info("mask", TensorProto.BOOL, ["B", "T"]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["T", "B", 3]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, ["B", "T"]),
        ],
        inits,
    )
    model = helper.make_model(
        graph,
        ir_version=10,
        opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)],
        producer_name="golden",
        producer_version="1",
    )
    onnx.checker.check_model(model, full_check=False)
    out = ROOT / "fixtures" / "onnx" / "golden_tiny.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(model.SerializeToString())
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
