"""scripts/fault_probe.py: its table of fault cases, the fast ones (nothing trains) run here as tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from test_recipe import REPO

sys.path.insert(0, str(REPO / "scripts"))
import fault_probe  # noqa: E402
from _fault_harness import HUB_TOKEN_VARIABLES  # noqa: E402

FAST = [case for case in fault_probe.CASES if case.fast and not case.unit_test]  # the others: in-process tests


@pytest.fixture(autouse=True)
def in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe's command lines run in this process (tests/recipe_runner.py), each as a child process would run
    it: same arguments, folder, environment (no Hub token) and exit code, without 7 s of imports per case. The
    cases that need a process of their own (signals) start one as the probe does."""
    import recipe_runner

    def run_cli(cwd: Path, *args: str, timeout: int = 300, **env: str) -> recipe_runner.Completed:
        return recipe_runner.run_cli(cwd, *args, env_extra=env, drop_env=HUB_TOKEN_VARIABLES)

    def run_recipe(cwd: Path, args: list[str], timeout: int = 600) -> recipe_runner.Completed:
        return recipe_runner.run_in_process(args, cwd, drop_env=HUB_TOKEN_VARIABLES)

    monkeypatch.setattr(fault_probe, "run_cli", run_cli)
    monkeypatch.setattr(fault_probe, "run_recipe", run_recipe)


@pytest.fixture()
def ws(probe_workspace: fault_probe.Workspace) -> fault_probe.Workspace:
    return probe_workspace


def test_the_table_covers_every_kind_of_fault() -> None:
    names = [case.name for case in fault_probe.CASES]
    assert len(names) == len(set(names))
    for prefix in ("config-", "data-", "model-", "recipe-broken-encoder", "output-", "empty-", "push-", "predict-sigterm",
                   "resume-sigterm-epoch-1", "resume-sigterm-epoch-2", "resume-sigkill"):
        assert any(n.startswith(prefix) for n in names), prefix
    assert {n for n in names if n.startswith("model-")} == {f"model-{m}" for m in fault_probe.BROKEN_MODELS}
    assert not any(case.fast for case in fault_probe.CASES if case.name.startswith("resume-"))


def test_every_case_left_out_here_is_run_by_the_unit_test_named() -> None:
    import importlib

    for case in fault_probe.CASES:
        if not case.unit_test:
            continue
        path, _, test = case.unit_test.partition("::")
        assert (REPO / path).is_file(), case.name
        if test:
            module = importlib.import_module(Path(path).stem)
            assert callable(getattr(module, test, None)), (case.name, case.unit_test)


@pytest.mark.parametrize("case", FAST, ids=[case.name for case in FAST])
def test_fast_case(case: fault_probe.Case, ws: fault_probe.Workspace) -> None:
    verdict = fault_probe.run_case(case, ws)
    if verdict.status == "skip":
        pytest.skip(verdict.observed)
    assert verdict.status == "pass", f"expected: {case.expected}\nobserved: {verdict.observed}"


def test_the_report_and_exit_code(ws: fault_probe.Workspace, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    failing = fault_probe.Case("always-fails", "nothing", lambda w, here: fault_probe.Verdict("FAIL", "something"))
    passing = fault_probe.Case("always-passes", "x", lambda w, here: fault_probe.Verdict("pass", "x"))
    broken = fault_probe.Case("probe-breaks", "x", lambda w, here: 1 / 0)
    monkeypatch.setattr(fault_probe, "CASES", [passing, failing, broken])
    assert fault_probe.main(["--case", "always-passes"]) == 0
    assert fault_probe.main([]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] always-fails" in out and "observed: something" in out
    assert "observed: the probe broke: ZeroDivisionError" in out
    assert out.splitlines()[-1].startswith("total: 3 cases, 1 passed, 2 failed, 0 skipped")
