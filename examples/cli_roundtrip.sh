#!/usr/bin/env bash
# The mic command line on the bundled real CT slice: encode, inspect, verify, decode, compare.
# Usage: examples/cli_roundtrip.sh [IMAGE]   (needs the package installed: `make setup`)
set -euo pipefail
MIC=${MIC:-mic}
PY=${PY:-python}
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
