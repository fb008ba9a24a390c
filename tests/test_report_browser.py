"""The report in a real browser: headless Chromium renders the tiny sweep's page without a console error,
the table, charts and highlighted sentences have a size on screen, and the page's controls work.

How: a copy of the page gets two test hooks, one first in <head> that records errors (script errors,
failed loads, Content-Security-Policy violations, console.error/warn) and one last in <body> that
measures elements, clicks a header, switches the select box and filters, then writes what it saw as
JSON into the DOM. ``chromium --dump-dom`` prints that DOM; its stderr (``--enable-logging=stderr``)
must hold no console line, since the page itself never logs. A second run saves a screenshot. No
DevTools protocol, so no websocket client is needed.

Without Chromium the tests skip, except under CI=true, where they fail (CI installs it: .ci/run).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_report import build_sweep

from tagger.report import write_report

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars"]

HEAD_HOOK = """<script>
window.__errors = [];
window.addEventListener("error", function (e) {
  var what = e.message || (e.target && e.target.outerHTML ? "failed to load " + e.target.outerHTML.slice(0, 120) : "?");
  window.__errors.push("error: " + what);
}, true);
window.addEventListener("unhandledrejection", function (e) { window.__errors.push("rejection: " + e.reason); });
document.addEventListener("securitypolicyviolation", function (e) {
  window.__errors.push("csp: " + e.violatedDirective + " " + e.blockedURI);
});
["error", "warn"].forEach(function (level) {
  var orig = console[level];
  console[level] = function () {
    window.__errors.push(level + ": " + Array.prototype.join.call(arguments, " "));
    orig.apply(console, arguments);
  };
});
</script>"""

TAIL_HOOK = """<script>
(function () {
  function box(el) {
    var r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return {w: r.width, h: r.height, shown: s.display !== "none" && s.visibility !== "hidden" && r.width > 0 && r.height > 0};
  }
  function boxes(sel) { return Array.prototype.map.call(document.querySelectorAll(sel), box); }
  function attr(sel, name) { return Array.prototype.map.call(document.querySelectorAll(sel), function (e) { return e.getAttribute(name); }); }
  function shown(sel, name) {
    return Array.prototype.filter.call(document.querySelectorAll(sel), function (e) { return box(e).shown; })
      .map(function (e) { return e.getAttribute(name); });
  }
  var out = {table: boxes("#summary-table"), tableRows: boxes("#summary-table tbody tr"), charts: boxes("svg.chart"),
             dots: boxes("svg.chart circle"), stacks: boxes("svg.stack"), sentences: boxes(".sent"),
             marks: boxes(".sent mark.ent"), confusion: shown(".row-panel", "data-row")};
  var th = document.querySelector('#summary-table th[data-key="test_f1"]');
  th.click();
  out.sortFirst = attr("#summary-table tbody tr", "data-row");
  th.click();
  out.sortSecond = attr("#summary-table tbody tr", "data-row");
  out.sortState = th.getAttribute("aria-sort");
  var sel = document.getElementById("row-select");
  sel.value = "1";
  sel.dispatchEvent(new Event("change"));
  out.confusionAfter = shown(".row-panel", "data-row");
  var ft = document.getElementById("filter-type"), fc = document.getElementById("filter-class");
  ft.value = Array.prototype.filter.call(ft.options, function (o) { return o.text === "PER"; })[0].value;
  ft.dispatchEvent(new Event("change"));
  out.byType = shown(".sent", "data-types").length;
  fc.value = "spurious";
  fc.dispatchEvent(new Event("change"));
  out.byTypeAndClass = Array.prototype.filter.call(document.querySelectorAll(".sent"), function (e) { return box(e).shown; })
    .map(function (e) { return e.querySelector(".sent-no").textContent; });
  out.count = document.getElementById("filter-count").textContent;
  out.errors = window.__errors;
  var pre = document.createElement("pre");
  pre.id = "selftest";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Chromium is not installed (CI installs it in .ci/run)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return path


def run_chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=120, check=False)


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> dict[str, Any]:
    """What the hooks saw (``result``, None when they did not run), the console lines and the page's path."""
    tmp = tmp_path_factory.mktemp("browser")
    report = write_report(build_sweep(tmp / "sweep"))
    text = report.read_text(encoding="utf-8")
    hooked = tmp / "hooked.html"
    hooked.write_text(text.replace("<head>", "<head>\n" + HEAD_HOOK, 1).replace("</body>", TAIL_HOOK + "\n</body>", 1),
                      encoding="utf-8")
    proc = run_chromium(chromium, tmp / "profile", "--enable-logging=stderr", "--v=0", "--window-size=1280,2000",
                        "--dump-dom", hooked.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'<pre id="selftest">(.*?)</pre>', proc.stdout, re.S)
    return {"result": json.loads(html.unescape(found.group(1))) if found else None, "report": report,
            "console": console_lines(proc.stderr), "stderr": proc.stderr}


@pytest.fixture(scope="module")
def result(page: dict[str, Any]) -> dict[str, Any]:
    assert page["result"] is not None, "the test hook did not run:\n" + page["stderr"][-2000:]
    return page["result"]


def test_no_console_error(page, result):
    assert page["console"] == []  # the page never logs: any console line is a failure
    assert result["errors"] == []


def test_table_charts_and_sentences_are_visible(result):
    assert [b["shown"] for b in result["table"]] == [True]
    assert len(result["tableRows"]) == 2 and all(b["shown"] for b in result["tableRows"])
    assert len(result["charts"]) == 1 and result["charts"][0]["w"] > 200 and result["charts"][0]["h"] > 100
    assert len(result["dots"]) == 2 * 2 * 5 and all(b["shown"] for b in result["dots"])  # rows x seeds x groups
    assert len(result["stacks"]) == 2 and all(b["shown"] for b in result["stacks"])
    assert len(result["sentences"]) == 7 and all(b["shown"] for b in result["sentences"])
    assert result["marks"] and all(b["shown"] and b["h"] > 10 for b in result["marks"])


def test_controls_sort_select_and_filter(result):
    # ce has the higher mean test F1 in the fixture: descending first, then ascending
    assert result["sortFirst"] == ["ce", "focal(gamma=2.0)"]
    assert result["sortSecond"] == ["focal(gamma=2.0)", "ce"] and result["sortState"] == "ascending"
    assert result["confusion"] == ["ce"] and result["confusionAfter"] == ["focal(gamma=2.0)"]
    # PER in 4 shown sentences (1, 4, 5, 10); spurious PER only in sentence 5 (focal seed 1, "Nothing")
    assert result["byType"] == 4
    assert result["byTypeAndClass"] == ["sentence 5"] and result["count"] == "1 of 7 shown"


def test_screenshot(page, chromium: str, tmp_path: Path):
    report = page["report"]
    shot = tmp_path / "report.png"
    proc = run_chromium(chromium, tmp_path / "profile", "--window-size=1280,2400", f"--screenshot={shot}",
                        report.as_uri())
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    assert png_size(shot) == (1280, 2400) and shot.stat().st_size > 20_000
