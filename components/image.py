"""The vLLM image of one model: built from docker/Dockerfile with the server command (and, with
`weights: image`, the weights of the pinned commit) baked in, then pushed to Cloud Registry with the
push-only API key.

Built with `pulumi-docker-build` (Pulumi's BuildKit provider), not `pulumi-docker`'s `docker.Image`:
the Hugging Face token must reach the build as a BuildKit secret mount (never a build argument, a layer
or the image history), which `docker.Image` passes only through a separately set up buildx builder,
and its registry layer cache keeps a rebuild after a change of flags from downloading and pushing the
weights again.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker_build as docker_build

from components import platform
from components.model_settings import ModelSettings
from components.vllm_command import serve_args_json

# Relative to the project root, where the engine runs the program: an absolute path would
# differ between machines and show as a change in every other checkout's preview.
DOCKER_DIR = Path("docker")
# The BuildKit secret the weights stage mounts (docker/Dockerfile).
TOKEN_SECRET_ID = "hf_token"  # noqa: S105 - the secret's id, not its value


def image_tag(model: ModelSettings, stack: str) -> str:
    """A readable tag; downstream resources use the digest, never this tag.

    It starts with the stack (and the entry's name, in `models`), so stacks sharing a registry, and
    entries serving one model, never move each other's tags (an image a registry cleanup policy sees
    untagged may be removed under a node that still needs it).
    """
    words = f"{stack}{model.resource_suffix}-{model.served_model_name}"
    slug = re.sub(r"[^a-z0-9_.-]+", "-", words.lower()).strip("-.")
    return slug[:120] or "model"


def build_args(model: ModelSettings) -> dict[str, str]:
    """The Dockerfile's build arguments. With `weights: image`, the model at its commit, and the Hub
    mirror the preview read it from (`HF_ENDPOINT`), where one is set."""
    args = {"VLLM_IMAGE": model.vllm_image, "WEIGHTS": model.weights,
            "VLLM_SERVE_ARGS": serve_args_json(model)}
    if model.weights == "image":
        assert model.model_revision is not None, "the preview pins every model to a commit"
        args |= {"MODEL_ID": model.model, "MODEL_REVISION": model.model_revision}
        if mirror := os.environ.get("HF_ENDPOINT", "").rstrip("/"):
            args["HUB_ENDPOINT"] = mirror
    return args


@dataclass(frozen=True)
class ImageArgs:
    """One model's image: what it serves, the stack it is tagged for, the repository and push key, what
    must exist before a push (the pusher's role), and the Hub token for `weights: image`."""

    model: ModelSettings
    stack: str
    repository: pulumi.Input[str]
    push_key_secret: pulumi.Input[str]
    push_after: Sequence[pulumi.Resource]
    hugging_face_token: pulumi.Output[str] | None


class Image(pulumi.ComponentResource):
    image: docker_build.Image
    image_ref: pulumi.Output[str]

    def __init__(self, name: str, args: ImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("vllm-datasphere:index:Image", name, None, opts)
        model, repository = args.model, args.repository
        tag = image_tag(model, args.stack)
        # The layers of the last build, in the registry: a rebuild reuses what did not change.
        cache = pulumi.Output.concat(repository, ":cache-", tag)
        token = args.hugging_face_token if model.weights == "image" else None
        self.image = docker_build.Image(
            name,
            context=docker_build.BuildContextArgs(location=DOCKER_DIR.as_posix()),
            dockerfile=docker_build.DockerfileArgs(location=(DOCKER_DIR / "Dockerfile").as_posix()),
            platforms=[docker_build.Platform.LINUX_AMD64],
            build_args=build_args(model),
            secrets={TOKEN_SECRET_ID: pulumi.Output.secret(token)} if token is not None else None,
            tags=[pulumi.Output.concat(repository, ":", tag)],
            push=True,
            registries=[docker_build.RegistryArgs(
                address=platform.REGISTRY_HOST,
                username=platform.REGISTRY_USERNAME,
                password=pulumi.Output.secret(args.push_key_secret),
            )],
            cache_from=[docker_build.CacheFromArgs(registry=docker_build.CacheFromRegistryArgs(ref=cache))],
            cache_to=[docker_build.CacheToArgs(registry=docker_build.CacheToRegistryArgs(
                ref=cache, mode=docker_build.CacheMode.MAX, image_manifest=True, oci_media_types=True))],
            build_on_preview=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.push_after)),
        )
        # `repo@sha256:...`: a rebuilt image changes this value, so the node follows it.
        self.image_ref = pulumi.Output.concat(repository, "@", self.image.digest)
        self.register_outputs({"imageRef": self.image_ref})
