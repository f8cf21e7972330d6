"""vllm-datasphere: a vLLM endpoint on a Yandex DataSphere node, from one `pulumi up`."""

import pulumi

from components.settings import read_settings
from components.stack import VllmDatasphere

stack = VllmDatasphere("vllm", read_settings())
for name, value in stack.outputs().items():
    pulumi.export(name, value)
