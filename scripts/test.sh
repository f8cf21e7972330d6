#!/usr/bin/env bash
# Install the pinned test tools into .venv and run every check: ruff, then pytest
# (which also runs hadolint on the Dockerfile). Needs only python3; no Pulumi CLI, Docker or cloud.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
