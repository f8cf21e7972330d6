#!/usr/bin/env bash
# Install the pinned test tools into .venv and run every check: the linters (ruff, hadolint on the
# Dockerfile, shellcheck on the scripts, actionlint with shellcheck and zizmor on the workflows), then pytest.
# Needs only python3; no Pulumi CLI, Docker or cloud.
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
.venv/bin/python -m pytest "$@"
