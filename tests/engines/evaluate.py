"""Per-document trace status and grade of lm-eval runs on ``tc_demo_easy``, several runs in one process.

The live engine tests (``tests/test_engines_live.py``) compare, per document, what lm-eval's
``hf`` model reads off a checkpoint with what a served or offline engine gives.  This module
runs those evaluations through lm-eval's own ``simple_evaluate`` (the traced task built by
lm-eval from ``task_yamls/``), so lm-eval, torch and the engine are imported once for many runs:
the test imports :func:`evaluate` for ``hf`` and ``tc_chat_api``, and runs this file with the
engine venv's Python for lm-eval's offline ``vllm`` model (``.venv-vllm`` has vLLM; ``.venv``
has not)::

    .venv-vllm/bin/python tests/engines/evaluate.py JOBS.json OUT.json

``JOBS.json`` is a list of ``{"name", "model", "model_args"}`` (optional ``"n"``, the number
of documents, and ``"batch_size"``, ``"device"``); ``OUT.json`` gets ``{name: {doc_id: [status, grade]}}``.

"""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

if "testenv" not in sys.modules:  # run as a script in an engine venv (pytest's conftest registers it)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from testenv import sample_status

TASK = "tc_demo_easy"

#: per document: (trace status, exact_match)
Reading = dict[int, tuple[str, float]]


def evaluate(
    model: str, model_args: str, n: int = 40, batch_size: int | str | None = None, device: str | None = None
) -> Reading:
    """``simple_evaluate`` of ``model`` on the first ``n`` items of ``tc_demo_easy`` (chat
    template applied, greedy as the task says); per document its status and grade."""
    from lm_eval import simple_evaluate

    from lm_eval_tracecollapse.harness.run import task_manager

    res = simple_evaluate(
        model=model,
        model_args=model_args,
        tasks=[TASK],
        task_manager=task_manager(metadata={"n": n}),
        apply_chat_template=True,
        log_samples=True,
        metadata={"n": n},
        batch_size=batch_size,
        device=device,
    )
    if res is None:
        raise RuntimeError(f"simple_evaluate returned no results for {model} {model_args}")
    reading = {s["doc_id"]: (sample_status(s), float(s["exact_match"])) for s in res["samples"][TASK]}
    del res
    gc.collect()  # an offline engine's memory goes before the next one starts
    return reading


def main(argv: list[str]) -> int:
    jobs_path, out_path = argv
    out: dict[str, Reading] = {}
    for job in json.loads(Path(jobs_path).read_text()):
        args = (job.get("n", 40), job.get("batch_size"), job.get("device"))
        out[job["name"]] = evaluate(job["model"], job["model_args"], *args)
        print(f"evaluate.py: {job['name']} done", flush=True)
    Path(out_path).write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
