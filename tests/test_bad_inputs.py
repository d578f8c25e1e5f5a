"""Hostile inputs to the post-hoc commands (analyze, compare, table, plot, probe), to
``tc_replay`` and to ``parse_trace``: each ends in one clear line (or is counted as a
bad line), never a traceback and never a wrong number."""

from __future__ import annotations

import json
import os
import pathlib
from pathlib import Path
from typing import Any

import pytest

from lm_eval_tracecollapse.cli import main
from lm_eval_tracecollapse.core.parse import parse_trace
from lm_eval_tracecollapse.harness.models.replay import ReplayLM
from lm_eval_tracecollapse.report import analyze, compare

NAME = "samples_t_2026-01-01T00-00-00.000000.jsonl"
DROP = object()  # a field left out of the line


def _line(doc_id: Any = 0, **fields: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "doc_id": doc_id, "arguments": {"gen_args_0": {"arg_0": f"Q{doc_id}", "arg_1": {}}},
        "resps": [["<think>a</think>1"]], "filter": "none", "metrics": ["pass@1"],
        "prompt_hash": f"p{doc_id}", "pass@1": 1.0,
    }  # fmt: skip
    rec.update(fields)
    return rec


def _write(folder: Path, text: str | bytes, name: str = NAME) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return folder


def _lines(folder: Path, recs: list[dict[str, Any]]) -> Path:
    return _write(folder, "".join(json.dumps(r) + "\n" for r in recs))


def _good(folder: Path) -> Path:
    return _lines(folder, [_line(i, **{"pass@1": float(i % 2)}) for i in range(4)])


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit status, stdout, stderr without tqdm's progress bars)."""
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    err = "\n".join(x for x in err.replace("\r", "\n").splitlines() if x.strip() and "reading samples" not in x)
    assert "Traceback" not in err
    return code, out, err


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    code, _, err = _cli(argv, capsys)
    assert code == 1, err
    assert len(err.splitlines()) == 1, err  # one clear line
    assert err.startswith(f"tracecollapse {argv[0]}: "), err
    for needle in needles:
        assert needle in err, err
    return err


# -- files that hold nothing usable ------------------------------------------------


def test_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _write(tmp_path / "run", "")
    for cmd in ("analyze", "table"):
        _fails([cmd, str(run), *(["--workers", "1"] if cmd == "analyze" else [])], capsys, "no usable sample line")
    _fails(["plot", str(run), "--out", str(tmp_path / "f.png")], capsys, "no usable sample line")
    assert not (tmp_path / "f.png").exists()


def test_binary_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _write(tmp_path / "run", bytes(range(256)) * 10)
    _fails(["analyze", str(run), "--workers", "1"], capsys, "no usable sample line", "not UTF-8")
    _fails(["table", str(run)], capsys, "no usable sample line")


def test_unknown_fmt_is_one_error_before_reading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _good(tmp_path / "run")
    for argv in (
        ["analyze", str(run), "--workers", "1"],
        ["table", str(run)],
        ["plot", str(run), "--out", str(tmp_path / "f.png")],
        ["compare", str(run), str(run)],
        ["probe", str(run), "--out", str(tmp_path / "p.jsonl")],
    ):
        err = _fails([*argv, "--fmt", "nosuch"], capsys, "unknown reasoning format 'nosuch'")
        assert "skipped" not in err
    with pytest.raises(ValueError, match="nosuch"):
        compare([tmp_path / "missing"], [tmp_path / "missing"], "nosuch")  # before looking for files
    with pytest.raises(ValueError, match="nosuch"):
        analyze([tmp_path / "missing"], "nosuch", progress=False)


def test_deeply_nested_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _write(tmp_path / "run", "[" * 100000 + "\n")
    _fails(["analyze", str(run), "--workers", "1"], capsys, "JSON nested too deeply")
    _fails(["analyze", str(run), "--workers", "1", "--strict"], capsys, f"{NAME}:1: JSON nested too deeply")


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"doc_id": 1e400}, "doc_id is inf, not an integer"),
        ({"doc_id": 1.5}, "doc_id is 1.5, not an integer"),
        ({"doc_id": True}, "doc_id is True, not an integer"),
        ({"doc_id": "3"}, "doc_id is '3', not an integer"),
        ({"pass@1": 1e400}, "pass@1 is inf, not a correctness in [0, 1]"),
        ({"pass@1": 5}, "pass@1 is 5, not a correctness in [0, 1]"),
        ({"pass@1": -0.5}, "pass@1 is -0.5"),
        ({"pass@1": float("nan"), "exact_match": 1.0}, "pass@1 is nan"),
        ({"pass@1": "1", "exact_match": 1.0}, "pass@1 is '1'"),
        ({"pass@1": None, "exact_match": 1.0}, "pass@1 is None"),
        ({"metrics": ["exact_match"], "exact_match": 2.0, "pass@1": DROP}, "exact_match is 2.0"),
        ({"rpass@1": 3.0}, "rpass@1 is 3.0"),
    ],
)
def test_bad_values_are_bad_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fields: dict[str, Any], why: str
) -> None:
    first = {**_line(0), **fields}
    recs = [{k: v for k, v in first.items() if v is not DROP}, *(_line(i) for i in range(1, 4))]
    run = _lines(tmp_path / "run", recs)
    code, out, err = _cli(["analyze", str(run), "--workers", "1"], capsys)
    assert code == 0
    assert f"skipped 1 unreadable line(s); first: {run / NAME}:1: {why}" in err
    assert "n=3" in out and "pass@1   1.000" in out  # the three good lines, never the bad value
    _fails(["analyze", str(run), "--workers", "1", "--strict"], capsys, f"{NAME}:1: {why}")


def test_bool_correctness_counts_as_zero_one(tmp_path: Path) -> None:
    run = _lines(tmp_path / "run", [_line(0, **{"pass@1": True}), _line(1, **{"pass@1": False})])
    [s], problems = analyze([run], workers=1, progress=False)
    assert problems.skipped == 0 and s.pass_at_1 is not None and s.pass_at_1.value == 0.5


def test_a_non_correctness_task_metric_is_not_taken_as_pass_at_1(tmp_path: Path) -> None:
    rec = _line(0, metrics=["bleu"], bleu=25.3)
    del rec["pass@1"]
    [s], problems = analyze([_lines(tmp_path / "run", [rec])], workers=1, progress=False)
    assert problems.skipped == 0 and s.pass_at_1 is None and s.correct_source is None


@pytest.mark.parametrize("bad", [5.0, float("inf"), "1", float("nan")])
def test_compare_never_prints_an_impossible_pass_at_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: Any
) -> None:
    base = _lines(tmp_path / "base", [_line(i, **{"pass@1": float(i % 2)}) for i in range(4)])
    ft = _lines(tmp_path / "ft", [_line(i, **{"pass@1": bad if i == 0 else 1.0}) for i in range(4)])
    code, out, err = _cli(["compare", str(base), str(ft)], capsys)
    assert code == 0
    assert "3 paired documents" in out
    assert "5.000" not in out and "inf" not in out and "nan" not in out
    assert f"{ft / NAME}:1: pass@1 is {bad!r}" in err
    _fails(["compare", str(base), str(ft), "--strict"], capsys, f"{NAME}:1: pass@1 is {bad!r}")


# -- files that cannot be read ----------------------------------------------------


def test_a_fifo_or_device_where_a_file_is_expected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / NAME
    os.mkfifo(fifo)
    _fails(["analyze", str(fifo), "--workers", "1"], capsys, "is not a regular file or folder")
    _fails(["compare", str(fifo), str(fifo)], capsys, "is not a regular file or folder")


def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # root reads a chmod-000 file anyway: refuse the open itself
    run = _good(tmp_path / "run")
    real_open = pathlib.Path.open

    def deny(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.name == NAME:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", deny)
    _fails(["analyze", str(run), "--workers", "1"], capsys, f"cannot read {run / NAME}: Permission denied")
    _fails(["compare", str(run), str(run)], capsys, "Permission denied")
    _fails(["probe", str(run), "--out", str(tmp_path / "p.jsonl")], capsys, "Permission denied")


def test_plot_out_without_suffix_names_the_file_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    run = _good(tmp_path / "run")
    code, out, _ = _cli(["plot", str(run), "--out", str(tmp_path / "figure")], capsys)
    assert code == 0
    assert out.strip() == f"wrote {tmp_path / 'figure.png'}"
    assert (tmp_path / "figure.png").is_file() and not (tmp_path / "figure").exists()
    (tmp_path / "adir").mkdir()
    code, out, _ = _cli(["plot", str(run), "--out", str(tmp_path / "adir")], capsys)
    assert code == 0 and out.strip() == f"wrote {tmp_path / 'adir.png'}" and (tmp_path / "adir.png").is_file()


def test_bad_tokenizer(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    run = _good(tmp_path / "run")
    empty = tmp_path / "empty_tok"
    empty.mkdir()
    for tok in ("/nonexistent/tok", str(empty)):
        _fails(["analyze", str(run), "--workers", "1", "--tokenizer", tok], capsys, f"cannot load tokenizer {tok!r}")
        _fails(
            ["probe", str(run), "--tokenizer", tok, "--out", str(tmp_path / "p.jsonl")],
            capsys,
            f"cannot load tokenizer {tok!r}",
        )


# -- probe files --------------------------------------------------------------------

PROBE = "samples_tc_probe_2026-01-01T00-00-00.000000.jsonl"


def _probe_line(**doc: Any) -> dict[str, Any]:
    full = {"task": "t", "doc_id": 0, "kind": "early", "k": 0, "original_answer": "1", "target": "1", **doc}
    return {"doc_id": 0, "doc": {k: v for k, v in full.items() if v is not None}, "resps": [["1"]]}


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ({"task": None, "doc_id": None}, "not a tc_probe line (doc lacks task, doc_id)"),
        ({"kind": None}, "not a tc_probe line (doc lacks kind)"),
        ({"doc_id": "abc"}, "doc doc_id is 'abc', not an integer"),
        ({"k": 1e400}, "doc k is inf, not an integer"),
        ({"task": 3}, "doc task is 3, not a string"),
    ],
)
def test_bad_probe_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str], doc: dict[str, Any], why: str) -> None:
    run = _write(tmp_path / "run", json.dumps(_probe_line(**doc)) + "\n", PROBE)
    _fails(["analyze", str(run), "--workers", "1"], capsys, f"{PROBE}:1: {why}")
    _fails(["compare", str(run), str(run)], capsys, f"{PROBE}:1: {why}")


def test_probe_source_with_bad_doc_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("abc", 1.5, True, 1e400):
        run = _lines(tmp_path / "run", [_line(bad)])
        _fails(["probe", str(run), "--out", str(tmp_path / "p.jsonl")], capsys, f"{NAME}:1: doc_id is {bad!r}")


# -- tc_replay: every line checked at load, with its file:line -------------------------


@pytest.mark.parametrize(
    ("rec", "why"),
    [
        ({"doc_id": 0, "response": "x", "finish_reason": 42}, "'finish_reason' must be a string (or null), got 42"),
        ({"doc_id": "abc", "response": "x"}, "'doc_id' must be an integer, got 'abc'"),
        ({"doc_id": 1.5, "response": "x"}, "'doc_id' must be an integer, got 1.5"),
        ({"doc_id": True, "response": "x"}, "'doc_id' must be an integer, got True"),
        ({"doc_id": 0, "task": 7, "response": "x"}, "'task' must be a string (or null), got 7"),
        ({"prompt": ["Q"], "response": "x"}, "'prompt' must be a string (or null)"),
        ({"doc_id": "abc", "resps": [["x"]]}, "'doc_id' must be an integer, got 'abc'"),
    ],
)
def test_replay_refuses_bad_lines_at_load(tmp_path: Path, rec: dict[str, Any], why: str) -> None:
    path = tmp_path / "gens.jsonl"
    path.write_text(json.dumps({"doc_id": 5, "response": "ok"}) + "\n" + json.dumps(rec) + "\n")
    with pytest.raises(ValueError) as info:
        ReplayLM(path=str(path))
    assert str(info.value) == f"tc_replay: {path}:2: {why}" or (
        str(info.value).startswith(f"tc_replay: {path}:2: ") and why in str(info.value)
    )


def test_replay_good_lines_still_load(tmp_path: Path) -> None:
    path = tmp_path / "gens.jsonl"
    rows = [
        {"doc_id": 0, "task": "t", "response": "<think>a", "finish_reason": "length"},
        {"doc_id": 1, "response": "b", "finish_reason": None},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    lm = ReplayLM(path=str(path))
    assert lm._saved.by_doc[("t", 0)][0].finish_reason == "length"


# -- parse_trace's prefilled ------------------------------------------------------------


def test_prefilled_takes_only_true_false_none() -> None:
    assert parse_trace("Let me think", prefilled=False).status.value == "missing"
    assert parse_trace("Let me think", prefilled=True).status.value == "truncated"
    assert parse_trace("Let me think", prefilled=None).status.value == "missing"
    for bad in ("false", "true", "", 0, 1, [True]):
        with pytest.raises(TypeError, match="prefilled must be True, False or None"):
            parse_trace("Let me think", prefilled=bad)  # type: ignore[arg-type]


def test_the_filter_option_still_parses_strings() -> None:
    from lm_eval_tracecollapse.harness.filters import TraceStatusFilter

    assert TraceStatusFilter(prefilled="false").prefilled is False
    assert TraceStatusFilter(prefilled="true").prefilled is True
