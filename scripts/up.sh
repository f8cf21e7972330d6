#!/usr/bin/env bash
# Prepare everything and deploy the stack, by default with the local state backend (no Pulumi Cloud account):
# a virtualenv with the pinned dependencies, the Yandex provider plugin, the stack, then `pulumi up`.
# Needs the Pulumi CLI, Docker, Yandex credentials (YC_TOKEN or YC_SERVICE_ACCOUNT_KEY_FILE)
# and PULUMI_CONFIG_PASSPHRASE, which encrypts the stack's secrets.
set -euo pipefail
cd "$(dirname "$0")/.."
stack="${1:-dev}"
for tool in pulumi docker python3; do
  command -v "$tool" >/dev/null || { echo "up.sh: $tool is not installed (see README, Prerequisites)" >&2; exit 1; }
done
: "${PULUMI_CONFIG_PASSPHRASE:?set PULUMI_CONFIG_PASSPHRASE: it encrypts the secrets of this stack in its state}"
if [ -z "${YC_TOKEN:-}${YC_SERVICE_ACCOUNT_KEY_FILE:-}" ]; then
  echo "up.sh: set YC_TOKEN (e.g. \$(yc iam create-token)) or YC_SERVICE_ACCOUNT_KEY_FILE" >&2
  exit 1
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
bash scripts/install-plugin.sh
# State: PULUMI_BACKEND_URL when set (a team bucket, README "State for teams"), else local files.
if [ -n "${PULUMI_BACKEND_URL:-}" ]; then
  pulumi login "$PULUMI_BACKEND_URL"
else
  mkdir -p .pulumi-state
  pulumi login "file://$PWD/.pulumi-state"
fi
pulumi stack select --create "$stack"
pulumi up --stack "$stack"
