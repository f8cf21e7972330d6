"""The vLLM image: built from docker/Dockerfile with the server command baked in, then pushed
to Cloud Registry with the push-only API key."""

from __future__ import annotations

import re
from pathlib import Path

import pulumi
import pulumi_docker as docker

from components import platform
from components.model_settings import ModelSettings
from components.vllm_command import serve_args_json

# Relative to the project root, where the engine runs the program: an absolute path would
# differ between machines and show as a change in every other checkout's preview.
DOCKER_DIR = Path("docker")
PLATFORM = "linux/amd64"


def image_tag(model: ModelSettings, stack: str) -> str:
    """A readable tag; downstream resources use the digest, never this tag.

    It starts with the stack (and the entry's name, in `models`), so stacks sharing a registry, and
    entries serving one model, never move each other's tags (an image a registry cleanup policy sees
    untagged may be removed under a node that still needs it).
    """
    words = f"{stack}{model.resource_suffix}-{model.served_model_name}"
    slug = re.sub(r"[^a-z0-9_.-]+", "-", words.lower()).strip("-.")
    return slug[:128] or "model"


class Image(pulumi.ComponentResource):
    image: docker.Image
    image_ref: pulumi.Output[str]

    def __init__(self, name: str, model: ModelSettings, stack: str, repository: pulumi.Input[str],
                 push_key_secret: pulumi.Input[str], push_after: list[pulumi.Resource],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("vllm-datasphere:index:Image", name, None, opts)
        self.image = docker.Image(
            name,
            image_name=pulumi.Output.concat(repository, ":", image_tag(model, stack)),
            build=docker.DockerBuildArgs(
                context=DOCKER_DIR.as_posix(),
                dockerfile=(DOCKER_DIR / "Dockerfile").as_posix(),
                platform=PLATFORM,
                args={
                    "VLLM_IMAGE": model.vllm_image,
                    "VLLM_SERVE_ARGS": serve_args_json(model),
                },
            ),
            registry=docker.RegistryArgs(
                server=platform.REGISTRY_HOST,
                username=platform.REGISTRY_USERNAME,
                password=pulumi.Output.secret(push_key_secret),
            ),
            build_on_preview=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=push_after),
        )
        # `repo@sha256:...`: a rebuilt image changes this value, so the node follows it.
        self.image_ref = self.image.repo_digest
        self.register_outputs({"imageRef": self.image_ref})
