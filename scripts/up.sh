#!/usr/bin/env bash
# Prepare everything and deploy the stack with the local state backend (no Pulumi Cloud account):
# a virtualenv with the pinned dependencies, the Yandex provider plugin, the stack, then `pulumi up`.
# Needs the Pulumi CLI, Docker, Yandex credentials (YC_TOKEN or YC_SERVICE_ACCOUNT_KEY_FILE)
# and PULUMI_CONFIG_PASSPHRASE, which encrypts the stack's secrets.
set -euo pipefail
cd "$(dirname "$0")/.."
stack="${1:-dev}"
for tool in pulumi docker python3; do
  command -v "$tool" >/dev/null || { echo "up.sh: $tool is not installed (see README, Prerequisites)" >&2; exit 1; }
done
: "${PULUMI_CONFIG_PASSPHRASE:?set PULUMI_CONFIG_PASSPHRASE: it encrypts this stack's secrets in the local state}"
if [ -z "${YC_TOKEN:-}${YC_SERVICE_ACCOUNT_KEY_FILE:-}" ]; then
  echo "up.sh: set YC_TOKEN (e.g. \$(yc iam create-token)) or YC_SERVICE_ACCOUNT_KEY_FILE" >&2
  exit 1
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
# The fork's plugin is not on Pulumi's default plugin host; install it from its releases.
pulumi plugin install resource yandex 0.136.1 \
  --server https://github.com/agorobets/pulumi-yandex/releases/download/v0.136.1/
mkdir -p .pulumi-state
pulumi login "file://$PWD/.pulumi-state"
pulumi stack select --create "$stack"
pulumi up --stack "$stack"
