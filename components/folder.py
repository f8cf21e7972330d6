"""The folder every other resource lives in: created in the cloud, or an existing one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_yandex_marketmaker as yandex

from components.settings import Settings


@dataclass(frozen=True)
class FolderArgs:
    """An existing folder (`folder_id`), or the one to create in `cloud_id`."""

    folder_id: str | None
    cloud_id: str | None
    folder_name: str
    serves: str
    labels: Mapping[str, str]

    @classmethod
    def from_settings(cls, settings: Settings, labels: Mapping[str, str]) -> FolderArgs:
        return cls(settings.folder_id, settings.cloud_id, settings.folder_name, settings.what_is_served,
                   labels)


class Folder(pulumi.ComponentResource):
    folder: yandex.ResourcemanagerFolder | None
    folder_id: pulumi.Output[str]

    def __init__(self, name: str, args: FolderArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("vllm-datasphere:index:Folder", name, None, opts)
        if args.folder_id:
            self.folder = None
            self.folder_id = pulumi.Output.from_input(args.folder_id)
        else:
            self.folder = yandex.ResourcemanagerFolder(
                name,
                cloud_id=args.cloud_id,
                name=args.folder_name,
                description=f"vLLM endpoint for {args.serves} (managed by Pulumi)",
                labels=dict(args.labels),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.folder_id = self.folder.id
        self.register_outputs({"folderId": self.folder_id})
