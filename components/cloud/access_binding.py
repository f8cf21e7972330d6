"""One role for one subject on one resource, through the published access-bindings calls.

Only this binding is added or removed (an `updateAccessBindings` delta), never the resource's
whole list, so bindings made by people in the console are left alone. Create is idempotent
(a binding already there is adopted), and refresh re-reads the resource's paged list. A binding whose
resource is gone (deleted by hand, or first by an interrupted destroy) is gone with it: refresh says so,
and delete is done.
Subclasses say which resource (`resource_key`) and which API calls reach its list.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult

from components.cloud.http import ApiError
from components.cloud.provider import ClientT, CloudProvider, Inputs, is_known, require_text

SUBJECT_TYPES = ("serviceAccount", "userAccount", "federatedUser", "system")


class AccessBindingProvider(CloudProvider[ClientT]):
    # The input naming the resource the role is on, e.g. projectId.
    resource_key: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Every key names the binding, so any change is a new one; settleSeconds only makes create wait."""
        super().__init_subclass__(**kwargs)
        cls.inputs = Inputs(replace=(cls.resource_key, "roleId", "subjectId", "subjectType"),
                            ignored=("settleSeconds",))

    @property
    def keys(self) -> tuple[str, ...]:
        return self.inputs.replace

    def list_bindings(self, resource_id: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def change_binding(self, resource_id: str, action: str, binding: dict[str, Any]) -> None:
        raise NotImplementedError

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = require_text(news, self.keys)
        subject_type = news.get("subjectType")
        if is_known(subject_type) and subject_type not in SUBJECT_TYPES:
            failures.append(CheckFailure("subjectType", f"subjectType {subject_type!r} is not one of "
                                         f"{', '.join(SUBJECT_TYPES)}"))
        settle = news.get("settleSeconds")
        if settle is not None and is_known(settle) and not (
                isinstance(settle, int | float) and not isinstance(settle, bool) and 0 <= settle <= 300):
            failures.append(CheckFailure("settleSeconds", f"settleSeconds must be a number of seconds "
                                         f"from 0 to 300, got {settle!r}"))
        return CheckResult(news, failures)

    @staticmethod
    def binding(props: dict[str, Any]) -> dict[str, Any]:
        return {"roleId": props["roleId"],
                "subject": {"id": props["subjectId"], "type": props["subjectType"]}}

    def _present(self, props: dict[str, Any], resource_may_be_gone: bool = False) -> bool:
        try:
            bindings = self.list_bindings(props[self.resource_key])
        except ApiError as error:
            if resource_may_be_gone and error.not_found:
                return False
            raise
        return any(b.get("roleId") == props["roleId"]
                   and (b.get("subject") or {}).get("id") == props["subjectId"] for b in bindings)

    def create(self, props: dict[str, Any]) -> CreateResult:
        if not self._present(props):
            self.change_binding(props[self.resource_key], "ADD", self.binding(props))
            # IAM is eventually consistent: a role granted a moment ago can still be refused by the
            # service that checks it (the registry, for a push right after the grant).
            if props.get("settleSeconds"):
                self.client.timing.sleep(float(props["settleSeconds"]))
        return CreateResult("/".join(props[key] for key in self.keys), props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return self.inputs.diff(olds, news)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        if not all(props.get(key) for key in self.keys):
            props = {**props, **dict(zip(self.keys, id_.split("/"), strict=True))}
        return ReadResult(id_ if self._present(props, resource_may_be_gone=True) else "", props)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if not self._present(props, resource_may_be_gone=True):
            return
        try:
            self.change_binding(props[self.resource_key], "REMOVE", self.binding(props))
        except ApiError as error:
            if not error.not_found:
                raise
