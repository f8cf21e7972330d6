#!/usr/bin/env bash
# Install the Yandex resource plugin the program pins (pulumi-yandex-marketmaker 0.136.1).
# It is not on Pulumi's default plugin host: it comes from the fork's GitHub releases.
set -euo pipefail
pulumi plugin install resource yandex 0.136.1 \
  --server https://github.com/agorobets/pulumi-yandex/releases/download/v0.136.1/
