"""The preflight on recorded models: what fits where, what is refused and with which fixes."""

from __future__ import annotations

import re
from pathlib import Path

import pulumi
import pytest

from components.config_parsing import ConfigError
from components.hub import LoadedFacts
from components.memory import GIB, ModelSize, Overhead, Plan, kv_bytes_per_token
from components.model_facts import ModelFacts, facts_from_hub
from components.model_settings import ModelSettings
from components.platform import CONFIGURATIONS
from components.preflight import check_model, check_model_fits
from tests.fake_hub import GRANTED_TOKEN, UNGRANTED_TOKEN, fake_hub, fixture
from tests.stack_config import parse_settings

QWEN = "Qwen/Qwen2.5-7B-Instruct"
QWEN_AWQ = "Qwen/Qwen2.5-7B-Instruct-AWQ"
LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
SM70_IMAGE = "registry.yandexcloud.net/cn100000000000000000/vllm-sm70:v0.8.5"


def settings(model: str, **raw: str) -> ModelSettings:
    [parsed] = parse_settings({"model": model, "datasphereProjectId": "bt1project0000000000", **raw},
                              stack="dev", cloud_id="b1gcloud000000000000").models
    return parsed


def recorded(model: str) -> LoadedFacts:
    record = fixture(model)
    return LoadedFacts(facts_from_hub(model, record["safetensors"], record["config"]), "cache")


def offline(model: str) -> LoadedFacts:
    return LoadedFacts(ModelFacts(model), "none", "HF_HUB_OFFLINE is set")


class Warnings(list[str]):
    def __call__(self, message: str) -> None:
        self.append(message)


def refusal(model: str, loaded: LoadedFacts | None = None, **raw: str) -> tuple[str, str]:
    with pytest.raises(ConfigError) as raised:
        check_model(settings(model, **raw), loaded or recorded(model), Warnings())
    [problem] = raised.value.problems
    return problem.key, problem.message


@pytest.mark.parametrize(("model", "raw", "needed", "available"), [
    (QWEN, {}, 17.5, 71.3),
    (QWEN, {"maxModelLen": "8192"}, 16.2, 71.3),
    (QWEN, {"instanceSpec": "gt4i.1"}, 17.5, 19.6),
    (QWEN_AWQ, {"instanceSpec": "gt4.1"}, 8.5, 13.1),
    (LLAMA_70B, {"instanceSpec": "g2.2", "maxModelLen": "8192"}, 137.6, 142.6),
    (LLAMA_70B, {"instanceSpec": "g2.2", "quantization": "fp8"}, 116.0, 142.6),
    (LLAMA_70B, {"instanceSpec": "g2.4"}, 178.4, 285.1),
    (LLAMA_70B, {"instanceSpec": "g2.8"}, 185.1, 283.5),
])
def test_what_fits(model: str, raw: dict[str, str], needed: float, available: float) -> None:
    result = check_model(settings(model, **raw), recorded(model), Warnings())
    assert result.fits
    assert (result.as_output()["neededGiB"], result.as_output()["availableGiB"]) == (needed, available)


REFUSED = [
    (QWEN, {"instanceSpec": "gt4.1"}, "instanceSpec",
     "Qwen/Qwen2.5-7B-Instruct does not fit: vLLM needs about 17.5 GiB and gt4.1 gives it 13.1 GiB "
     "(1 x NVIDIA T4 16 GB x gpuMemoryUtilization 0.9). Needed: weights 14.2 GiB (7.6B parameters, float16) "
     "+ KV cache 1.8 GiB for maxModelLen 32768 + runtime overhead 1.5 GiB. Fixes that would pass: pulumi "
     "config set instanceSpec gt4i.1 (1 x NVIDIA T4i 24 GB: needs 17.5 of 19.6 GiB); or pulumi config set "
     "quantization fp8, which quantizes the weights to 8 bits as they load (needs about 11.1 of 13.1 GiB); "
     "or serve a 4-bit AWQ checkpoint of the model (https://huggingface.co/models?search=Qwen2.5-7B-"
     "Instruct-AWQ) with pulumi config set quantization awq (needs about 8.6 of 13.1 GiB)"),
    (LLAMA_70B, {}, "instanceSpec",
     "needs about 173.0 GiB and g2.1 gives it 71.3 GiB"),
    (LLAMA_70B, {"instanceSpec": "g2.2"}, "instanceSpec",
     "Fixes that would pass: pulumi config set instanceSpec g2.4 (4 x NVIDIA A100 80 GB: needs 178.4 "
     "of 285.1 GiB); or pulumi config set quantization fp8, which quantizes the weights to 8 bits as "
     "they load (needs about 116.0 of 142.6 GiB); or serve a 4-bit AWQ checkpoint of the model "
     "(https://huggingface.co/models?search=Llama-3.1-70B-Instruct-AWQ) with pulumi config set "
     "quantization awq (needs about 93.0 of 142.6 GiB); or pulumi config set maxModelLen 23552 (the "
     "KV cache has room for about 24464 tokens)"),
    (LLAMA_70B, {"instanceSpec": "g2.2", "maxModelLen": "32768", "gpuMemoryUtilization": "0.85"},
     "instanceSpec", "or pulumi config set gpuMemoryUtilization 0.95 (needs 145.1 of 150.5 GiB)"),
    (QWEN, {"instanceSpec": "g2.8"}, "instanceSpec",
     "runs vLLM with tensor-parallel size 8 (its GPU count), which must divide the 28 attention heads "
     "(4 KV heads) of Qwen/Qwen2.5-7B-Instruct; vLLM refuses to start. Fix: pulumi config set "
     "instanceSpec gt4i.1 (or, dearer, g2.1, g2.2, g2.4)"),
    (QWEN_AWQ, {"instanceSpec": "g1.1", "vllmImage": SM70_IMAGE}, "model",
     "is a checkpoint quantized with awq, which needs compute capability 7.5; the NVIDIA V100 32 GB of "
     "g1.1 has 7.0. Fix: pulumi config set instanceSpec g2.1 (an A100), or serve the model's unquantized "
     "version"),
    (QWEN, {"quantization": "awq"}, "quantization",
     "loads only a checkpoint quantized with awq, and Qwen/Qwen2.5-7B-Instruct is not one."),
    (QWEN_AWQ, {"quantization": "gptq"}, "quantization",
     "Qwen/Qwen2.5-7B-Instruct-AWQ is a checkpoint quantized with awq, and vLLM refuses --quantization "
     "gptq for it. Fix: pulumi config set quantization awq, or leave it empty"),
    (QWEN_AWQ, {"dtype": "float32"}, "dtype",
     "cannot run Qwen/Qwen2.5-7B-Instruct-AWQ, a checkpoint quantized with awq: no vLLM quantization method "
     "supports float32. Fix: pulumi config set dtype auto"),
    (QWEN, {"maxModelLen": "65536"}, "maxModelLen",
     "is longer than the 32768 tokens Qwen/Qwen2.5-7B-Instruct was built for; vLLM refuses to start. "
     "Fix: pulumi config set maxModelLen 32768 (or less)"),
]


@pytest.mark.parametrize(("model", "raw", "key", "message"), REFUSED)
def test_what_is_refused_and_why(model: str, raw: dict[str, str], key: str, message: str) -> None:
    got_key, got_message = refusal(model, **raw)
    assert got_key == key
    assert message in got_message


@pytest.mark.parametrize(("model", "raw"), [(m, r) for m, r, key, _ in REFUSED if key == "instanceSpec"])
def test_every_offered_config_change_passes(model: str, raw: dict[str, str]) -> None:
    """The fixes are not advice: applying any one that only changes config makes the model fit."""
    _, message = refusal(model, **raw)
    fixes = message.split("Fixes that would pass: ")[-1].split("Fix: ")[-1].split("; or ")
    tried = 0
    for fix in fixes:
        if fix.startswith("serve a"):
            continue
        changes = dict(re.findall(r"pulumi config set (\w+) ([\w.-]+)", fix))
        assert changes, fix
        assert check_model(settings(model, **(raw | changes)), recorded(model), Warnings()).fits
        tried += 1
    assert tried


def test_an_awq_variant_offered_as_a_fix_fits() -> None:
    _, message = refusal(QWEN, instanceSpec="gt4.1")
    assert "with pulumi config set quantization awq (needs about 8.6 of 13.1 GiB)" in message
    variant = check_model(settings(QWEN_AWQ, instanceSpec="gt4.1"), recorded(QWEN_AWQ), Warnings())
    assert variant.fits


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        check_model(settings(QWEN_AWQ, quantization="gptq", maxModelLen="65536"), recorded(QWEN_AWQ),
                    Warnings())
    assert [p.key for p in raised.value.problems] == ["quantization", "maxModelLen"]


def test_cpu_configurations_are_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError, match=r"instanceSpec = 'c1.8': is a CPU configuration; the vLLM "
                                          r"image needs a GPU. Fix: pulumi config set instanceSpec auto "
                                          r"\(the cheapest GPU configuration the model fits\), or one of: "
                                          r"gt4.1, "):
        settings(QWEN, instanceSpec="c1.8")


def test_v100_forces_half_and_refuses_bfloat16() -> None:
    result = check_model(settings(QWEN, instanceSpec="g1.1", vllmImage=SM70_IMAGE), recorded(QWEN),
                         Warnings())
    assert result.plan.dtype == "half"
    assert result.as_output()["precision"] == "float16"
    assert result.weights_bytes == 2 * 7_615_616_512
    with pytest.raises(ConfigError, match=r"dtype = 'bfloat16': NVIDIA V100 32 GB has no bfloat16"):
        settings(QWEN, instanceSpec="g1.1", vllmImage=SM70_IMAGE, dtype="bfloat16")


def test_float32_doubles_the_weights_and_the_kv_cache() -> None:
    half = check_model(settings(QWEN, maxModelLen="8192"), recorded(QWEN), Warnings())
    full = check_model(settings(QWEN, maxModelLen="8192", dtype="float32"), recorded(QWEN), Warnings())
    assert full.weights_bytes == 2 * half.weights_bytes
    assert full.kv_cache_bytes == 2 * half.kv_cache_bytes


def test_kv_heads_repeat_when_there_are_more_gpus_than_kv_heads() -> None:
    shape = recorded(QWEN).facts.shape
    size = ModelSize(7_615_616_512, "test", shape)
    per_token = {spec: kv_bytes_per_token(size, Plan(CONFIGURATIONS[spec], "auto", None, 1, 0.9))
                 for spec in ("g2.1", "g2.4", "g2.8")}
    # 28 layers x 4 KV heads x 128 x (K, V) x 2 bytes; with 8 GPUs each holds one head: 8 in all.
    assert per_token == {"g2.1": 57344, "g2.4": 57344, "g2.8": 114688}


def test_offline_falls_back_to_the_size_in_the_name_with_a_warning() -> None:
    warnings = Warnings()
    result = check_model(settings(QWEN, maxModelLen="8192"), offline(QWEN), warnings)
    assert result.size.parameters == 7_000_000_000
    assert result.as_output()["parametersSource"] == "model name"
    # 16 KiB per token per billion parameters: 112 KiB x 8192 tokens.
    assert result.kv_cache_bytes == 7 * 16 * 1024 * 8192
    assert warnings == [
        "Qwen/Qwen2.5-7B-Instruct: config.json unavailable (HF_HUB_OFFLINE is set), so its KV cache is "
        "estimated as for a grouped-query model like Llama 3 and its attention heads are not checked "
        "against the GPU count",
        "Qwen/Qwen2.5-7B-Instruct: parameter count unknown (HF_HUB_OFFLINE is set); using the size in "
        "its name, 7.0B. Set modelParamsBillion for an exact figure",
    ]


def test_offline_needs_a_context_length() -> None:
    key, message = refusal(QWEN, offline(QWEN))
    assert key == "maxModelLen"
    assert message == ("0 means the model's own context length, which is unknown (HF_HUB_OFFLINE is "
                       "set). Fix: pulumi config set maxModelLen 8192 (or the length you need)")


def test_offline_an_unknown_length_does_not_hide_that_the_weights_do_not_fit() -> None:
    with pytest.raises(ConfigError) as raised:
        check_model(settings(LLAMA_70B), offline(LLAMA_70B), Warnings())
    found = {p.key: p.message for p in raised.value.problems}
    assert list(found) == ["maxModelLen", "instanceSpec"]
    assert found["instanceSpec"].startswith(f"{LLAMA_70B} does not fit: vLLM needs about ")
    assert "for maxModelLen 1024 " in found["instanceSpec"]


def test_fixes_never_offer_a_length_beyond_the_models_own() -> None:
    with pytest.raises(ConfigError) as raised:
        check_model(settings(QWEN, instanceSpec="gt4.1", maxModelLen="65536", gpuMemoryUtilization="0.5"),
                    recorded(QWEN), Warnings())
    found = {p.key: p.message for p in raised.value.problems}
    assert list(found) == ["maxModelLen", "instanceSpec"]
    assert "for maxModelLen 32768 " in found["instanceSpec"]
    offered = [int(n) for n in re.findall(r"maxModelLen (\d+)", found["instanceSpec"].split("Fixes", 1)[1])]
    assert offered
    assert max(offered) <= 32768


def test_offline_without_a_size_in_the_name_fails_clearly() -> None:
    phi = "microsoft/Phi-3-mini-4k-instruct"
    key, message = refusal(phi, offline(phi), maxModelLen="4096")
    assert key == "modelParamsBillion"
    assert message == (
        "the size of microsoft/Phi-3-mini-4k-instruct is unknown: HF_HUB_OFFLINE is set, and its name "
        "states none. Fix: pulumi config set modelParamsBillion <parameters in billions, e.g. 7.6, from "
        "the model page>")


def test_the_override_wins_over_metadata_and_the_name() -> None:
    warnings = Warnings()
    result = check_model(settings(QWEN, modelParamsBillion="7.62"), recorded(QWEN), warnings)
    assert result.size.parameters == 7_620_000_000
    assert result.as_output()["parametersSource"] == "modelParamsBillion"
    assert result.plan.max_model_len == 32768
    assert warnings == []
    phi = "microsoft/Phi-3-mini-4k-instruct"
    offline_result = check_model(settings(phi, modelParamsBillion="3.8", maxModelLen="4096"),
                                 offline(phi), warnings)
    assert offline_result.size.parameters == 3_800_000_000


@pytest.mark.parametrize("value", ["0", "-1", "seven", "nan", "20000"])
def test_a_bad_override_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError, match=rf"modelParamsBillion = '{value}': must be a number of "
                                          r"billions of parameters above 0"):
        settings(QWEN, modelParamsBillion=value)


def test_the_estimate_is_printed_once_and_the_token_never(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logged: list[str] = []
    monkeypatch.setattr(pulumi.log, "info", logged.append)
    monkeypatch.setattr(pulumi.log, "warn", logged.append)
    monkeypatch.setenv("VLLM_DATASPHERE_CACHE", str(tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with fake_hub([LLAMA_8B]) as (url, hub):
        monkeypatch.setenv("HF_ENDPOINT", url)
        result = check_model_fits(settings(LLAMA_8B, maxModelLen="16384", weights="image"), GRANTED_TOKEN)
        assert len(hub.requests) == 2
    assert logged == [f"{result.memory.summary()}; image about 28.7 GB to pull (base 12.6 + weights 16.1), "
                      "nothing from Hugging Face at start"]
    assert result.memory.summary().startswith(
        "memoryEstimate: meta-llama/Llama-3.1-8B-Instruct needs 18.4 GiB of the 71.3 GiB")
    assert result.model.model_revision == fixture(LLAMA_8B)["sha"]
    printed = capsys.readouterr()
    assert GRANTED_TOKEN not in printed.out + printed.err + repr(result)
    assert GRANTED_TOKEN not in "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())


@pytest.mark.parametrize(("token", "value", "said"), [
    (None, None, "is unset, but meta-llama/Llama-3.1-8B-Instruct is gated on Hugging Face"),
    (UNGRANTED_TOKEN, "[hidden]", f"this token has no access to the gated model {LLAMA_8B}"),
])
def test_a_gated_model_without_a_token_with_access_stops_the_preview(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, token: str | None, value: str | None,
        said: str) -> None:
    monkeypatch.setenv("VLLM_DATASPHERE_CACHE", str(tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with fake_hub([LLAMA_8B]) as (url, _):
        monkeypatch.setenv("HF_ENDPOINT", url)
        with pytest.raises(ConfigError) as raised:
            check_model_fits(settings(LLAMA_8B, weights="image"), token)
    [problem] = raised.value.problems
    assert (problem.key, problem.value) == ("huggingFaceToken", value)
    assert said in problem.message
    assert raised.value.__cause__ is None
    assert UNGRANTED_TOKEN not in str(raised.value)


GATED_FROM_HUB = (
    "meta-llama/Llama-3.1-8B-Instruct is gated on Hugging Face, and with weights hub a node downloads the "
    "weights at every start with no way to send a token (a DataSphere node takes no environment variables "
    "or secrets): vLLM would get 401 and never serve. Fix: pulumi config set weights image (the image "
    "build downloads the weights once), with a token of an account that accepted the license at "
    "https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct: pulumi config set --secret huggingFaceToken "
    "<read token>")


@pytest.mark.parametrize("token", [None, GRANTED_TOKEN])
def test_a_gated_model_with_weights_from_the_hub_is_refused_token_or_not(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, token: str | None) -> None:
    monkeypatch.setenv("VLLM_DATASPHERE_CACHE", str(tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with fake_hub([LLAMA_8B]) as (url, _):
        monkeypatch.setenv("HF_ENDPOINT", url)
        with pytest.raises(ConfigError) as raised:
            check_model_fits(settings(LLAMA_8B), token)
    [problem] = raised.value.problems
    assert (problem.key, problem.value, problem.message) == ("weights", "hub", GATED_FROM_HUB)


def test_a_gated_model_known_from_the_cache_is_refused_offline_too() -> None:
    with pytest.raises(ConfigError) as raised:
        check_model_fits(settings(LLAMA_8B), None)
    assert [p.message for p in raised.value.problems] == [GATED_FROM_HUB]


def test_the_commit_is_pinned_at_preview_and_an_unknown_one_is_asked_for(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert check_model_fits(settings(QWEN), None).model.model_revision == fixture(QWEN)["sha"]
    pinned = "ab" * 20
    assert check_model_fits(settings(QWEN, modelRevision=pinned), None).model.model_revision == pinned
    monkeypatch.setenv("VLLM_DATASPHERE_CACHE", str(tmp_path))  # offline, and nothing cached
    with pytest.raises(ConfigError) as raised:
        check_model_fits(settings(QWEN, maxModelLen="8192"), None)
    [problem] = raised.value.problems
    assert (problem.key, problem.value) == ("modelRevision", None)
    assert problem.message == (
        "is empty, so the current commit of Qwen/Qwen2.5-7B-Instruct is pinned at preview, but it is "
        "unknown: HF_HUB_OFFLINE is set, and no commit of it is cached. Fix: pulumi config set modelRevision "
        "<commit from https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/commits/main>")


def test_headroom_is_reported_in_gib_of_the_whole_configuration() -> None:
    result = check_model(settings(LLAMA_70B, instanceSpec="g2.4"), recorded(LLAMA_70B), Warnings())
    # What an A100 80 GB reports to vLLM, not its nominal size.
    assert result.available_bytes == int(79.2 * GIB * 4 * 0.9)
    # Per GPU: 2048 tokens through the MLP (2 x 28672) and four hidden-size tensors (8192) in 16 bits, split
    # four ways, and the sampler's three float32 copies of 256 x 128256 logits; NCCL's buffers with tp > 1.
    activation = 2048 * (2 * 28672 + 4 * 8192) * 2 // 4 + 256 * 128256 * 4 * 3
    assert result.overhead == Overhead(activation, int(0.4 * GIB) + int(0.4 * GIB), int(0.5 * GIB))
    assert result.overhead_bytes == 4 * result.overhead.per_gpu
    assert result.as_output() == {
        "instanceSpec": "g2.4", "neededGiB": 178.4, "availableGiB": 285.1, "weightsGiB": 131.4,
        "kvCacheGiB": 40.0, "overheadGiB": 7.0,
        "overheadPerGpuGiB": {"activation": 0.5, "nonTorch": 0.8, "cudaGraphs": 0.5}, "unsure": False,
        "maxModelLen": 131072, "tensorParallelSize": 4,
        "precision": "bfloat16", "parameters": 70_553_706_496, "parametersSource": "safetensors metadata",
    }


def test_auto_runs_a_float32_checkpoint_in_16_bits() -> None:
    record = fixture(QWEN)
    config = record["config"] | {"torch_dtype": "float32"}
    safetensors = {"parameters": {"F32": 7_615_616_512}, "total": 7_615_616_512}
    loaded = LoadedFacts(facts_from_hub(QWEN, safetensors, config), "cache")
    result = check_model(settings(QWEN), loaded, Warnings())
    assert result.weights_bytes == 2 * 7_615_616_512
    assert result.as_output()["precision"] == "16-bit"

