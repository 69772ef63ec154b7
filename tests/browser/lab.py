"""Driving JupyterLab in Chromium: start a server, open a notebook, run it, check widgets.

Everything here talks to JupyterLab the way an analyst does (URLs, menus, clicks). To
wait reliably it reads what the page shows (the kernel status in the status bar and
toolbar, the cells' execution prompts), and to count widget outputs it reads the
notebook's model through ``window.jupyterapp``; it never acts through the app object.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHROMIUM = Path(os.environ.get("OPSKIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FROZEN_NOW = "2026-07-01T09:00:00Z"
ARTIFACTS = REPO / "test-artifacts" / "browser"
# CI sets this: a suite that cannot run fails instead of skipping
REQUIRED = os.environ.get("OPSKIT_REQUIRE_BROWSER") == "1"

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# What ipywidgets' JupyterLab manager writes where a widget could not be shown; "Loading
# widget..." is only a failure once the notebook has finished running.
WIDGET_FAILURE_TEXTS = (
    "Error displaying widget",
    "Loading widget...",
    "Failed to load model class",
    "Failed to load view class",
    "Failed to create view",
    "Could not create a view",
)

# Nothing of JupyterLab's may reach the network: no news feed, no update check, no PyPI
# extension manager; settings and workspaces live in the run's temp dir.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    # every cell stays in the DOM, so outputs below the fold can be found and checked
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
    },
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LabServer:
    """A ``jupyter lab`` process serving a temp copy of the notebooks."""

    root: Path
    notebook_dir: Path
    database_url: str
    # more of the server's environment: JUPYTERHUB_USER, as JupyterHub sets it for each
    # user's own server, makes the kernels' login that user's (opskit/identity.py)
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str, **query: str) -> str:
        params = "&".join([f"token={self.token}", *(f"{k}={v}" for k, v in query.items())])
        return f"{self.base_url}/{path.lstrip('/')}?{params}"

    def start(self, timeout: float = 90.0) -> None:
        settings_dir = self.root / "lab-user-settings"
        for name, value in LAB_SETTINGS.items():
            path = settings_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        env = {
            **os.environ,
            "OPSKIT_DATABASE_URL": self.database_url,
            "OPSKIT_NOW": FROZEN_NOW,
            # keep the user's own Jupyter and IPython configuration out of the run
            "JUPYTER_CONFIG_DIR": str(self.root / "jupyter-config"),
            "JUPYTER_RUNTIME_DIR": str(self.root / "jupyter-runtime"),
            "JUPYTER_DATA_DIR": str(self.root / "jupyter-data"),
            "IPYTHONDIR": str(self.root / "ipython"),
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "PYTHONUNBUFFERED": "1",
            **self.env,
        }
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        command = [
            str(BIN / "jupyter"),
            "lab",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.notebook_dir}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            f"--LabApp.user_settings_dir={settings_dir}",
            f"--LabApp.workspaces_dir={self.root / 'lab-workspaces'}",
            # window.jupyterapp, read by widget_outputs() to count the notebook's widgets
            "--LabApp.expose_app_in_browser=True",
        ]
        self.log_path = self.root / "jupyter-lab.log"
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command, cwd=self.notebook_dir, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited early:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"jupyter lab did not answer within {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def api(self, method: str, path: str) -> object:
        request = urllib.request.Request(self.url(path), method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """End every notebook session, so the next test starts from a fresh kernel."""
        for session in self.api("GET", "api/sessions") or []:
            self.api("DELETE", f"api/sessions/{session['id']}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def new_page(browser: Browser, lab: LabServer) -> Page:
    """A page in a context of its own; anything not on the lab's port is refused, and
    recorded in ``page.offsite_requests``."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.offsite_requests = []
    page.page_errors = []

    def guard(route):
        if route.request.url.startswith(lab.base_url):
            route.continue_()
        else:
            page.offsite_requests.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page.on("pageerror", lambda error: page.page_errors.append(str(error)))
    return page


def copy_notebooks(source: Path, target: Path) -> None:
    """Copy the notebooks and what lies beside them (examples/), so that a run never edits
    the originals; not what earlier runs wrote (build/, checkpoints)."""
    shutil.copytree(
        source,
        target,
        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "build"),
        dirs_exist_ok=True,
    )


def write_notebook(path: Path, *sources: str) -> Path:
    """A minimal notebook of code cells, for the suite's own probes."""
    cells = [
        {
            "cell_type": "code",
            "id": f"cell-{index}",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": source,
        }
        for index, source in enumerate(sources)
    ]
    notebook = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook, indent=1))
    return path


def require_notebook(lab: LabServer, name: str) -> None:
    """Skip (or, when required, fail) a test whose notebook has not been written yet."""
    if not (lab.notebook_dir / name).exists():
        message = f"notebooks/{name} does not exist yet"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)


class WidgetsNotRendered(AssertionError):
    pass


def widget_failures(page: Page) -> list[str]:
    """What on the page says a widget failed to render (empty when all is well)."""
    return page.evaluate(
        """(texts) => {
            const found = [];
            for (const node of document.querySelectorAll('.jupyter-widgets-error-widget')) {
                found.push('error widget: ' + node.innerText.trim().slice(0, 200));
            }
            const outputs = document.querySelectorAll('.jp-OutputArea-output, .jp-Cell-outputArea');
            const scope = outputs.length ? outputs : [document.body];
            for (const area of scope) {
                const text = area.innerText || '';
                for (const needle of texts) {
                    if (text.includes(needle)) {
                        found.push(needle + ': ' + text.trim().slice(0, 200));
                    }
                }
            }
            return [...new Set(found)];
        }""",
        list(WIDGET_FAILURE_TEXTS),
    )


def widget_outputs(page: Page) -> dict:
    """The current notebook's widget outputs: in its model, and rendered as ipywidgets DOM.

    Read through ``window.jupyterapp`` (the server runs with ``expose_app_in_browser``),
    looking only, never acting.
    """
    return page.evaluate(
        """(mime) => {
            const panel = window.jupyterapp.shell.currentWidget;
            const notebook = panel.content;
            let expected = 0;
            for (const cell of notebook.model.cells) {
                const outputs = cell.type === 'code' ? cell.outputs.toJSON() : [];
                for (const output of outputs) {
                    const view = output.data && output.data[mime];
                    if (view && view.model_id) expected += 1;
                }
            }
            const rendered = [...panel.node.querySelectorAll('.jp-OutputArea-output')]
                .filter(node => node.querySelector(':scope > .jupyter-widgets')).length;
            return {expected, rendered, renderer: notebook.rendermime.mimeTypes.includes(mime)};
        }""",
        WIDGET_MIME,
    )


def assert_widgets_rendered(page: Page, *, at_least: int = 1) -> None:
    """Fail unless every widget output of the notebook rendered as a widget.

    Three signs of failure: ipywidgets' own error text or error widget in an output; no
    renderer for widget outputs at all (the front-end extension is missing: JupyterLab
    then shows only each widget's text repr, with no error anywhere); fewer rendered
    widgets than the notebook's outputs hold, or than the test expects.
    """
    failures = widget_failures(page)
    if failures:
        raise WidgetsNotRendered("widgets failed to render:\n  " + "\n  ".join(failures))
    outputs = widget_outputs(page)
    if outputs["expected"] and not outputs["renderer"]:
        raise WidgetsNotRendered(
            f"{outputs['expected']} widget output(s) but no widget renderer: "
            "the @jupyter-widgets/jupyterlab-manager extension is not loaded"
        )
    if outputs["rendered"] < max(at_least, outputs["expected"]):
        raise WidgetsNotRendered(
            f"{outputs['rendered']} widget(s) rendered, expected "
            f"{max(at_least, outputs['expected'])} ({outputs['expected']} in the outputs)"
        )


def notebook_panel(page: Page) -> Locator:
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").first


def open_notebook(page: Page, lab: LabServer, name: str, *, timeout: float = 60_000) -> Locator:
    """Open ``name`` in a clean workspace and wait until its kernel is ready."""
    workspace = f"t{secrets.token_hex(4)}"
    page.goto(lab.url(f"lab/workspaces/{workspace}/tree/{name}", reset=""), timeout=timeout)
    panel = notebook_panel(page)
    panel.locator(".jp-Notebook").wait_for(timeout=timeout)
    wait_kernel_idle(page, timeout=timeout)
    return panel


def wait_kernel_idle(page: Page, *, timeout: float = 60_000) -> None:
    """Wait for the status bar to say "<kernel> | Idle" and the toolbar indicator to agree.

    Before the kernel has started the indicator also reads idle while the status bar says
    "No Kernel | Initializing", so the kernel's name must be there too.
    """
    page.wait_for_function(
        """(panel) => {
            const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
            const items = [...document.querySelectorAll('.jp-StatusBar-TextItem')];
            const kernel = items.some(item => {
                const text = item.textContent.trim();
                return / \\| Idle$/.test(text) && !text.startsWith('No Kernel');
            });
            return kernel && indicator && indicator.dataset.status === 'idle';
        }""",
        arg=notebook_panel(page).element_handle(),
        timeout=timeout,
        polling=200,
    )


def run_all_cells(page: Page, *, timeout: float = 120_000) -> None:
    """Run > Run All Cells, then wait until every code cell has run and the kernel is idle."""
    panel = notebook_panel(page)
    panel.locator(".jp-Notebook").click(position={"x": 5, "y": 5})
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    wait_all_cells_ran(page, timeout=timeout)


def wait_all_cells_ran(page: Page, *, timeout: float = 120_000) -> None:
    """Wait until every code cell shows an execution count and the kernel is idle again.

    JupyterLab stops a run at the first cell that raises, leaving the rest unrun: then
    fail at once with that cell's traceback.
    """
    panel = notebook_panel(page)
    page.wait_for_function(
        """(panel) => {
            const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
            const texts = prompts.map(p => p.textContent);
            if (texts.length && texts.every(t => /\\[\\d+\\]/.test(t))) return true;
            const raised = panel.querySelector(
                '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]');
            return Boolean(raised) && !texts.some(t => t.includes('*'));
        }""",
        arg=panel.element_handle(),
        timeout=timeout,
        polling=250,
    )
    wait_kernel_idle(page, timeout=timeout)
    errors = panel.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    raised = [text for text in errors.all_inner_texts() if "Traceback" in text]
    if raised:
        raise AssertionError("a cell raised:\n" + raised[0][-3000:])


def choose_options(select: Locator, *needles: str) -> list[str]:
    """Choose, in a ``<select>``, the options whose text contains each needle.

    ipywidgets' option labels carry more than a test knows ("Name <email> · inactive")
    and turn spaces into no-break spaces, so options are matched on normalised text.
    """
    texts = [" ".join(text.split()) for text in select.locator("option").all_inner_texts()]
    indexes = []
    for needle in needles:
        matches = [i for i, text in enumerate(texts) if needle in text]
        if len(matches) != 1:
            raise AssertionError(f"{len(matches)} options contain {needle!r}: {texts}")
        indexes.append(matches[0])
    select.select_option(index=indexes)
    return [texts[i] for i in indexes]


@contextlib.contextmanager
def picture_on_failure(page: Page, name: str):
    """For set-up done outside a test (a module's shared notebook): a screenshot when it fails."""
    try:
        yield
    except BaseException:
        folder = ARTIFACTS / name
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            page.screenshot(path=str(folder / "failure.png"))
        raise


@dataclass
class Shots:
    """Numbered screenshots of one test, under test-artifacts/browser/<test>/."""

    page: Page
    folder: Path
    count: int = 0

    def __call__(self, name: str, target: Locator | None = None) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        if target is not None:
            # a picture is worth taking even when its subject cannot be scrolled to
            with contextlib.suppress(Exception):
                target.scroll_into_view_if_needed(timeout=2_000)
        self.page.screenshot(path=str(path))
        return path


def assert_in_view(page: Page, target: Locator, what: str) -> None:
    """Fail unless ``target`` is wholly inside the window and on top at its centre: what
    a click caused must be where the analyst is looking, not beyond a long table."""
    box = target.bounding_box()
    size = page.viewport_size
    assert box is not None and size is not None, f"{what} is not shown"
    assert box["y"] >= 0 and box["y"] + box["height"] <= size["height"], (
        f"{what} is out of view: y={box['y']:.0f}..{box['y'] + box['height']:.0f} "
        f"in a window {size['height']} px high"
    )
    on_top = target.evaluate(
        """(node) => {
            const r = node.getBoundingClientRect();
            const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
            return Boolean(hit) && node.contains(hit);
        }"""
    )
    assert on_top, f"{what} is covered by something else"


def assert_beside(page: Page, target: Locator, control: Locator, what: str) -> None:
    """Fail unless ``target`` starts right under ``control`` (the button that caused it)
    and its first line is inside the window."""
    box, under = target.bounding_box(), control.bounding_box()
    size = page.viewport_size
    assert box is not None and under is not None and size is not None, f"{what} is not shown"
    gap = box["y"] - (under["y"] + under["height"])
    assert 0 <= gap <= 48, f"{what} is {gap:.0f} px from the button that caused it"
    assert 0 <= box["y"] <= size["height"] - 20, f"{what} starts out of view at y={box['y']:.0f}"
