#!/usr/bin/env bash
# Full `mic bench` run on the evaluation split, written under benches/results/<date>/.
#   benches/run_full.sh [CORPUS_EVAL_DIR] [EXTRA mic bench ARGS...]
# Single-threaded codecs (numba/OpenMP pinned to 1 thread), low priority.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${1:-../shared/corpus/eval}"
shift || true
OUT="benches/results/$(date -u +%F)"
export NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1
nice -n 10 .venv/bin/mic bench "$DIR" --out "$OUT" "$@"
cp "$OUT/summary.md" "benches/results/$(date -u +%F)-summary.md"
# results.json (~1 MB) duplicates results.csv: keep it out of the tree (bench-out/ is ignored)
mkdir -p bench-out && mv "$OUT/results.json" "bench-out/results-$(date -u +%F).json"
echo "wrote $OUT and benches/results/$(date -u +%F)-summary.md"
