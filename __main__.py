"""vllm-datasphere: a vLLM endpoint on a Yandex DataSphere node, from one `pulumi up`."""

import pulumi

from components.preview import check_before_any_resource
from components.settings import read_hugging_face_token, read_settings
from components.stack import VllmDatasphere

settings, problems = read_settings()
checked = check_before_any_resource(settings, problems, read_hugging_face_token())
stack = VllmDatasphere("vllm", checked, pulumi.get_stack())
for name, value in stack.outputs().items():
    pulumi.export(name, value)
