#!/usr/bin/env bash
# Check a stack's config as `pulumi preview` does, without the Pulumi CLI or a cloud account:
#   scripts/check.sh [stack]      (default dev; components/check_config.py says what is checked)
# Needs the .venv the README's set-up makes (or any Python with requirements.txt installed).
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
[ -x "$python" ] || python=python3
exec "$python" -m components.check_config --stack "${1:-dev}"
