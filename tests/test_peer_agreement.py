"""vLLM 0.34 / SGLang 0.5.23: every reasoning-parser name maps to one of our families, and
on the cases transcribed from their tests our status agrees with theirs.

* The name lists (``tests/fixtures/peer_reasoning/vllm_0_34.json``, ``sglang_0_5_23.json``,
  transcribed from the released wheels) equal the keys of :mod:`~lm_eval_tracecollapse.core.peers`.
* Each case (``vllm_0_34_cases.jsonl``, ``sglang_0_5_23_cases.jsonl``; source repository,
  commit, file and test named per case) holds the peer's own split and ``peer_status``, the
  status that split means under our four-status rule: *valid*/*empty* when the peer ended the
  trace (at its end marker or a tool-call opener) with non-blank/blank reasoning, *truncated*
  when it reports reasoning it never ended, *missing* when everything is content.
  ``prefilled`` is the peer's own assumption (the template opened the trace).
* We parse with the family the parser name maps to (``our_fmt`` where the test's tokenizer
  differs from the released one) and require >= 97 % status agreement; every disagreement
  is named below with its reason, so a new one fails loudly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lm_eval_tracecollapse import get_format, list_formats, parse_trace
from lm_eval_tracecollapse.core.peers import SGLANG_0_5_23, VLLM_0_34, VLLM_REPOSITORY, family_for_parser

PEER = Path(__file__).parent / "fixtures" / "peer_reasoning"
STACKS = {"vllm": "vllm_0_34_cases", "sglang": "sglang_0_5_23_cases"}

#: case id -> why we differ from the peer on purpose
DISAGREEMENTS = {
    "vllm:18:solar_open2": "the peer moves each complete tool-call block out of the trace and reports the "
    "whitespace left as no reasoning (empty); we keep the trace as written, the call inside it (valid)",
}


def _cases() -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for stack, stem in STACKS.items():
        lines = (PEER / f"{stem}.jsonl").read_text(encoding="utf-8").splitlines()
        out += [(f"{stack}:{i + 1}:{json.loads(x)['parser']}", stack, json.loads(x)) for i, x in enumerate(lines)]
    return out


CASES = _cases()


def _ours(stack: str, case: dict[str, Any]) -> str:
    return str(case.get("our_fmt") or family_for_parser(case["parser"], stack))


def test_name_lists_are_complete() -> None:
    vllm = json.loads((PEER / "vllm_0_34.json").read_text(encoding="utf-8"))
    sglang = json.loads((PEER / "sglang_0_5_23.json").read_text(encoding="utf-8"))
    assert (vllm["version"], sglang["version"]) == ("0.34.0", "0.5.23")
    assert set(vllm["parsers"]) == set(VLLM_0_34) and len(VLLM_0_34) == 44
    assert set(sglang["detectors"]) == set(SGLANG_0_5_23) and len(SGLANG_0_5_23) == 36
    repository = set(vllm["repository_parsers"]) - {"note"}
    assert repository == set(VLLM_REPOSITORY) and not repository & set(VLLM_0_34)
    families = set(list_formats()) | {"auto"}  # auto: markers from the checkpoint's template
    for table in (VLLM_0_34, VLLM_REPOSITORY, SGLANG_0_5_23):
        assert set(table.values()) <= families
    # the 0.33 -> 0.34 changes the issue names
    assert {"ripple", "zaya", "musespark"} <= set(VLLM_0_34) and "musespark1x" not in VLLM_0_34
    assert family_for_parser("gigachat35", "sglang") == "think"  # SGLang: DeepSeekR1Detector


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError, match=r"known: .*qwen3"):
        family_for_parser("qwen4")
    with pytest.raises(ValueError, match="serving stack"):
        family_for_parser("qwen3", stack="tgi")


def test_every_case_names_its_source() -> None:
    assert {stack for _, stack, _ in CASES} == set(STACKS) and len(CASES) >= 90
    for _, _, case in CASES:
        assert case["source"].split("@")[0] in ("vllm-project/vllm", "sgl-project/sglang")
        assert case["peer_status"] in ("valid", "empty", "missing", "truncated")


def test_status_agreement() -> None:
    """>= 97 % of the peers' cases get the peer's status; the rest are the named ones."""
    differ = {}
    for name, stack, case in CASES:
        t = parse_trace(case["text"], fmt=_ours(stack, case), prefilled=case["prefilled"])
        if t.status.value != case["peer_status"]:
            differ[name] = (t.status.value, case["peer_status"])
    assert set(differ) == set(DISAGREEMENTS), differ
    agreement = 1 - len(differ) / len(CASES)
    assert agreement >= 0.97, f"{agreement:.1%}"


@pytest.mark.parametrize("name,stack,case", CASES, ids=[n for n, _, _ in CASES])
def test_auto_agrees_with_the_named_family(name: str, stack: str, case: dict[str, Any]) -> None:
    """Where the family takes part in fmt="auto" and the response carries its own
    structure (not prefilled: a bare prefill does not say which family), auto agrees."""
    fmt = _ours(stack, case)
    if fmt == "auto" or not get_format(fmt).auto or case["prefilled"]:
        pytest.skip("family asked for by name only, or prefilled")
    named = parse_trace(case["text"], fmt=fmt)
    auto = parse_trace(case["text"])
    if fmt == "apertus" and "<think>" in case["text"]:
        assert (named.status.value, auto.status.value) == ("missing", "valid")  # Apertus never emits <think>
    else:
        assert auto.status == named.status and auto.fmt in (named.fmt, None)
