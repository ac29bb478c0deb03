#!/usr/bin/env bash
# Decoding sweep behind pnpm start's defaults: the quick start's three adapters (prefix 20, MLP 512,
# 8,000 E2E examples x 3 epochs, lr 5e-3, seeds 1-3, as `pnpm start --seed N --out DIR` trains them)
# decoded greedily with no repeated 3-grams on the first 50 test inputs, with transformers'
# encoder_repetition_penalty (favour the input's tokens) and min_new_tokens varied.
#   experiments/quickstart-decoding/run.sh QS_DIR_SEED1 QS_DIR_SEED2 QS_DIR_SEED3 > experiments/quickstart-decoding/results.md
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -eq 3 ] || { sed -n 2,6p "$0"; exit 2; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "# quickstart-decoding"
echo
echo "Greedy decoding of pnpm start's prefix (20 virtual tokens, MLP 512, 8,000 E2E examples x 3 epochs, lr 5e-3) for three seeds, on the first 50 E2E test inputs, no repeated 3-grams, at most 60 new tokens; *input ×* = encoder_repetition_penalty (the input's tokens' scores multiplied, as in transformers), *min new* = min_new_tokens. BLEU, METEOR, ROUGE-L ×100; SER = slot error rate %."
echo
echo "Command: \`experiments/quickstart-decoding/run.sh $*\`. Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(date -u +%F)."
echo
echo "| seed | input × | min new | BLEU | NIST | METEOR | ROUGE-L | CIDEr | SER % | words/output |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
seed=0
rows="$tmp/rows.md"
for dir in "$@"; do
  seed=$((seed + 1))
  for erp in 1 1.3 1.5 2 3; do
    for mnt in 0 20; do
      o="$tmp/s$seed-$erp-$mnt"
      pnpm -s prefix-tune eval --model models/tiny-gpt2-en --adapter "$dir/adapter" --task e2e --split test --max-examples 50 \
        --greedy --no-repeat-ngram 3 --max-new-tokens 60 --encoder-repetition-penalty "$erp" --min-new-tokens "$mnt" --out "$o" >/dev/null 2>"$o.err" \
        || { cat "$o.err" >&2; exit 1; }
      node -e '
        const [f, h, seed, erp, mnt] = process.argv.slice(1);
        const m = JSON.parse(require("fs").readFileSync(f, "utf8")), x = m.metrics;
        const lines = require("fs").readFileSync(h, "utf8").trimEnd().split("\n");
        const words = lines.reduce((s, l) => s + l.split(/\s+/).filter(Boolean).length, 0) / lines.length;
        const p = (v) => (v * 100).toFixed(1);
        console.log(`| ${seed} | ${erp} | ${mnt} | ${p(x.bleu)} | ${x.nist.toFixed(2)} | ${p(x.meteor)} | ${p(x.rouge_l)} | ${x.cider.toFixed(2)} | ${p(m.slot_error.rate)} | ${words.toFixed(1)} |`);
      ' "$o/metrics.json" "$o/hypotheses.txt" "$seed" "$erp" "$mnt" | tee -a "$rows"
    done
  done
done
echo
echo "Mean over the seeds:"
echo
echo "| input × | min new | BLEU | NIST | METEOR | ROUGE-L | CIDEr | SER % | words/output |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").trimEnd().split("\n").map((l) => l.split("|").slice(2, -1).map((c) => c.trim()));
  const groups = new Map();
  for (const r of rows) { const k = r[0] + " | " + r[1]; groups.set(k, [...(groups.get(k) ?? []), r.slice(2).map(Number)]); }
  const digits = [1, 2, 1, 1, 2, 1, 1];
  for (const [k, g] of groups) console.log(`| ${k} | ${digits.map((d, i) => (g.reduce((s, r) => s + r[i], 0) / g.length).toFixed(d)).join(" | ")} |`);
' "$rows"
