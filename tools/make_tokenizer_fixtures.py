"""Tokenizer fixtures (fixtures/tokenizers/), called by tools/make_fixtures.py (`... tokenizers`).

- gpt2.json: ids from the real GPT-2 tokenizer, read in place from
  $PREFIX_TUNING_SHARED/models/gpt2-tokenizer (nothing from there is copied into the repository).
- bart.json: the BART tokenizer behaviour (byte-level BPE + <s> ... </s>) built from the same GPT-2
  vocab/merges; the BART special tokens are not in that vocab and are appended as added tokens.
- llama-sp/: a small SentencePiece-style BPE (byte fallback, metaspace) that we train here on E2E
  references; tokenizer.json + tokenizer_config.json are our own artefact, llama-sp.json its ids.
"""

from __future__ import annotations

import csv
import shutil
from typing import Any

from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, BartTokenizerFast, GPT2TokenizerFast, LlamaTokenizerFast

import make_fixtures as mf
from oracle_common import shared_dir, versions, write_json

# Written for these fixtures: unicode, emoji, whitespace runs, newlines, numbers, E2E-style records.
STRINGS = [
    "Hello, world!",
    " name : The Eagle | Type : coffee shop",
    "name : The Eagle | Type : coffee shop | food : French | price : moderate | near : Burger King",
    "The Eagle is a moderately priced coffee shop near Burger King.",
    "  leading and trailing spaces  ",
    "multiple   spaces\tand\ttabs",
    "line one\nline two\n\nline four\n",
    "\r\nWindows line end\r\n",
    "Numbers: 3.14159, 42, 1,000,000 and 2021-05-17 at 10:30pm",
    "café naïve résumé £20",
    "Ünïcödé Straße",
    "日本語のテキスト",
    "emoji 😀👍🏽 and a family 👨‍👩‍👧",
    "Привет, мир",
    "مرحبا بالعالم",
    "can't won't they're I'll we've",
    "https://example.com/path?q=1&x=2",
    "CamelCaseWord snake_case_word kebab-case-word",
    "",
    " ",
    "a",
    "The quick brown fox jumps over the lazy dog.",
    "x = (a + b) * c / 2; // comment",
    "non\u00a0breaking space and zero\u200bwidth",
    "ﬁ ligature and ½ fraction",
    "<|endoftext|> between <|endoftext|>",
]
LLAMA_VOCAB = 400  # 3 specials + 256 byte tokens + 141 learned pieces


def record(tok: Any, strings: list[str]) -> dict[str, Any]:
    ids = [tok(s)["input_ids"] for s in strings]
    return {
        "strings": strings,
        "ids": ids,
        "tokens": [tok.convert_ids_to_tokens(i) for i in ids],
        "decoded": [tok.decode(i) for i in ids],
        "decoded_skip_special": [tok.decode(i, skip_special_tokens=True) for i in ids],
    }


def gpt2_and_bart() -> None:
    src = shared_dir() / "models" / "gpt2-tokenizer"
    gpt2 = GPT2TokenizerFast.from_pretrained(src)
    raw = Tokenizer.from_file(str(src / "tokenizer.json"))
    rec = record(gpt2, STRINGS)
    for s, ids in zip(STRINGS, rec["ids"]):
        assert raw.encode(s).ids == ids, f"tokenizer.json pipeline differs from GPT2TokenizerFast on {s!r}"
    write_json(
        mf.TOK_DIR / "gpt2.json",
        {
            "tokenizer": "GPT2TokenizerFast.from_pretrained(<shared>/models/gpt2-tokenizer)",
            "source": "../shared/models/gpt2-tokenizer (read in place; not copied)",
            "versions": versions(),
            "settings": {"add_special_tokens": "GPT-2 adds none", "add_prefix_space": False},
            "notes": [
                "ids are tokenizer(s)['input_ids']; decoded = tokenizer.decode(ids) (clean_up_tokenization_spaces "
                f"= {gpt2.clean_up_tokenization_spaces}); tokens are byte-level BPE pieces (Ġ = space, Ċ = newline).",
                "'<|endoftext|>' in the text is matched as the special token id 50256.",
                "Checked: tokenizers.Tokenizer.from_file(tokenizer.json).encode gives the same ids.",
            ],
            **rec,
        },
    )

    bart = BartTokenizerFast(vocab=str(src / "vocab.json"), merges=str(src / "merges.txt"))
    brec = record(bart, STRINGS)
    specials = {t: bart.convert_tokens_to_ids(t) for t in ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]}
    pair = bart("name : The Eagle", text_pair="The Eagle is a pub.")["input_ids"]
    target = bart(text_target="The Eagle is a pub.")["input_ids"]
    write_json(
        mf.TOK_DIR / "bart.json",
        {
            "tokenizer": "BartTokenizerFast(vocab=<shared>/gpt2-tokenizer/vocab.json, merges=<shared>/gpt2-tokenizer/merges.txt)",
            "source": "../shared/models/gpt2-tokenizer (read in place; not copied)",
            "versions": versions(),
            "special_tokens": specials,
            "settings": {"add_prefix_space": False, "add_special_tokens": True, "template": "<s> $A </s>"},
            "notes": [
                "Same byte-level BPE as GPT-2; every encoding is wrapped as <s> ... </s>.",
                "The GPT-2 vocab has no BART special tokens, so transformers appends them as added tokens after "
                "the 50257 GPT-2 ids (special_tokens gives their ids). Real facebook/bart-* checkpoints use a "
                "different vocab order (<s>=0, <pad>=1, </s>=2, <unk>=3): ids here are NOT real BART ids; they "
                "pin the tokenizer *behaviour* on the same vocab/merges.",
                "'<|endoftext|>' is an ordinary (non-special) vocab entry here.",
            ],
            **brec,
            "pair_example": {"text": "name : The Eagle", "text_pair": "The Eagle is a pub.", "ids": pair},
            "text_target_example": {"text_target": "The Eagle is a pub.", "ids": target},
        },
    )


def e2e_training_text(n_rows: int = 150) -> list[str]:
    path = shared_dir() / "data" / "e2e" / "trainset.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:n_rows]
    return [r["ref"] for r in rows]


def llama_sp() -> None:
    out_dir = mf.TOK_DIR / "llama-sp"
    if out_dir.exists():
        shutil.rmtree(out_dir)
    text = e2e_training_text()
    specials = ["<unk>", "<s>", "</s>"]
    byte_tokens = [f"<0x{i:02X}>" for i in range(256)]

    # 1) learn merges on metaspace-split words (SentencePiece-style "▁word" pieces)
    trainer_tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    trainer_tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    trainer = trainers.BpeTrainer(
        vocab_size=LLAMA_VOCAB - len(byte_tokens),
        special_tokens=specials,
        min_frequency=2,
        limit_alphabet=80,
        initial_alphabet=["▁"],
        show_progress=False,
    )
    trainer_tok.train_from_iterator(text, trainer=trainer)
    learned = trainer_tok.get_vocab()  # includes specials at 0..2
    spec = json_model(trainer_tok)
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in spec["merges"]]

    # 2) Llama layout: specials 0..2, the 256 byte tokens 3..258, then the learned pieces
    vocab = {t: i for i, t in enumerate(specials + byte_tokens)}
    for tok_str, _ in sorted(learned.items(), key=lambda kv: kv[1]):
        if tok_str not in vocab:
            vocab[tok_str] = len(vocab)
    llama = LlamaTokenizerFast(vocab=vocab, merges=merges, add_bos_token=True, add_eos_token=False)
    llama.save_pretrained(out_dir)
    # keep only tokenizer.json + tokenizer_config.json
    for p in out_dir.iterdir():
        if p.name not in ("tokenizer.json", "tokenizer_config.json"):
            p.unlink()

    reloaded = AutoTokenizer.from_pretrained(out_dir)
    assert type(reloaded).__name__ in ("LlamaTokenizer", "LlamaTokenizerFast"), type(reloaded)
    rec = record(reloaded, STRINGS)
    raw = Tokenizer.from_file(str(out_dir / "tokenizer.json"))
    raw_ids = [raw.encode(s).ids for s in STRINGS]
    assert raw_ids == rec["ids"], "tokenizer.json pipeline differs from LlamaTokenizerFast"
    rec_direct = record(llama, STRINGS)
    assert rec_direct["ids"] == rec["ids"], "reloaded tokenizer differs from the one that was saved"
    byte_fallback_used = sorted({t for toks in rec["tokens"] for t in toks if t.startswith("<0x")})
    write_json(
        mf.TOK_DIR / "llama-sp.json",
        {
            "tokenizer": "LlamaTokenizerFast.from_pretrained(fixtures/tokenizers/llama-sp)",
            "versions": versions(),
            "vocab_size": len(vocab),
            "special_tokens": {t: vocab[t] for t in specials},
            "settings": {
                "model": "BPE, byte_fallback=true, fuse_unk=true",
                "pre_tokenizer": "Metaspace(replacement='▁', prepend_scheme='first', split=false)",
                "normalizer": None,
                "post_processor": "<s> $A (add_bos_token=true, add_eos_token=false)",
                "decoder": "Replace('▁',' '), ByteFallback, Fuse, Strip(left=1)",
            },
            "training": {
                "text": "the first 150 `ref` strings of ../shared/data/e2e/trainset.csv",
                "trainer": f"tokenizers BpeTrainer(vocab_size={LLAMA_VOCAB - 256}, min_frequency=2, limit_alphabet=80, "
                "special_tokens=[<unk>,<s>,</s>]) with the same Metaspace pre-tokenizer; then the vocab is laid out "
                "as specials 0..2, <0x00>..<0xFF> at 3..258, learned pieces from 259 in trainer order",
            },
            "byte_fallback_tokens_seen": byte_fallback_used,
            "notes": [
                "ids = tokenizer(s)['input_ids'] (starts with <s>=1). Checked: tokenizers.Tokenizer.from_file("
                "tokenizer.json).encode gives the same ids.",
                "Characters outside the learned pieces are encoded as their UTF-8 bytes <0xXX> (byte fallback).",
            ],
            **rec,
        },
    )


def json_model(tok: Tokenizer) -> dict[str, Any]:
    import json

    return json.loads(tok.to_str())["model"]


def do_tokenizers() -> None:
    print("tokenizers:")
    gpt2_and_bart()
    llama_sp()
    print("  gpt2.json, bart.json, llama-sp/ written")
