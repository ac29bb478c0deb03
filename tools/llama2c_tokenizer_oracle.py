"""Oracle for the llama2.c tokenizer conversion (packages/core/src/io/llama2c.ts).

Rebuilds a SentencePiece BPE model from llama2.c's tokenizer.bin (pieces, scores, byte-fallback
pieces, the identity normalizer with a dummy prefix, as Llama's tokenizer.model has), encodes test
strings with the real `sentencepiece` library, and writes the ids to
fixtures/tokenizers/stories260K-llama2c.json. When a converted tokenizer.json is given, it is also
loaded with the Rust `tokenizers` library and must give the same ids.

Run: /work/venvs/io/bin/pip install sentencepiece protobuf tokenizers
     node --import tsx packages/cli/src/main.ts convert --from llama2c \
        ../shared/models/stories260K/stories260K.bin ../shared/models/stories260K/tok512.bin --out /tmp/st
     /work/venvs/io/bin/python tools/llama2c_tokenizer_oracle.py ../shared/models/stories260K/tok512.bin /tmp/st/tokenizer.json
"""
import json
import pathlib
import struct
import sys

from sentencepiece import SentencePieceProcessor
from sentencepiece import sentencepiece_model_pb2 as pb

STRINGS = [
    "Once upon a time, there was a little girl named Lily.",
    "She loved to play outside in the park. One day, she saw a big, red ball.",
    "Tom and Sue went to the zoo.",
    "Hello\nworld",
    "  two  spaces",
    "trailing space ",
    "café 😀 ü",
    "a",
    "The end!",
    '"Wow," said Ben. "Look at that!"',
]


def read_tokenizer_bin(path):
    data = pathlib.Path(path).read_bytes()
    (max_len,) = struct.unpack_from("<I", data, 0)
    p, pieces = 4, []
    while p < len(data):
        score, n = struct.unpack_from("<fi", data, p)
        p += 8
        pieces.append((data[p : p + n].decode("utf-8"), score))
        p += n
    return pieces


def build_model(pieces):
    m = pb.ModelProto()
    for i, (text, score) in enumerate(pieces):
        sp = m.pieces.add()
        if text == "\n<s>\n":
            sp.piece, sp.type = "<s>", pb.ModelProto.SentencePiece.CONTROL
        elif text == "\n</s>\n":
            sp.piece, sp.type = "</s>", pb.ModelProto.SentencePiece.CONTROL
        elif i == 0:
            sp.piece, sp.type = text, pb.ModelProto.SentencePiece.UNKNOWN
        elif len(text) == 6 and text.startswith("<0x") and text.endswith(">"):
            sp.piece, sp.type = text, pb.ModelProto.SentencePiece.BYTE
        else:
            sp.piece, sp.type = text.replace(" ", "\u2581"), pb.ModelProto.SentencePiece.NORMAL
        sp.score = score
    t = m.trainer_spec
    t.model_type = pb.TrainerSpec.BPE
    t.vocab_size = len(pieces)
    t.byte_fallback = True
    t.unk_id, t.bos_id, t.eos_id, t.pad_id = 0, 1, 2, -1
    n = m.normalizer_spec
    n.name = "identity"
    n.add_dummy_prefix = True
    n.remove_extra_whitespaces = False
    n.escape_whitespaces = True
    return m


def main():
    tok_bin = sys.argv[1]
    sp = SentencePieceProcessor(model_proto=build_model(read_tokenizer_bin(tok_bin)).SerializeToString())
    ids = [[sp.bos_id()] + sp.encode(s) for s in STRINGS]
    decoded = [sp.decode(i[1:]) for i in ids]
    if len(sys.argv) > 2:
        from tokenizers import Tokenizer

        fast = Tokenizer.from_file(sys.argv[2])
        for s, want in zip(STRINGS, ids):
            got = fast.encode(s).ids
            assert got == want, f"tokenizers (Rust) on the converted tokenizer.json differs for {s!r}: {got} vs sentencepiece {want}"
            assert fast.decode(got, skip_special_tokens=True) == sp.decode(want[1:]), s
        print("the Rust tokenizers library on the converted tokenizer.json equals sentencepiece on", len(STRINGS), "strings")
    out = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "tokenizers" / "stories260K-llama2c.json"
    out.write_text(json.dumps({"source": "sentencepiece on a model rebuilt from stories260K tok512.bin", "strings": STRINGS, "ids": ids, "decoded": decoded}, ensure_ascii=False, indent=1) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
