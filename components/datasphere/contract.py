"""Whether DataSphere answers the unpublished calls the stack depends on as docs/datasphere-api.md says.

Nodes, aliases and project secrets have no published API: the stack follows a contract of its own. So
before anything is created, the preview makes the one read-only call of each kind that the contract has,
listing the project's nodes, aliases and secrets (the first page, one item), and tells apart an answer
as assumed, an answer of another status or shape, and no such call (the path is unknown). A wrong
contract then fails the preview, not `pulumi up` after the folder, network, registry and a 12 GB push.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.cloud.http import ApiError
from components.datasphere.api import DatasphereClient

# The contract's list calls: GET /datasphere/v2/<collection>?projectId=... -> {<collection>: [...], ...}.
COLLECTIONS = ("nodes", "aliases", "secrets")
HOLDS, DIFFERS, MISSING, UNKNOWN = "holds", "differs", "no such call", "cannot tell"
# Statuses and gRPC codes that say the path itself is unknown to the service.
MISSING_STATUS = frozenset({404, 405, 501})
UNIMPLEMENTED = 12


@dataclass(frozen=True)
class Finding:
    """One assumption (a call of the contract, or, for the doctor, any other) and what its answer says
    of it. `seen` holds no token or header."""

    what: str
    verdict: str
    seen: str

    def __str__(self) -> str:
        return f"{self.what}: {self.verdict} ({self.seen})"


def _shape_holds(body: Any, collection: str) -> bool:
    """A page as the published v2 list calls give one: the items (absent when none) with their ids, and
    the next page's token."""
    if not isinstance(body, dict) or not set(body) <= {collection, "nextPageToken"}:
        return False
    items = body.get(collection, [])
    return isinstance(items, list) and all(isinstance(item, dict) and "id" in item for item in items)


def answer_of(error: ApiError) -> str:
    """What a failed call got back, for a person: the status, the code and the message, no header."""
    status = f"HTTP {error.status}" if error.status is not None else "no HTTP answer"
    code = f", code {error.code}" if error.code is not None else ""
    return f"{status}{code}: {error.message[:160]}"


def verdict_of(error: ApiError) -> str:
    """What a failed call says of the assumption: the path unknown, no way to tell (no role, an outage,
    no answer), or an answer other than assumed."""
    if error.status in MISSING_STATUS or error.code == UNIMPLEMENTED:
        return MISSING
    if error.status is None or error.status in (401, 403, 429) or error.status >= 500:
        return UNKNOWN
    return DIFFERS


def _judge(collection: str, call: str, client: DatasphereClient, project_id: str) -> Finding:
    try:
        body = client.list_first(collection, project_id)
    except ApiError as error:
        return Finding(call, verdict_of(error), answer_of(error))
    if _shape_holds(body, collection):
        return Finding(call, HOLDS, f"a page of {collection}")
    shown = sorted(body) if isinstance(body, dict) else type(body).__name__
    return Finding(call, DIFFERS, f"HTTP 200 with {shown}, not {{{collection!r}: [...]}}")


def check_contract(client: DatasphereClient, project_id: str) -> list[Finding]:
    """The contract's read-only calls in an existing project, each judged."""
    return [_judge(collection, f"GET /datasphere/v2/{collection}?projectId={project_id}", client, project_id)
            for collection in COLLECTIONS]
