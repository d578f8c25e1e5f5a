"""The documented front door through the real ``tracecollapse`` command: the commands the
README and docs name run as named (``tracecollapse demo``), ``--version``, ``wrap --all``'s
exit status, the install line a missing extra names."""

from __future__ import annotations

from pathlib import Path

import pytest
from testenv import REPO, run_tracecollapse


def test_demo_subcommand_takes_the_demos_flags(tmp_path: Path) -> None:
    """``tracecollapse demo`` is the demo (``python -m lm_eval_tracecollapse.demo``) with its
    own flags, not ``unrecognized arguments: demo``."""
    run = run_tracecollapse(["tracecollapse", "demo", "--help"], tmp_path)
    assert run.returncode == 0, run.stderr
    assert "usage: tracecollapse demo" in run.stdout and "--out" in run.stdout and "--write-docs" in run.stdout
    bad = run_tracecollapse(["tracecollapse", "demo", "--no-such-flag"], tmp_path)
    assert bad.returncode == 2 and "unrecognized arguments: --no-such-flag" in bad.stderr
    assert "demo" not in bad.stderr.split("unrecognized arguments:")[1]


def test_version(tmp_path: Path) -> None:
    from importlib.metadata import version

    run = run_tracecollapse(["tracecollapse", "--version"], tmp_path)
    assert run.returncode == 0
    assert run.stdout.strip() == f"tracecollapse {version('lm-eval-tracecollapse')} (lm-eval {version('lm_eval')})"


@pytest.mark.slow
def test_wrap_all_exits_0_and_lists_what_it_cannot_wrap(tmp_path: Path) -> None:
    """``--all`` names every task and group lm-eval lists, some of which hold nothing to trace:
    they are listed, and the command succeeds when it wrapped every wrappable one; a name you
    give that cannot be wrapped still fails it."""
    out = tmp_path / "all"
    run = run_tracecollapse(["tracecollapse", "wrap", "--all", "--out", str(out)], tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    written = int(run.stdout.split("wrapped ", 1)[1].split(" of ")[0])
    assert written > 4000 and len(list(out.glob("*.yaml"))) >= written
    assert "not wrappable (" in run.stderr and "multiple_choice" in run.stderr
    mixed = run_tracecollapse(["tracecollapse", "wrap", "gsm8k", "hellaswag", "--out", str(tmp_path / "m")], tmp_path)
    assert mixed.returncode == 1 and "cannot wrap 1:" in mixed.stderr and "hellaswag" in mixed.stderr


def test_license_is_the_apache_2_0_pyproject_names() -> None:
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text
    assert 'license = "Apache-2.0"' in (REPO / "pyproject.toml").read_text(encoding="utf-8")


def _progress_states(stderr: str, label: str) -> list[str]:
    """The successive states of the tqdm bar ``label`` (its lines, split on carriage returns)."""
    return [x.split("|")[2].split("[")[0].strip() for x in stderr.replace("\r", "\n").splitlines()
            if x.startswith(label) and x.count("|") >= 2]  # fmt: skip


@pytest.mark.slow
def test_reading_and_building_the_page_show_progress(tmp_path: Path) -> None:
    """One 9 MB samples file: ``analyze`` shows the bytes read inside it (was: 0/1 files until
    the file was done), ``report`` too, then each step of building the page."""
    import json
    import subprocess
    import sys

    run = tmp_path / "run"
    run.mkdir()
    trace = "Let me add the numbers one by one and check each step. " * 36  # 2 kB
    line = {"resps": [[f"<think>{trace}</think>4"]], "filter": "none", "metrics": ["exact_match"], "exact_match": 1.0}
    (run / "samples_t_2026-01-01T00-00-00.jsonl").write_text(
        "".join(json.dumps({"doc_id": i, **line}) + "\n" for i in range(4500))
    )
    env = {**__import__("os").environ, "TQDM_MININTERVAL": "0"}
    env.pop("TQDM_DISABLE", None)
    for argv, bars in ((["analyze", str(run)], ["reading samples"]),
                       (["report", str(run), "--html", str(tmp_path / "r.html")],
                        ["reading samples", "building the page"])):  # fmt: skip
        done = subprocess.run([sys.executable, "-m", "lm_eval_tracecollapse", *argv, "--workers", "1"], env=env,
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        reading = _progress_states(done.stderr, "reading samples")
        assert reading[-1].endswith("9.06M/9.06M") or reading[-1].split("/")[0] == reading[-1].split("/")[1]
        inside = [s for s in reading if not s.startswith("0.00") and s.split("/")[0] != s.split("/")[1]]
        assert inside, reading  # bytes counted while the one file was read
        for bar in bars[1:]:
            steps = _progress_states(done.stderr, bar)
            assert steps and steps[-1] == "3/3", steps  # summaries, the page, writing it (one run: no comparison)


def test_analyze_and_compare_write_json(tmp_path: Path) -> None:
    """``--json OUT``: the numbers the text shows, N/A as null, with the runs read."""
    import json
    import re

    fix = REPO / "tests" / "fixtures" / "lm_eval_run"
    out = tmp_path / "a.json"
    run = run_tracecollapse(["tracecollapse", "analyze", str(fix), "--json", str(out)], tmp_path)
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    assert [r["name"] for r in data["runs"]] == ["base", "finetuned"]
    base, ft = data["summaries"]
    vr = base["rates"]["valid_rate"]
    assert f"VR {vr['value']:.3f} [{vr['ci'][0]:.3f}, {vr['ci'][1]:.3f}]" in run.stdout
    assert ft["rpass@1"] is None and ft["pass@1"]["n"] == 16  # N/A: no valid trace left
    out = tmp_path / "c.json"
    run = run_tracecollapse(["tracecollapse", "compare", str(fix / "base"), str(fix / "finetuned"), "--json", str(out)],
                            tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    assert (data["base"]["name"], data["new"]["name"]) == ("base", "finetuned")
    [block] = data["comparisons"]
    rows = {r["metric"]: r for r in block["rows"]}
    vr_row = rows["valid_rate"]
    assert re.search(rf"VR +0.500 -> 0.000   Δ -0.500 \[{vr_row['ci'][0]:+.3f}, {vr_row['ci'][1]:+.3f}\]   McNemar "
                     rf"p={vr_row['p']:.3g}", run.stdout)  # fmt: skip
    assert rows["rpass@1"]["new"] is None and rows["rpass@1"]["delta"] is None
    assert block["transitions"]["valid"]["missing"] == 5
