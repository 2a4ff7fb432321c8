#!/usr/bin/env bash
# The mic command line on the bundled real CT slice: encode, inspect, verify, decode, compare.
# Usage: examples/cli_roundtrip.sh [IMAGE]   (after `make demo` or `make setup`)
# Runs the `mic` on PATH, else the one `make` installed in .venv; MIC=... and PY=... override.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z "${MIC:-}" ]]; then
  if command -v mic >/dev/null 2>&1; then
    MIC=mic
  elif [[ -x "$ROOT/.venv/bin/mic" ]]; then
    MIC="$ROOT/.venv/bin/mic"
  else
    echo "no 'mic' command: run 'make setup' (or 'pip install -e .') first" >&2
    exit 2
  fi
fi
if [[ -z "${PY:-}" ]]; then
  # the Python that runs $MIC (its #! line), which has mic and numpy
  PY=python3
  exe=$(command -v "$MIC" 2>/dev/null || true)
  if [[ -f "$exe" && "$(head -n 1 "$exe")" =~ ^\#!([^[:space:]]*python[^[:space:]]*) ]]; then
    PY=${BASH_REMATCH[1]}
  fi
fi
IMG=${1:-$($PY -c "from mic.io import demo_image_path; print(demo_image_path())")}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

$MIC encode "$IMG" "$WORK/image.mic"            # one line: sizes, ratio, bits/pixel
$MIC info "$WORK/image.mic" --json              # the header as JSON
$MIC verify "$WORK/image.mic"                   # full decode + every CRC; exit 1 if bad
$MIC decode "$WORK/image.mic" "$WORK/back.tif"  # .png, .tif or .npy from the suffix
if $MIC encode "$IMG" "$WORK/image.mic" 2>/dev/null; then
  echo "unexpected: overwrote without --force" >&2; exit 1
fi
echo "refused to overwrite without --force (exit 1), as documented"
$PY - "$IMG" "$WORK/back.tif" <<'PYEOF'
import sys
import numpy as np
from mic.io import read_image
a, _ = read_image(sys.argv[1])
b, _ = read_image(sys.argv[2])
same = a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
print("round trip through the CLI is", "exact" if same else "NOT EXACT")
sys.exit(0 if same else 1)
PYEOF
