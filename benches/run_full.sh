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
echo "wrote $OUT and benches/results/$(date -u +%F)-summary.md"
