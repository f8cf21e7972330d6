"""Access bindings as the fakes keep them: a list per resource, read one binding a page (to exercise
paging) and changed by `updateAccessBindings` deltas."""

from __future__ import annotations

from typing import Any

from tests.http_json import ApiFailure


def page_of(bindings: list[dict[str, Any]], page: int, items: str = "accessBindings") -> dict[str, Any]:
    """One item a page, to exercise paging."""
    answer: dict[str, Any] = {items: bindings[page:page + 1]}
    if page + 1 < len(bindings):
        answer["nextPageToken"] = str(page + 1)
    return answer


def apply_deltas(bindings: list[dict[str, Any]], deltas: list[dict[str, Any]]) -> None:
    for delta in deltas:
        binding = delta["accessBinding"]
        if delta["action"] == "ADD" and binding not in bindings:
            bindings.append(binding)
        elif delta["action"] == "REMOVE":
            if binding not in bindings:
                raise ApiFailure(404, 5, "access binding not found")
            bindings.remove(binding)
