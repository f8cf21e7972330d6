"""Run by the real-vLLM tier's Python (a vLLM on its path): whether the image's entry point refuses each
case of extra arguments, as `docker/serve.py --check` does at build time.

    python tests/vllm_verdicts.py CASES.json VERDICTS.json

CASES.json holds {"managed": [...], "cases": [[...], ...]}; VERDICTS.json gets, for each case, null
where vLLM accepts it and its message where it refuses. A file, not stdout: `--help` prints there.
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

SERVE = Path(__file__).resolve().parents[1] / "docker" / "serve.py"


def main(cases_file: str, verdicts_file: str) -> None:
    serve = runpy.run_path(str(SERVE))
    given = json.loads(Path(cases_file).read_text(encoding="utf-8"))
    parse = serve["vllm_parser"]()
    verdicts: list[str | None] = []
    for extra in given["cases"]:
        try:
            serve["check"](given["managed"], extra, parse)
            verdicts.append(None)
        except SystemExit as refused:
            verdicts.append(str(refused.code))
    Path(verdicts_file).write_text(json.dumps(verdicts), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:])
