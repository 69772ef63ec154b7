"""A widget that fails to render must fail the suite: the detection itself, proven.

Three ways a widget can fail in JupyterLab, each shown to be caught:
- its model or view cannot be loaded (an unknown front-end module): ipywidgets draws an
  error widget in its place;
- the widgets front-end extension is missing altogether: JupyterLab shows only the
  widget's text repr, with no error anywhere;
- "Error displaying widget" / "Loading widget..." left in an output.
"""

from __future__ import annotations

import pytest

from .lab import (
    WidgetsNotRendered,
    assert_widgets_rendered,
    open_notebook,
    run_all_cells,
    write_notebook,
)

pytestmark = pytest.mark.browser

BUTTON = """\
import ipywidgets as w
button = w.Button(description="Probe button")
button.on_click(lambda _: setattr(button, "description", "Clicked"))
button
"""

UNLOADABLE = """\
import ipywidgets as w
from traitlets import Unicode

class Unloadable(w.DOMWidget):
    _model_module = Unicode("opskit-no-such-extension").tag(sync=True)
    _model_module_version = Unicode("^9.9.9").tag(sync=True)
    _model_name = Unicode("NoSuchModel").tag(sync=True)
    _view_module = Unicode("opskit-no-such-extension").tag(sync=True)
    _view_module_version = Unicode("^9.9.9").tag(sync=True)
    _view_name = Unicode("NoSuchView").tag(sync=True)

Unloadable()
"""


@pytest.fixture
def probe_notebooks(notebook_dir):
    folder = notebook_dir / "_browser_probes"
    folder.mkdir(exist_ok=True)
    write_notebook(folder / "button.ipynb", BUTTON)
    write_notebook(folder / "unloadable.ipynb", UNLOADABLE)
    return "_browser_probes"


def test_a_rendered_widget_passes_the_check_and_its_click_reaches_the_kernel(
    page, lab, shots, probe_notebooks
):
    panel = open_notebook(page, lab, f"{probe_notebooks}/button.ipynb")
    run_all_cells(page)
    button = panel.get_by_role("button", name="Probe button")
    button.wait_for()
    assert_widgets_rendered(page)
    shots("button-rendered", button)
    button.click()
    panel.get_by_role("button", name="Clicked").wait_for()
    shots("button-clicked")


def test_a_widget_whose_front_end_module_is_unknown_fails_the_check(
    page, lab, shots, probe_notebooks
):
    panel = open_notebook(page, lab, f"{probe_notebooks}/unloadable.ipynb")
    run_all_cells(page)
    panel.locator(".jupyter-widgets-error-widget").wait_for()
    shots("unloadable-widget")
    with pytest.raises(WidgetsNotRendered, match="error widget"):
        assert_widgets_rendered(page)


def test_a_missing_widgets_extension_fails_the_check(page, lab, shots, probe_notebooks):
    # the extension's files answer 404, as when jupyterlab_widgets is not installed
    page.route("**/lab/extensions/@jupyter-widgets/**", lambda route: route.abort())
    panel = open_notebook(page, lab, f"{probe_notebooks}/button.ipynb")
    run_all_cells(page)
    panel.get_by_text("Button(").first.wait_for()
    shots("no-widgets-extension")
    with pytest.raises(WidgetsNotRendered, match="no widget renderer"):
        assert_widgets_rendered(page)


@pytest.mark.parametrize(
    "output",
    [
        "Error displaying widget: model not found",
        "Error displaying widget",
        "Loading widget...",
    ],
)
def test_failure_text_left_in_an_output_fails_the_check(browser, output):
    page = browser.new_page()
    try:
        page.set_content(
            '<div class="jp-OutputArea-output" data-mime-type="'
            'application/vnd.jupyter.widget-view+json">'
            f'<div class="jupyter-widgets">{output}</div></div>'
        )
        with pytest.raises(WidgetsNotRendered, match=output.split(":")[0]):
            assert_widgets_rendered(page)
    finally:
        page.close()
