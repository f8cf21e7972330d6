"""vllm-datasphere: a vLLM endpoint on a Yandex DataSphere node, from one `pulumi up`."""

import pulumi

from components.preflight import check_model_fits
from components.settings import read_hugging_face_token, read_settings
from components.stack import VllmDatasphere

settings = read_settings()
memory = check_model_fits(settings, read_hugging_face_token())
stack = VllmDatasphere("vllm", settings, memory)
for name, value in stack.outputs().items():
    pulumi.export(name, value)
