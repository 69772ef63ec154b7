"""The owners' dashboard (dashboards/owners.ipynb) served by Voila, as an owner sees it:
it renders, shows the demo's groups, and shows no code and no place to type any."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .lab import ARTIFACTS, BIN, FROZEN_NOW, REPO, free_port

pytestmark = pytest.mark.browser

DASHBOARD = REPO / "dashboards" / "owners.ipynb"
START_SECONDS = 60
DEMO_GROUPS = ["Harbour Street Physiotherapy", "Summit Sports Medicine", "Willow Creek Psychology"]


@pytest.fixture(scope="module")
def voila(tmp_path_factory, demo_db) -> Iterator[str]:
    """``voila`` on the demo data, as ``make dashboard`` starts it; stopped after the module."""
    if not (BIN / "voila").exists():
        pytest.fail(f"voila not found beside {BIN / 'python'} (pip install -e '.[test]')")
    root = tmp_path_factory.mktemp("voila")
    port = free_port()
    env = {
        **os.environ,
        "OPSKIT_DATABASE_URL": f"sqlite:///{demo_db}",
        "OPSKIT_NOW": FROZEN_NOW,
        "JUPYTER_CONFIG_DIR": str(root / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(root / "jupyter-runtime"),
        "JUPYTER_DATA_DIR": str(root / "jupyter-data"),
        "IPYTHONDIR": str(root / "ipython"),
    }
    log_path = root / "voila.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(BIN / "voila"),
                str(DASHBOARD),
                "--no-browser",
                f"--port={port}",
                "--Voila.ip=127.0.0.1",
                "--strip_sources=True",
                "--show_tracebacks=False",
            ],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"voila exited early:\n{log_path.read_text(errors='replace')}")
            try:  # listening: a page request would run the notebook, so only connect
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"voila did not answer in {START_SECONDS}s:\n{_tail(log_path)}")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def dashboard(browser, voila):
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(60_000)
    offsite: list[str] = []

    def guard(route):
        if route.request.url.startswith(voila):
            route.continue_()
        else:
            offsite.append(route.request.url)
            route.abort()

    # Voila's page template asks a CDN for an icon font and a shim: refused here (the
    # suite runs offline), and the dashboard works without them
    context.route("**/*", guard)
    page = context.new_page()
    page.goto(voila)
    page.get_by_text("Dormant candidates").first.wait_for()
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    context.close()
    assert all(url.startswith("https://cdn.jsdelivr.net/") for url in offsite), offsite


def test_the_dashboard_renders_the_first_group_with_its_counts_and_tables(dashboard):
    assert dashboard.locator("h2").first.inner_text() == DEMO_GROUPS[0]
    assert "active members" in dashboard.locator(".opskit-counts").inner_text()
    assert dashboard.locator("table.opskit-table").count() >= 1
    assert "noah.kim@harbourphysio.example" in dashboard.content()  # a dormant member


def test_the_dashboard_offers_the_demo_groups_and_switches_between_them(dashboard):
    picker = dashboard.locator("select")
    options = [text.replace("\xa0", " ") for text in picker.locator("option").all_inner_texts()]
    assert options == DEMO_GROUPS
    picker.select_option(label=DEMO_GROUPS[2])
    dashboard.get_by_role("heading", name=DEMO_GROUPS[2]).wait_for()
    assert "paul.dubois@willowcreek.example" in dashboard.content()


def test_the_dashboard_shows_no_code_and_nothing_to_run_it_with(dashboard):
    content = dashboard.content()
    for source in ("import ipywidgets", "owner_view(", "picker.observe"):
        assert source not in content
    for editor in (".jp-CodeCell .jp-InputArea", ".cm-editor", ".CodeMirror", "textarea"):
        assert dashboard.locator(editor).count() == 0, editor
    assert dashboard.get_by_role("button", name="Run").count() == 0
