"""The browser suite: JupyterLab on the demo data, driven by Debian's Chromium.

One JupyterLab server and one Chromium serve the whole session; each test gets a fresh
page and its notebook kernels are shut down after it. The suite skips, saying why, when
``/usr/bin/chromium`` or Playwright is missing, unless ``OPSKIT_REQUIRE_BROWSER=1`` (as
in CI), which turns the skip into a failure. It needs one process: under pytest-xdist
it skips (run it with ``pytest -p no:xdist -m browser tests/browser``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from .lab import (
    ARTIFACTS,
    BIN,
    CHROMIUM,
    CHROMIUM_ARGS,
    FROZEN_NOW,
    REPO,
    REQUIRED,
    LabServer,
    Shots,
    copy_notebooks,
    new_page,
)


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab in headless Chromium")


def _missing() -> str | None:
    """Why the suite cannot run here, or None."""
    if not (CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} not found (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not (BIN / "jupyter").exists():
        return f"jupyter not found beside {BIN / 'python'} (pip install -e '.[test]')"
    return None


@pytest.hookimpl(trylast=True)  # after -m has deselected: judge only what will run
def pytest_collection_modifyitems(config, items):
    browser_items = [item for item in items if item.get_closest_marker("browser")]
    if not browser_items:
        return
    if os.environ.get("PYTEST_XDIST_WORKER"):
        reason = (
            "the browser suite drives one JupyterLab and runs in one process: "
            "pytest -p no:xdist -m browser tests/browser"
        )
    else:
        reason = _missing()
        if reason and REQUIRED:
            raise pytest.UsageError(f"OPSKIT_REQUIRE_BROWSER=1 but {reason}")
    if reason:
        for item in browser_items:
            item.add_marker(pytest.mark.skip(reason=f"browser suite skipped: {reason}"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> Path:
    """A fresh SQLite copy of the demo data, shared by the session's notebooks."""
    path = tmp_path_factory.mktemp("browser-db") / "opskit.db"
    result = subprocess.run(
        [str(BIN / "opskit"), "demo", "--db", f"sqlite:///{path}"],
        capture_output=True,
        text=True,
        env={**os.environ, "OPSKIT_NOW": FROZEN_NOW},
    )
    if result.returncode != 0:
        pytest.fail(f"opskit demo failed:\n{result.stdout}{result.stderr}")
    return path


@pytest.fixture(scope="session")
def demo_engine(demo_db):
    """SQLAlchemy on the demo database the notebooks work on, to check what they did."""
    engine = sa.create_engine(f"sqlite:///{demo_db}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def lab(tmp_path_factory, demo_db) -> LabServer:
    root = tmp_path_factory.mktemp("lab")
    notebook_dir = root / "notebooks"
    copy_notebooks(REPO / "notebooks", notebook_dir)
    server = LabServer(root=root, notebook_dir=notebook_dir, database_url=f"sqlite:///{demo_db}")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, lab):
    """A fresh page for one test; its notebooks' kernels are shut down after it."""
    page = new_page(browser, lab)
    yield page
    page.context.close()
    lab.shutdown_kernels()


@pytest.fixture
def shots(request, page, lab):
    """Numbered screenshots under test-artifacts/browser/<test>/, a last one (with the
    page's errors and the server's log) when the test fails; and no request may have
    left localhost."""
    folder = _artifact_folder(request.node)
    shutil.rmtree(folder, ignore_errors=True)  # a previous run's pictures would mislead
    folder.mkdir(parents=True)
    yield Shots(page=page, folder=folder)
    reports = (getattr(request.node, f"report_{when}", None) for when in ("setup", "call"))
    if any(report is not None and report.failed for report in reports):
        # the report of a failure must not raise a second one
        with contextlib.suppress(Exception):
            page.screenshot(path=str(folder / "failure.png"))
        (folder / "page-errors.txt").write_text("\n".join(page.page_errors))
        (folder / "jupyter-lab.log").write_text(lab.log_tail(400))
    if page.offsite_requests:
        pytest.fail(f"requests left localhost: {sorted(set(page.offsite_requests))}")


def _artifact_folder(node) -> Path:
    name = node.nodeid.split("::")[-1]
    for ch in "[]/ :":
        name = name.replace(ch, "_")
    return ARTIFACTS / name


@pytest.fixture
def notebook_dir(lab) -> Path:
    return lab.notebook_dir
