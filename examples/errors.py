"""What the examples print when the endpoint cannot be used: one line and the README's exit code,
not a traceback. 0 done; 1 no answer or a failed request; 2 no endpoint or no credentials; 3 the token
was refused (401/403, with the role it needs)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import openai

from endpoint.auth import AuthError, iam_token, refusal
from endpoint.exits import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, failed
from endpoint.openai_http import Answer, describe
from endpoint.outputs import Endpoint, OutputsError, find_endpoint

PROJECT_DIR = Path(__file__).resolve().parent.parent


def asks_for_help(argv: Sequence[str], doc: str, out: TextIO | None = None) -> bool:
    """`-h` or `--help`: the example's own text, and the exit codes, instead of a question to the model."""
    if not set(argv) & {"-h", "--help"}:
        return False
    (out or sys.stdout).write(f"{doc.strip()}\n\nExit codes: 0 done; 1 no answer or a failed request; 2 no "
                              "endpoint or no credentials; 3 the token was refused (401/403).\n")
    return True


def run_example(example: Callable[[Endpoint, str], None], err: TextIO | None = None) -> int:
    """Find the endpoint (`pulumi stack output --json`, PULUMI_STACK picks the stack, or the VLLM_*
    variables) and a token, run `example(endpoint, token)`, and turn what can go wrong into one line."""
    err = err or sys.stderr
    endpoint = None
    try:
        endpoint = find_endpoint(None, os.environ.get("PULUMI_STACK"), os.environ, PROJECT_DIR)
        example(endpoint, iam_token(None, os.environ))
    except (AuthError, OutputsError) as error:
        return failed(error, err)
    except openai.APIStatusError as error:
        refused = refusal(error.status_code, endpoint.project_id if endpoint else None)
        answer = f"the endpoint answered {describe(Answer(error.status_code, error.body, error.message))}"
        err.write(f"error: {refused or answer}\n")
        return EXIT_REFUSED if refused else EXIT_FAILED
    except openai.APIConnectionError as error:
        err.write(f"error: no answer from {endpoint.url if endpoint else 'the endpoint'} "
                  f"({error.__cause__ or error})\n")
        return EXIT_FAILED
    return EXIT_OK
