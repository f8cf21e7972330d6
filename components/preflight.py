"""Preflight: refuse a model that cannot fit or run on the chosen configuration, at preview.

A node that pulls a 20 GB image and downloads weights only to die because the model does not fit
costs an hour and the GPU time. Everything here runs before any resource is registered: the
model's facts (`components/hub.py`), the memory budget (`components/memory.py`), vLLM's rules for
tensor parallelism and quantization, and for each failure the fixes that would pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pulumi

from components import platform
from components.config_parsing import ConfigError, ConfigProblem
from components.cost import configuration_rate
from components.hub import HubAccess, HubAccessError, LoadedFacts, load_model_facts
from components.memory import (
    PROFILED_SEQUENCES,
    PROFILED_TOKENS,
    MemoryEstimate,
    ModelSize,
    Plan,
    billions,
    estimate,
    gib,
    tokens_that_fit,
)
from components.model_facts import ModelFacts, ModelShape, parameters_from_name
from components.model_settings import ModelSettings, configuration_problems, dtype_on
from components.vllm_flags import flag_number, other_release_warnings

Warn = Callable[[str], None]

# A shorter context than this is rarely useful for a chat model, so it is not offered as a fix.
MIN_SUGGESTED_MODEL_LEN = 1024
SUGGESTED_UTILIZATION = 0.95
# How many runners-up `instanceSpec: auto` names beside its pick.
RUNNERS_UP = 2


@dataclass(frozen=True)
class Choice:
    """What `instanceSpec: auto` picked: the cheapest configuration the model runs and surely fits on
    (a fit within the estimate's spread only where no sure one exists), the next choices, and the
    cheaper configurations passed over as too close to call."""

    picked: MemoryEstimate
    runners_up: tuple[MemoryEstimate, ...]
    passed_over: tuple[MemoryEstimate, ...] = ()

    def summary(self, entry: str | None = None) -> str:
        """One line for the preview: the pick, why, and what the next choices cost."""
        label = f"instanceSpec [{entry}]" if entry else "instanceSpec"
        picked = self.picked
        c = picked.plan.configuration
        others = ", ".join(f"{e.plan.configuration.name} ({e.plan.configuration.describe()}, "
                           f"{configuration_rate(e.plan.configuration).rub_per_hour:,.2f} RUB/h)"
                           for e in self.runners_up)
        close = "".join(f"; passed over {e.plan.configuration.name}, cheaper but too close to call (needs "
                        f"{gib(e.needed_bytes)} of {gib(e.available_bytes)} GiB)" for e in self.passed_over)
        return (f"{label}: auto picked {c.name} ({c.describe()}, "
                f"{configuration_rate(c).rub_per_hour:,.2f} RUB/h an instance), the cheapest configuration "
                f"where {picked.model} runs and fits at maxModelLen {picked.plan.max_model_len} in "
                f"{picked.plan.precision} (needs {gib(picked.needed_bytes)} of {gib(picked.available_bytes)} "
                f"GiB){close}; next: {others or 'none'}. Set instanceSpec to keep a configuration whatever "
                "the prices or the model do")


@dataclass(frozen=True)
class ModelChecked:
    """A model that passed the preflight: pinned to the commit it serves and to a configuration, its
    memory estimate, and with `instanceSpec: auto` the choice."""

    model: ModelSettings
    memory: MemoryEstimate
    choice: Choice | None = None


def check_model_fits(settings: ModelSettings, hugging_face_token: str | None) -> ModelChecked:
    """Read the model's facts and check them; print the estimate, or raise `ConfigError`."""
    try:
        loaded = load_model_facts(settings.model, HubAccess.from_environment(hugging_face_token),
                                  settings.model_revision)
    except HubAccessError as error:
        if error.gated and settings.weights == "hub":
            raise ConfigError([_gated_from_hub(settings)]) from None
        raise ConfigError([ConfigProblem(error.key, error.value, str(error))]) from None
    for warning in other_release_warnings(settings.extra_vllm_args, settings.vllm_image):
        pulumi.log.warn(f"[{settings.name}] {warning}" if settings.listed else warning)
    problems = _weights_problems(settings, loaded, hugging_face_token is not None)
    if loaded.config_denied is not None and hugging_face_token is not None and settings.weights == "image":
        denied = loaded.config_denied
        problems.append(ConfigProblem(denied.key, denied.value, str(denied)))
    choice = None
    try:
        if settings.auto_instance_spec:
            choice = choose_configuration(settings, loaded, warn=pulumi.log.warn)
            result = choice.picked
        else:
            result = check_model(settings, loaded, warn=pulumi.log.warn)
    except ConfigError as error:
        problems += error.problems
    if problems:
        raise ConfigError(problems)
    assert loaded.revision is not None, "an unknown commit is a problem of _weights_problems"
    weights_bytes = loaded.facts.stored_bytes or result.weights_bytes
    label = settings.name if settings.listed else None
    if choice is not None:
        pulumi.log.info(choice.summary(label))
    pulumi.log.info(f"{result.summary(label)}; {image_size(settings, weights_bytes)}")
    if result.plan.tensor_parallel_size > 1:
        pulumi.log.warn(shared_memory_warning(result.plan.configuration, label))
    model = on_configuration(settings, result.plan.configuration).model_copy(
        update={"model_revision": loaded.revision})
    return ModelChecked(model, result, choice)


def shared_memory_warning(configuration: platform.Configuration, entry: str | None = None) -> str:
    """vLLM on several GPUs needs /dev/shm room that DataSphere does not document (docker/serve.py)."""
    where = f"[{entry}] " if entry else ""
    return (f"{where}{configuration.name} runs vLLM on {configuration.gpu_count} GPUs, whose processes "
            "talk through about 400 MiB of shared memory (/dev/shm); DataSphere does not document how much "
            "a node has (Docker's default is 64 MiB, too little). The image checks it at start and says so "
            "in the node's log; if it is too small there, serve from a one-GPU configuration")


def on_configuration(settings: ModelSettings, configuration: platform.Configuration) -> ModelSettings:
    """The model's settings as they run on `configuration`: its name, and the dtype `auto` becomes there."""
    return settings.model_copy(update={"instance_spec": configuration.name,
                                       "dtype": dtype_on(settings.dtype, configuration)})


def price_key(configuration: platform.Configuration) -> tuple[int, str]:
    """Cheapest first; a tie goes by name, so a pick never depends on the table's order."""
    return configuration.units_per_second, configuration.name


def by_price() -> list[platform.Configuration]:
    return sorted((platform.CONFIGURATIONS[name] for name in platform.GPU_CONFIGURATIONS), key=price_key)


@dataclass(frozen=True)
class Trial:
    """The model on one configuration: its estimate (None where the configuration cannot run it, or
    the size is unknown), every problem there (none: it runs and fits), and the warnings of the check."""

    configuration: platform.Configuration
    runnable: bool  # the image, dtype and quantization run on this GPU
    result: MemoryEstimate | None
    problems: list[ConfigProblem]
    warnings: list[str]


def trials(settings: ModelSettings, loaded: LoadedFacts) -> list[Trial]:
    """The model's check on every GPU configuration, cheapest first (`auto` and the plan command)."""
    found = []
    for configuration in by_price():
        trial = on_configuration(settings, configuration)
        refused = configuration_problems(trial, configuration)
        if refused:
            found.append(Trial(configuration, False, None, refused, []))
            continue
        warnings: list[str] = []
        result, problems = estimate_model(trial, loaded, warnings.append)
        if result is not None:
            problems += fit_problems(trial, result)
        found.append(Trial(configuration, True, result, problems, warnings))
    return found


def fitting_configurations(settings: ModelSettings, loaded: LoadedFacts
                           ) -> tuple[list[Trial], list[ConfigProblem]]:
    """Every GPU configuration the model runs and fits on, cheapest first; and when none does, the
    problems on the one with the most memory the model runs on."""
    tried = trials(settings, loaded)
    fitting = [trial for trial in tried if not trial.problems]
    if fitting:
        return fitting, []
    largest = max([trial for trial in tried if trial.runnable] or tried,
                  key=lambda t: (t.configuration.gpu_memory_gib * t.configuration.gpu_count,
                                 -t.configuration.units_per_second))
    problems = largest.problems
    # What no configuration changes (a length beyond the model's own, a wrong method) keeps its own key.
    found = [problem for problem in problems if problem.key != "instanceSpec"]
    why = [problem.message for problem in problems if problem.key == "instanceSpec"]
    if why or not found:
        found.append(ConfigProblem("instanceSpec", platform.AUTO_INSTANCE_SPEC, (
            f"found no configuration where {settings.model} runs and fits; on the one with the most "
            f"memory, {largest.configuration.name}: " + " ".join(why or [p.message for p in problems]))))
    return [], found


def choose_configuration(settings: ModelSettings, loaded: LoadedFacts, warn: Warn) -> Choice:
    """`instanceSpec: auto`: the cheapest configuration the model runs and fits on."""
    fitting, problems = fitting_configurations(settings, loaded)
    if problems:
        raise ConfigError(problems)
    estimates = [(trial.result, trial.warnings) for trial in fitting if trial.result is not None]
    sure = [(estimate, warnings) for estimate, warnings in estimates if not estimate.unsure]
    (picked, warnings), *rest = sure or estimates
    for message in warnings:
        warn(message)
    cheaper = [estimate for estimate, _ in estimates
               if estimate.unsure and _price(estimate) < _price(picked)]
    return Choice(picked, tuple(estimate for estimate, _ in rest[:RUNNERS_UP]), tuple(cheaper))


def _price(result: MemoryEstimate) -> tuple[int, str]:
    return price_key(result.plan.configuration)


def model_problems(settings: ModelSettings, hugging_face_token: str | None
                   ) -> tuple[ModelChecked | None, list[ConfigProblem]]:
    """`check_model_fits`, with its problems returned to be reported beside the others."""
    try:
        return check_model_fits(settings, hugging_face_token), []
    except ConfigError as error:
        return None, error.problems


def _gated_from_hub(settings: ModelSettings) -> ConfigProblem:
    return ConfigProblem("weights", settings.weights, (
        f"{settings.model} is gated on Hugging Face, and with weights hub a node downloads the weights "
        "at every start with no way to send a token (a DataSphere node takes no environment variables "
        "or secrets): vLLM would get 401 and never serve. Fix: pulumi config set weights image (the "
        "image build downloads the weights once), with a token of an account that accepted the "
        f"license at https://huggingface.co/{settings.model}: pulumi config set --secret "
        "huggingFaceToken <read token>"))


def _weights_problems(settings: ModelSettings, loaded: LoadedFacts, has_token: bool) -> list[ConfigProblem]:
    """Whether the commit is known, and whether the weights can reach the node the chosen way."""
    problems = []
    if loaded.gated and settings.weights == "image" and not has_token:
        problems.append(ConfigProblem("huggingFaceToken", None, (
            f"is unset, but {settings.model} is gated on Hugging Face: the image build can download its "
            "weights only with a token of an account that accepted its license. Fix: accept it at "
            f"https://huggingface.co/{settings.model}, then pulumi config set --secret huggingFaceToken "
            "<read token>")))
    if loaded.revision is None:
        problems.append(ConfigProblem("modelRevision", None, (
            f"is empty, so the current commit of {settings.model} is pinned at preview, but it is unknown: "
            f"{loaded.unavailable_reason}, and no commit of it is cached. Fix: pulumi config set "
            f"modelRevision <commit from https://huggingface.co/{settings.model}/commits/main>")))
    if loaded.gated and settings.weights == "hub":
        problems.append(_gated_from_hub(settings))
    if settings.weights == "image" and loaded.origin != "none" and loaded.facts.parameters is None:
        problems.append(ConfigProblem("weights", settings.weights, (
            f"image bakes the safetensors weights into the image, and {settings.model} has none on "
            "Hugging Face (only .bin or other formats). Fix: pulumi config set weights hub, or pick a "
            "checkpoint published as safetensors")))
    return problems


@dataclass(frozen=True)
class StartBytes:
    """Bytes one node instance moves at start, by source."""

    registry: float
    hub: float


def start_bytes(weights: str, weights_bytes: float) -> StartBytes:
    """What a node start pulls from Cloud Registry and downloads from Hugging Face, by `weights`."""
    base = platform.VLLM_IMAGE_PULL_BYTES
    if weights == "image":
        return StartBytes(registry=base + weights_bytes, hub=0.0)
    return StartBytes(registry=base, hub=weights_bytes)


def image_size(settings: ModelSettings, weights_bytes: float) -> str:
    """What the weights choice means for the image and for every start of a node."""
    moved = start_bytes(settings.weights, weights_bytes)
    if settings.weights == "image":
        return (f"image about {gb(moved.registry)} GB to pull (base {gb(platform.VLLM_IMAGE_PULL_BYTES)} "
                f"+ weights {gb(weights_bytes)}), nothing from Hugging Face at start")
    return (f"image about {gb(moved.registry)} GB to pull, and {gb(moved.hub)} GB of weights from "
            "Hugging Face at every start")


def gb(size: float) -> float:
    return round(size / 1e9, 1)


def check_model(settings: ModelSettings, loaded: LoadedFacts, warn: Warn) -> MemoryEstimate:
    """The model's estimate on its configuration, or `ConfigError` with every reason it cannot run there."""
    result, problems = estimate_model(settings, loaded, warn)
    if result is not None:
        problems += fit_problems(settings, result)
    if problems:
        raise ConfigError(problems)
    assert result is not None, "no estimate comes with a problem"
    return result


def estimate_model(settings: ModelSettings, loaded: LoadedFacts, warn: Warn
                   ) -> tuple[MemoryEstimate | None, list[ConfigProblem]]:
    """The estimate on the model's configuration, fitting or not (None when its size is unknown), and
    the problems that are not about fitting: quantization, context length, size."""
    problems: list[ConfigProblem] = []
    facts = loaded.facts
    if facts.config is None:
        warn(f"{settings.model}: config.json unavailable ({_reason(loaded)}), so its KV cache is "
             "estimated as for a grouped-query model like Llama 3 and its attention heads are not "
             "checked against the GPU count")
    size = _model_size(settings, loaded, warn, problems)
    quantization = _quantization(settings, facts, warn, problems)
    max_model_len = _max_model_len(settings, facts.shape, loaded, problems)
    if size is None:
        return None, problems
    # With the context length unknown, whether the weights fit at all is still worth telling now:
    # ask it for the shortest context a fix would offer.
    args = settings.extra_vllm_args
    plan = Plan(settings.configuration, _dtype(settings, facts), quantization,
                max_model_len or MIN_SUGGESTED_MODEL_LEN, settings.gpu_memory_utilization,
                batched_tokens=flag_number(args, "--max-num-batched-tokens") or PROFILED_TOKENS,
                sequences=flag_number(args, "--max-num-seqs") or PROFILED_SEQUENCES)
    return estimate(settings.model, size, plan), problems


def fit_problems(settings: ModelSettings, result: MemoryEstimate) -> list[ConfigProblem]:
    """Why vLLM would refuse to start: heads its GPUs cannot split, or too little memory."""
    size, plan = result.size, result.plan
    if size.shape is not None and not divides_heads(size.shape, plan.tensor_parallel_size):
        return [_heads_problem(settings, size, plan, size.shape)]
    return [] if result.fits else [_fit_problem(settings, result)]


def _dtype(settings: ModelSettings, facts: ModelFacts) -> str:
    """`auto` runs a 16-bit checkpoint in its own dtype (and a float32 one in 16 bits)."""
    if settings.dtype == "auto" and facts.checkpoint_dtype in ("bfloat16", "float16"):
        return facts.checkpoint_dtype
    return settings.dtype


def divides_heads(shape: ModelShape | None, tensor_parallel_size: int) -> bool:
    """vLLM splits attention heads evenly over the GPUs, and KV heads evenly or by repetition."""
    if shape is None:
        return True
    if shape.attention_heads % tensor_parallel_size:
        return False
    kv, tp = shape.kv_heads, tensor_parallel_size
    return tp % kv == 0 if tp >= kv else kv % tp == 0


def _reason(loaded: LoadedFacts) -> str:
    if loaded.unavailable_reason:
        return loaded.unavailable_reason
    if loaded.config_denied is not None:
        return "it is gated, and read without a token with access"
    return "the Hub has no config.json for it" if loaded.facts.config is None else "unknown"


def _model_size(settings: ModelSettings, loaded: LoadedFacts, warn: Warn,
                problems: list[ConfigProblem]) -> ModelSize | None:
    facts = loaded.facts
    prequantized = facts.checkpoint_quantization is not None or (
        facts.config is None and settings.quantization in platform.CHECKPOINT_QUANTIZATIONS)
    if settings.model_params_billion:
        return ModelSize(round(settings.model_params_billion * 1e9), "modelParamsBillion",
                         facts.shape, prequantized)
    if facts.parameters:
        # A quantized checkpoint packs several weights into each stored element: its count is not
        # the model's, but its stored size is exactly what the GPU holds.
        source = "safetensors metadata" + (", packed tensors" if prequantized else "")
        return ModelSize(facts.parameters, source, facts.shape, prequantized, facts.stored_bytes)
    reason = loaded.unavailable_reason or "the Hub lists no safetensors weights for it"
    from_name = parameters_from_name(settings.model)
    if from_name is None:
        problems.append(ConfigProblem("modelParamsBillion", None, (
            f"the size of {settings.model} is unknown: {reason}, and its name states none. Fix: "
            "pulumi config set modelParamsBillion <parameters in billions, e.g. 7.6, from the model page>")))
        return None
    warn(f"{settings.model}: parameter count unknown ({reason}); using the size in its name, "
         f"{billions(from_name)}. Set modelParamsBillion for an exact figure")
    return ModelSize(from_name, "model name", facts.shape, prequantized)


def _same_method(chosen: str, checkpoint: str) -> bool:
    return chosen in (checkpoint, f"{checkpoint}_marlin")


def _quantization(settings: ModelSettings, facts: ModelFacts, warn: Warn,
                  problems: list[ConfigProblem]) -> str | None:
    """The method vLLM will use: the one set, else the checkpoint's own."""
    chosen, checkpoint = settings.quantization, facts.checkpoint_quantization
    if facts.config is None:
        return chosen
    if chosen and checkpoint and not _same_method(chosen, checkpoint):
        problems.append(ConfigProblem("quantization", chosen, (
            f"{settings.model} is a checkpoint quantized with {checkpoint}, and vLLM refuses "
            f"--quantization {chosen} for it. Fix: pulumi config set quantization {checkpoint}, "
            "or leave it empty: vLLM reads the method from the checkpoint")))
    elif chosen in platform.CHECKPOINT_QUANTIZATIONS and checkpoint is None:
        problems.append(ConfigProblem("quantization", chosen, (
            f"loads only a checkpoint quantized with {chosen}, and {settings.model} is not one. Fix: "
            f"set model to a variant quantized with it (https://huggingface.co/models?search="
            f"{settings.model.split('/')[-1]}), or pulumi config set quantization fp8, which "
            "quantizes the weights as they load")))
    elif chosen is None and checkpoint is not None:
        if settings.dtype in platform.FLOAT32_DTYPES:
            problems.append(ConfigProblem("dtype", settings.dtype, (
                f"cannot run {settings.model}, a checkpoint quantized with {checkpoint}: no vLLM "
                "quantization method supports float32. Fix: pulumi config set dtype auto")))
        configuration = settings.configuration
        if checkpoint not in platform.QUANTIZATION_MIN_CAPABILITY:
            warn(f"{settings.model} is quantized with {checkpoint}, a method this preflight does not "
                 "know: whether the GPU can run it is not checked")
        elif not configuration.runs_quantization(checkpoint):
            needed = platform.QUANTIZATION_MIN_CAPABILITY[checkpoint]
            have = configuration.compute_capability or (0, 0)
            problems.append(ConfigProblem("model", settings.model, (
                f"is a checkpoint quantized with {checkpoint}, which needs compute capability "
                f"{needed[0]}.{needed[1]}; the {configuration.gpu_name} of {configuration.name} has "
                f"{have[0]}.{have[1]}. Fix: pulumi config set instanceSpec g2.1 (an A100), or serve the "
                "model's unquantized version")))
    return chosen or checkpoint


def _max_model_len(settings: ModelSettings, shape: ModelShape | None, loaded: LoadedFacts,
                   problems: list[ConfigProblem]) -> int | None:
    own = shape.context_length if shape else None
    if not settings.max_model_len:
        # A gated config read without access: its length is known once the token problem is fixed.
        if own is None and loaded.config_denied is None:
            problems.append(ConfigProblem("maxModelLen", 0, (
                f"0 means the model's own context length, which is unknown ({_reason(loaded)}). "
                "Fix: pulumi config set maxModelLen 8192 (or the length you need)")))
        return own
    if own is not None and settings.max_model_len > own:
        problems.append(ConfigProblem("maxModelLen", settings.max_model_len, (
            f"is longer than the {own} tokens {settings.model} was built for; vLLM refuses to start. "
            f"Fix: pulumi config set maxModelLen {own} (or less)")))
        return own  # what the fix sets: the memory check and its fixes reckon with that
    return settings.max_model_len


def _runs_on(settings: ModelSettings, size: ModelSize, plan: Plan,
             configuration: platform.Configuration) -> bool:
    return (not configuration_problems(settings, configuration)
            and (plan.quantization is None or configuration.runs_quantization(plan.quantization))
            and divides_heads(size.shape, configuration.gpu_count))


def _configurations_that_fit(settings: ModelSettings, size: ModelSize, plan: Plan) -> list[MemoryEstimate]:
    """Every other GPU configuration the model would run and fit on, cheapest first."""
    found = []
    for configuration in by_price():
        if configuration == plan.configuration or not _runs_on(settings, size, plan, configuration):
            continue
        candidate = estimate(settings.model, size, replace(plan, configuration=configuration))
        if candidate.fits:
            found.append(candidate)
    return found


def _describe(result: MemoryEstimate) -> str:
    c = result.plan.configuration
    return f"{c.describe()}: needs {gib(result.needed_bytes)} of {gib(result.available_bytes)} GiB"


def _heads_problem(settings: ModelSettings, size: ModelSize, plan: Plan, shape: ModelShape) -> ConfigProblem:
    fits = [c.plan.configuration.name for c in _configurations_that_fit(settings, size, plan)]
    if fits:
        others = f" (or, dearer, {', '.join(fits[1:])})" if len(fits) > 1 else ""
        fix = f"pulumi config set instanceSpec {fits[0]}{others}"
    else:
        fix = "no configuration in the table both splits and fits it; serve a smaller model"
    return ConfigProblem("instanceSpec", plan.configuration.name, (
        f"runs vLLM with tensor-parallel size {plan.tensor_parallel_size} (its GPU count), which must "
        f"divide the {shape.attention_heads} attention heads ({shape.kv_heads} KV heads) of "
        f"{settings.model}; vLLM refuses to start. Fix: {fix}"))


def _shorter_length(size: ModelSize, plan: Plan) -> int | None:
    """A `maxModelLen` (a multiple of 1024) that would fit where the current one does not."""
    tokens = tokens_that_fit(size, plan)
    if MIN_SUGGESTED_MODEL_LEN <= tokens < plan.max_model_len:
        return tokens // 1024 * 1024
    return None


def _quantized_fixes(settings: ModelSettings, size: ModelSize, plan: Plan) -> list[str]:
    """An 8-bit load of this checkpoint, or a 4-bit checkpoint; with a shorter context if need be."""
    name = settings.model.split("/")[-1]
    trials = (
        ("fp8", size, "pulumi config set quantization fp8, which quantizes the weights to 8 bits as "
                      "they load"),
        ("awq", replace(size, prequantized=True, stored_bytes=None),
         f"serve a 4-bit AWQ checkpoint of the model (https://huggingface.co/models?search={name}-AWQ) "
         "with pulumi config set quantization awq"),
    )
    fixes = []
    for method, trial_size, fix in trials:
        trial_plan = replace(plan, quantization=method)
        if not plan.configuration.runs_quantization(method):
            continue
        trial = estimate(settings.model, trial_size, trial_plan)
        if trial.fits:
            fixes.append(f"{fix} (needs about {gib(trial.needed_bytes)} of {gib(trial.available_bytes)} GiB)")
        elif (length := _shorter_length(trial_size, trial_plan)) is not None:
            fixes.append(f"{fix} and pulumi config set maxModelLen {length}")
    return fixes


def _fit_fixes(settings: ModelSettings, result: MemoryEstimate) -> list[str]:
    size, plan = result.size, result.plan
    fixes = []
    larger = [c for c in _configurations_that_fit(settings, size, plan)
              if c.available_bytes > result.available_bytes]
    if larger:
        fixes.append(f"pulumi config set instanceSpec {larger[0].plan.configuration.name} "
                     f"({_describe(larger[0])})")
    if not size.prequantized and plan.quantization is None:
        fixes.extend(_quantized_fixes(settings, size, plan))
    if (length := _shorter_length(size, plan)) is not None:
        fixes.append(f"pulumi config set maxModelLen {length} (the KV cache has room for about "
                     f"{tokens_that_fit(size, plan)} tokens)")
    if plan.gpu_memory_utilization < SUGGESTED_UTILIZATION:
        fuller = estimate(settings.model, size, replace(plan, gpu_memory_utilization=SUGGESTED_UTILIZATION))
        if fuller.fits:
            fixes.append(f"pulumi config set gpuMemoryUtilization {SUGGESTED_UTILIZATION} (needs "
                         f"{gib(fuller.needed_bytes)} of {gib(fuller.available_bytes)} GiB)")
    return fixes


def _fit_problem(settings: ModelSettings, result: MemoryEstimate) -> ConfigProblem:
    plan, size = result.plan, result.size
    c = plan.configuration
    fixes = _fit_fixes(settings, result)
    advice = ("Fixes that would pass: " + "; or ".join(fixes) if fixes
              else "Fix: nothing in the DataSphere table fits it; serve a smaller model")
    return ConfigProblem("instanceSpec", c.name, (
        f"{settings.model} does not fit: vLLM needs about {gib(result.needed_bytes)} GiB and {c.name} "
        f"gives it {gib(result.available_bytes)} GiB ({c.describe()} x gpuMemoryUtilization "
        f"{plan.gpu_memory_utilization}). Needed: weights {gib(result.weights_bytes)} GiB "
        f"({billions(size.parameters)} parameters, {plan.precision}) + KV cache "
        f"{gib(result.kv_cache_bytes)} GiB for maxModelLen {plan.max_model_len} + runtime overhead "
        f"{gib(result.overhead_bytes)} GiB{result.doubt()}. {advice}"))
