#!/usr/bin/env bash
# Run once on a stack created before the move to Cloud Registry, before its next `pulumi up`.
# Container Registry is read-only since 2026-11-10, so `up` could not delete the stack's old registry
# and its role bindings: this takes them out of the stack's state (export, forget, import; the exported
# state is kept in .pulumi-state/backups, or VLLM_DATASPHERE_BACKUPS). Then run scripts/up.sh as usual.
# Needs the Pulumi CLI and PULUMI_CONFIG_PASSPHRASE. The backend: PULUMI_BACKEND_URL when set, else the
# local one scripts/up.sh made here (.pulumi-state), else the CLI's own login.
set -euo pipefail
cd "$(dirname "$0")/.."
stack="${1:-dev}"
if [ -z "${PULUMI_BACKEND_URL:-}" ] && [ -d .pulumi-state ]; then
  export PULUMI_BACKEND_URL="file://$PWD/.pulumi-state"
fi
command -v pulumi >/dev/null || { echo "upgrade: the Pulumi CLI is not installed (README, Prerequisites)" >&2; exit 1; }
python=.venv/bin/python
[ -x "$python" ] || python=python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pulumi stack export --stack "$stack" --file "$work/exported.json"
backups="${VLLM_DATASPHERE_BACKUPS:-.pulumi-state/backups}"
mkdir -p "$backups"
backup="$backups/$stack-before-cloud-registry-$(date -u +%Y%m%dT%H%M%SZ).json"
cp "$work/exported.json" "$backup"
status=0
"$python" -m scripts.forget_container_registry "$work/exported.json" "$work/import.json" || status=$?
case "$status" in
  0) pulumi stack import --stack "$stack" --file "$work/import.json"
     echo "upgrade: done (the state before is in $backup). Next: ./scripts/up.sh $stack" ;;
  3) echo "upgrade: stack $stack is already on Cloud Registry. Next: ./scripts/up.sh $stack" ;;
  *) echo "upgrade: stack $stack was not changed (its state is in $backup)" >&2; exit "$status" ;;
esac
