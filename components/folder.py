"""The folder every other resource lives in: created in the cloud, or an existing one."""

from __future__ import annotations

import pulumi
import pulumi_yandex_marketmaker as yandex

from components.settings import Settings


class Folder(pulumi.ComponentResource):
    folder: yandex.ResourcemanagerFolder | None
    folder_id: pulumi.Output[str]

    def __init__(self, name: str, settings: Settings, labels: dict[str, str],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("vllm-datasphere:index:Folder", name, None, opts)
        if settings.folder_id:
            self.folder = None
            self.folder_id = pulumi.Output.from_input(settings.folder_id)
        else:
            self.folder = yandex.ResourcemanagerFolder(
                name,
                cloud_id=settings.cloud_id,
                name=settings.folder_name,
                description=f"vLLM endpoint for {settings.what_is_served} (managed by Pulumi)",
                labels=labels,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.folder_id = self.folder.id
        self.register_outputs({"folderId": self.folder_id})
