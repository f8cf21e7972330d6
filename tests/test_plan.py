"""`python -m components.plan`: every configuration for a model, offline, with the preview's own verdicts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from components.plan import main
from tests.program import ROOT
from tests.test_auto_instance_spec import pick
from tests.test_preflight import SM70_IMAGE


def plan(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def rows(lines: list[str]) -> dict[str, list[str]]:
    """The table's rows by configuration: its cells (columns are two spaces apart or more)."""
    return {cells[0]: cells for line in lines[2:] if line and not line.startswith(" ")
            for cells in [re.split(r"\s{2,}", line)]}


def test_every_configuration_cheapest_fitting_first(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = plan(capsys, "Qwen/Qwen2.5-7B-Instruct")
    assert code == 0
    assert lines[0].startswith("Qwen/Qwen2.5-7B-Instruct: 7.6B parameters (safetensors metadata, facts from "
                               "cache: HF_HUB_OFFLINE is set), maxModelLen 32768")
    assert lines[1].split()[:4] == ["config", "GPUs", "fits", "longest"]
    table = rows(lines)
    assert list(table)[:4] == ["gt4i.1", "g2.1", "g2.2", "g2.4"]
    assert set(table) == {"gt4.1", "gt4i.1", "g1.1", "g1.2", "g1.4", "g2.1", "g2.2", "g2.4", "g2.8"}
    # gt4i.1: fits the model's whole context; weights, KV cache, overhead, needed/available, RUB an hour.
    assert table["gt4i.1"][1:] == ["1 x NVIDIA T4i 24 GB", "yes", "32768", "14.2", "1.8", "1.5", "17.5/19.6",
                                   "237.17", "170,761"]
    assert table["gt4.1"][2:4] == ["no", "0"]
    assert ("  gt4.1: Qwen/Qwen2.5-7B-Instruct does not fit: vLLM needs about 17.5 GiB and gt4.1 gives it "
            "13.1 GiB (1 x NVIDIA T4 16 GB x gpuMemoryUtilization 0.9)") in lines
    assert ("  g1.1: official vLLM images from v0.9.0 on have no kernels for V100 (compute capability "
            "7.0)") in lines


def test_a_shorter_context_and_quantization_change_the_verdicts(capsys: pytest.CaptureFixture[str]) -> None:
    _, lines, _ = plan(capsys, "Qwen/Qwen2.5-7B-Instruct", "--quantization", "fp8", "--max-model-len", "8192")
    assert rows(lines)["gt4.1"][2] == "yes"


def test_a_gpu_too_old_for_the_checkpoint_is_one_row_not_the_whole_plan(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = plan(capsys, "Qwen/Qwen2.5-7B-Instruct-AWQ", "--vllm-image", SM70_IMAGE)
    assert code == 0
    assert rows(lines)["gt4.1"][2] == "yes"
    assert rows(lines)["g1.1"][2] == "no"
    assert ("  g1.1: is a checkpoint quantized with awq, which needs compute capability 7.5; the NVIDIA V100 "
            "32 GB of g1.1 has 7.0") in lines


@pytest.mark.parametrize(("model", "argv"), [
    ("Qwen/Qwen2.5-1.5B-Instruct", []), ("Qwen/Qwen2.5-32B-Instruct", []),
    ("meta-llama/Llama-3.1-8B-Instruct", ["--max-model-len", "8192"])])
def test_the_cheapest_sure_fit_is_what_auto_picks(capsys: pytest.CaptureFixture[str], model: str,
                                                   argv: list[str]) -> None:
    _, lines, _ = plan(capsys, model, *argv)
    sure = [name for name, cells in rows(lines).items() if cells[2] == "yes"]
    assert sure[0] == pick(model, **({"maxModelLen": argv[1]} if argv else {}))


def test_offline_with_nothing_cached_it_needs_the_size(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VLLM_DATASPHERE_CACHE", str(tmp_path))
    code, _, err = plan(capsys, "org/assistant")
    assert code == 2
    assert ("plan: --params-billion: the size of org/assistant is unknown: HF_HUB_OFFLINE is set, and its "
            "name states none. Fix: --params-billion <parameters in billions") in err
    assert "Fix: --max-model-len 8192" in err
    assert "pulumi config" not in err
    code, lines, _ = plan(capsys, "org/assistant", "--params-billion", "3.8", "--max-model-len", "4096")
    assert code == 0
    assert "3.8B parameters (modelParamsBillion" in lines[0]


def test_nothing_fits_exits_1_and_a_bad_argument_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan(capsys, "meta-llama/Llama-3.1-70B-Instruct", "--dtype", "float32")[0] == 1
    code, _, err = plan(capsys, "Qwen/Qwen2.5-7B-Instruct", "--max-model-len", "lots")
    assert code == 2
    assert err == ("plan: --max-model-len = 'lots': must be a whole number of tokens (0: the model's own). "
                   "Fix: --max-model-len 8192\n")


def test_it_runs_as_a_module_with_help() -> None:
    done = subprocess.run([sys.executable, "-m", "components.plan", "--help"], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0
    assert "Exit codes: 0 some configuration fits" in done.stdout
