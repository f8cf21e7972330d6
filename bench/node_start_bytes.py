"""What a node start moves, and from where, with the weights from the Hub or in the image.

For a 7-8B model of the recorded Hub answers (tests/fixtures/hub-cache, the safetensors sizes the Hub
reports) and the base image size of components/platform.py (with its sources). No bandwidth is assumed:
none is published for a DataSphere node's pulls or for the NAT gateway, so times are printed only for
bandwidths given with --registry-gbps and --hub-gbps, and are then those figures' consequence, no more.
Usage: .venv/bin/python -m bench.node_start_bytes [--instances 2] [--registry-gbps G] [--hub-gbps G]
"""

from __future__ import annotations

import argparse

from components import platform
from components.preflight import start_bytes
from tests.fake_hub import recorded_weights_bytes

MODELS = ("Qwen/Qwen2.5-7B-Instruct", "meta-llama/Llama-3.1-8B-Instruct")


def seconds(size: float, gbps: float | None) -> str:
    return "" if gbps is None else f" ({size * 8 / (gbps * 1e9):,.0f} s at {gbps:g} Gbit/s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1, help="instances of the node (instanceCount)")
    parser.add_argument("--registry-gbps", type=float,
                        help="your figure for a node's pull from Cloud Registry, in Gbit/s")
    parser.add_argument("--hub-gbps", type=float,
                        help="your figure for a node's download through the NAT gateway, in Gbit/s")
    args = parser.parse_args()
    print(f"base image: {platform.VLLM_IMAGE_PULL_BYTES / 1e9:.1f} GB compressed (components/platform.py "
          "VLLM_IMAGE_PULL_BYTES, with its sources); weights: the safetensors sizes the Hub reports")
    for model in MODELS:
        size = recorded_weights_bytes(model)
        print(f"{model}: {size / 1e9:.1f} GB of weights")
        for weights in ("hub", "image"):
            moved = start_bytes(weights, size)
            registry, hub = moved.registry * args.instances, moved.hub * args.instances
            print(f"  weights {weights:5}: each start of {args.instances} instance(s) moves "
                  f"{registry / 1e9:5.1f} GB from Cloud Registry (inside Yandex Cloud)"
                  f"{seconds(moved.registry, args.registry_gbps)} and {hub / 1e9:4.1f} GB from Hugging Face "
                  f"through the NAT gateway{seconds(moved.hub, args.hub_gbps)}")
        print(f"  weights image, once per commit: the build downloads {size / 1e9:.1f} GB from Hugging Face "
              "and pushes them to Cloud Registry as one layer; later builds of that commit reuse it")


if __name__ == "__main__":
    main()
