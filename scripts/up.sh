#!/usr/bin/env bash
# Set up and deploy a stack (default: dev): check every prerequisite at once and list what is missing,
# install the pinned dependencies and the Yandex provider plugin, create the stack, refuse the example
# ids, then `pulumi up`. State goes to PULUMI_BACKEND_URL when set (a team bucket, docs/team.md, "State"),
# else to .pulumi-state/ here; either way for this run only: the saved `pulumi login` is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
stack="${1:-dev}"
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$PWD/.pulumi-state}"

missing=()
command -v python3 >/dev/null || missing+=("install Python 3.11 or newer")
command -v pulumi >/dev/null || missing+=("install the Pulumi CLI 3.120 or newer: https://www.pulumi.com/docs/install/")
if ! command -v docker >/dev/null; then
  missing+=("install Docker (it builds the linux/amd64 image): https://docs.docker.com/engine/install/")
elif ! docker info >/dev/null 2>&1; then
  missing+=("start the Docker daemon: \`docker info\` gets no answer")
fi
case "${PULUMI_CONFIG_PASSPHRASE:-}" in
  "") missing+=("set PULUMI_CONFIG_PASSPHRASE: it encrypts the secrets of the stack in its state (keep it safe)") ;;
  "..." | "<your passphrase>" | "<passphrase>")
    missing+=("PULUMI_CONFIG_PASSPHRASE is the README's placeholder '$PULUMI_CONFIG_PASSPHRASE': choose a passphrase of your own (keep it safe)") ;;
esac

stack_file="Pulumi.$stack.yaml"
# Credentials: the variables the Yandex provider reads, or its keys in the stack's config.
if [ -z "${YC_TOKEN:-}${YC_SERVICE_ACCOUNT_KEY_FILE:-}${YC_IAM_TOKEN:-}" ] \
    && ! { [ -f "$stack_file" ] && grep -Eq '^ *yandex:(token|serviceAccountKeyFile):' "$stack_file"; }; then
  if command -v yc >/dev/null; then
    missing+=("set YC_TOKEN=\$(yc iam create-token), or YC_SERVICE_ACCOUNT_KEY_FILE=<authorized key JSON>")
  else
    missing+=("set YC_SERVICE_ACCOUNT_KEY_FILE=<authorized key JSON>, or install the yc CLI (https://yandex.cloud/docs/cli/quickstart) and set YC_TOKEN=\$(yc iam create-token): YC_TOKEN is empty, and yc, which would make one, is not installed")
  fi
fi

set_first=()
needs_id() {  # the example id in Pulumi.dev.yaml, the key, what to set, where to find it
  if [ ! -f "$stack_file" ] || grep -q "$1" "$stack_file"; then
    set_first+=("pulumi config set --stack $stack $2 $3   # $4")
  fi
}
needs_id b1gexamplecloud00000 yandex:cloudId "<cloud id>" "yc resource-manager cloud list"
needs_id bt1exampleproject000 datasphereProjectId "<project id>" "the DataSphere project page"

if ((${#missing[@]} + ${#set_first[@]})); then
  echo "up.sh: nothing was deployed. To do first:" >&2
  for item in "${missing[@]}"; do echo "  - $item" >&2; done
  if ((${#set_first[@]})); then
    echo "  - set your own ids in $stack_file (the stack's state is at $PULUMI_BACKEND_URL):" >&2
    echo "      export PULUMI_BACKEND_URL=$PULUMI_BACKEND_URL PULUMI_CONFIG_PASSPHRASE=<your passphrase>" >&2
    echo "      pulumi stack select --create $stack" >&2
    for line in "${set_first[@]}"; do echo "      $line" >&2; done
  fi
  exit 1
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# The program's dependencies, and the examples' (the client tools need nothing more).
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt \
  -r examples/requirements.txt
bash scripts/install-plugin.sh
case "$PULUMI_BACKEND_URL" in file://*) mkdir -p "${PULUMI_BACKEND_URL#file://}" ;; esac
pulumi stack select --create "$stack"
pulumi up --stack "$stack"
cat <<NEXT
Deployed. Next (the tools find this stack's state by themselves; in a new shell too):
  .venv/bin/python -m endpoint check --stack $stack
  .venv/bin/python -m examples.openai_client "Say hello in one sentence."
  PULUMI_BACKEND_URL=$PULUMI_BACKEND_URL pulumi stack output --stack $stack curlExample
NEXT
