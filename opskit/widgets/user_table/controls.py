"""The user table's controls: the filter bar, a row of the list, a button.

Each draws a part of the model and reports what the analyst did through the callbacks
it is given; none holds state of its own or calls the library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ... import schema as s
from .html import (
    CHECK_WIDTH,
    COLUMN_GAP,
    COLUMNS,
    DETAILS_WIDTH,
    GRID_COLUMNS,
    row_html,
    sort_title,
    sort_tooltip,
)
from .model import LEVEL_LABELS, PAGE_SIZES, ROLE_LABELS, SORTS, Key, UserTableModel

# The "any" choice of a filter dropdown. Not None: ipywidgets 8 reads a None value as
# "nothing selected" and shows a blank box.
ANY = ""
LEVEL_CHOICES = [(LEVEL_LABELS[level], level) for level in s.ALL_LEVELS]


def shown(value: Any) -> Any:
    """A filter's value as its dropdown holds it (None: the "any" choice)."""
    return ANY if value is None else value


def button(
    description: str,
    on_click: Callable[[], None],
    *,
    icon: str = "",
    style: str = "",
    width: str | None = None,
    tooltip: str | None = None,
) -> w.Button:
    widget = w.Button(
        description=description,
        icon=icon,
        button_style=style,
        tooltip=tooltip,
        # a button keeps its size: a crowded line wraps instead of squashing its words
        layout=w.Layout(width=width or "auto", flex="0 0 auto"),
    )
    widget.on_click(lambda _: on_click())
    return widget


class FilterBar:
    """The controls that choose what the list shows: group, status, role, access level,
    read-only, owner, text, sort and direction, page size, and Clear filters.

    ``show`` sets them from the model without reporting it; a change the analyst makes
    calls ``on_filter(name=value)``, ``on_sort(sort, descending)``, ``on_page_size(n)``
    or ``on_clear()``.
    """

    def __init__(
        self,
        model: UserTableModel,
        *,
        on_filter: Callable[..., None],
        on_sort: Callable[[str, bool], None],
        on_page_size: Callable[[int], None],
        on_clear: Callable[[], None],
    ) -> None:
        self.model = model
        self._on_filter = on_filter
        self._quiet = False  # set while ``show`` updates the controls
        self.group = self._group_control()
        self.status = w.Dropdown(
            options=[
                ("Active and inactive", "all"),
                ("Active", "active"),
                ("Inactive", "inactive"),
            ],
            value=model.where.status,
            layout=w.Layout(width="150px"),
        )
        self.role = w.Dropdown(
            options=[("Any role", ANY)] + [(ROLE_LABELS[r], r) for r in s.ROLES],
            layout=w.Layout(width="130px"),
        )
        self.access = w.Dropdown(
            options=[("Any access level", ANY), *LEVEL_CHOICES], layout=w.Layout(width="170px")
        )
        self.read_only = w.Dropdown(
            options=[("Read-only or not", ANY), ("Read-only", True), ("Not read-only", False)],
            layout=w.Layout(width="140px"),
        )
        self.owner = w.Dropdown(
            options=[("Owner or not", ANY), ("Account owner", True), ("Not owner", False)],
            layout=w.Layout(width="130px"),
        )
        self.text = w.Text(
            placeholder="Search name or email ⏎",
            continuous_update=False,
            layout=w.Layout(width="200px"),
        )
        self.sort = w.Dropdown(
            options=[(f"Sort: {label}", key) for key, label in SORTS.items()],
            value=model.sort,
            layout=w.Layout(width="150px"),
        )
        # says which way it sorts, in words and arrow, not by a shade of the same icon
        self.descending = w.ToggleButton(value=False, layout=w.Layout(width="120px"))
        self.descending.add_class("opskit-sort-direction")
        self._show_direction(False)
        self.page_size = w.Dropdown(
            options=self._page_size_options(),
            value=model.page_size,
            layout=w.Layout(width="120px"),
        )
        self.clear = button("Clear filters", on_clear, icon="times")

        for control, name in (
            (self.group, "group"),
            (self.status, "status"),
            (self.role, "role"),
            (self.access, "access_level"),
            (self.read_only, "read_only"),
            (self.owner, "account_owner"),
            (self.text, "text"),
        ):
            control.observe(self._filter_changed(name), "value")
        self.sort.observe(lambda c: self._if_user(on_sort, c["new"], model.descending), "value")
        self.descending.observe(lambda c: self._if_user(on_sort, model.sort, c["new"]), "value")
        self.page_size.observe(lambda c: self._if_user(on_page_size, c["new"]), "value")

    def lines(self) -> list[w.HBox]:
        """The bar laid out as two lines of controls."""
        return [
            w.HBox(
                [self.group, self.status, self.role, self.access, self.read_only],
                layout=w.Layout(flex_flow="row wrap"),
            ),
            w.HBox(
                [self.owner, self.text, self.sort, self.descending, self.page_size, self.clear],
                layout=w.Layout(flex_flow="row wrap"),
            ),
        ]

    def show(self) -> None:
        """Show the model's filter, sort and page size in the controls."""
        model, where = self.model, self.model.where
        self._quiet = True
        try:
            if isinstance(self.group, w.Combobox):
                names = dict(model.viewer.groups)
                self.group.value = names.get(where.group_id, "") if where.group_id else ""
            else:
                self.group.value = shown(where.group_id)
            self.status.value = where.status
            self.role.value = shown(where.role)
            self.access.value = shown(where.access_level)
            self.read_only.value = shown(where.read_only)
            self.owner.value = shown(where.account_owner)
            self.text.value = where.text or ""
            self.sort.value = model.sort
            self.descending.value = model.descending
            self._show_direction(model.descending)
            if model.page_size not in self.page_size.options:
                self.page_size.options = self._page_size_options()
            self.page_size.value = model.page_size
        finally:
            self._quiet = False

    def _show_direction(self, descending: bool) -> None:
        self.descending.description = "▼ Descending" if descending else "▲ Ascending"
        self.descending.tooltip = (
            "Sorted descending: click for ascending"
            if descending
            else ("Sorted ascending: click for descending")
        )

    def _group_control(self) -> w.Combobox | w.Dropdown:
        groups = self.model.viewer.groups
        current = next((name for gid, name in groups if gid == self.model.where.group_id), None)
        self._group_names = {name for _, name in groups}
        if len(groups) > 200:  # a dropdown of thousands is no help: type to find one
            return w.Combobox(
                options=[name for _, name in groups],
                value=current or "",
                placeholder="All my groups (type a name ⏎)",
                ensure_option=False,
                continuous_update=False,  # a name is taken when typed out (Enter or leaving)
                layout=w.Layout(width="260px"),
            )
        return w.Dropdown(
            options=[("All my groups", ANY)] + [(name, gid) for gid, name in groups],
            value=shown(self.model.where.group_id),
            layout=w.Layout(width="220px"),
        )

    def _page_size_options(self) -> list[tuple[str, int]]:
        return [(f"{n} per page", n) for n in sorted({*PAGE_SIZES, self.model.page_size})]

    def _filter_changed(self, name: str) -> Callable[[dict[str, Any]], None]:
        def changed(change: dict[str, Any]) -> None:
            value = change["new"]
            if name == "group" and isinstance(self.group, w.Combobox):
                # a part of a name too: the model takes the one group it names, or says
                # which are meant and what the list still shows
                value = value.strip() or None
            elif value == ANY:
                value = None
            self._if_user(self._on_filter, **{name: value})

        return changed

    def _if_user(self, callback: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        """Report a change the analyst made (not one ``show`` made)."""
        if not self._quiet:
            callback(*args, **kwargs)


class HeaderRow:
    """The column titles, above the rows and in the same grid as their cells; the
    sortable ones are buttons that sort by their column (again: the other way), showing
    ▲ or ▼ on the column the list is sorted by."""

    def __init__(self, on_sort: Callable[[str, bool], None]) -> None:
        self._on_sort = on_sort
        self.sorts: dict[str, w.Button] = {}
        cells: list[w.Widget] = []
        for column, title, _, sort in COLUMNS:
            if sort is None:
                cell: w.Widget = w.HTML(title)
            else:
                cell = w.Button(description=title, layout=w.Layout(width="auto"))
                cell.add_class("opskit-sort")
                cell.add_class(f"opskit-sort-{sort}")
                cell.on_click(lambda _, sort=sort: self._clicked(sort))
                self.sorts[sort] = cell
            cell.add_class(f"opskit-col-{column}")
            cells.append(cell)
        self.grid = w.GridBox(
            cells,
            layout=w.Layout(
                grid_template_columns=GRID_COLUMNS,
                grid_gap=f"0 {COLUMN_GAP}",
                align_items="flex-end",
                flex="1 1 auto",
                min_width="0",
            ),
        )
        self.grid.add_class("opskit-head-cells")
        check = w.HTML(layout=w.Layout(width=CHECK_WIDTH, flex="0 0 auto"))
        check.add_class("opskit-head-check")
        details = w.HTML(layout=w.Layout(width=DETAILS_WIDTH, flex="0 0 auto"))
        self.box = w.HBox([check, self.grid, details], layout=w.Layout(width="100%"))
        self.box.add_class("opskit-head")
        self.sort, self.descending = "name", False

    def show(self, sort: str, descending: bool) -> None:
        self.sort, self.descending = sort, descending
        for key, button in self.sorts.items():
            on = key == sort
            title = SORTS.get(key, key)
            button.description = sort_title(title, on, descending)
            button.tooltip = sort_tooltip(title, on, descending)
            for css, wanted in (
                ("opskit-sorted", on),
                ("opskit-sorted-asc", on and not descending),
                ("opskit-sorted-desc", on and descending),
            ):
                if wanted and css not in button._dom_classes:
                    button.add_class(css)
                elif not wanted and css in button._dom_classes:
                    button.remove_class(css)

    def _clicked(self, sort: str) -> None:
        self._on_sort(sort, not self.descending if sort == self.sort else False)


class RowWidget:
    """One line of the table: a checkbox, the cells, a details button. Reused per page."""

    def __init__(
        self,
        on_check: Callable[[RowWidget, bool], None],
        on_details: Callable[[Key | None], None],
    ) -> None:
        self.key: Key | None = None
        self.row: dict[str, Any] | None = None
        self.check = w.Checkbox(
            value=False, indent=False, layout=w.Layout(width=CHECK_WIDTH, flex="0 0 auto")
        )
        self.check.add_class("opskit-row-check")
        self.cells = w.HTML(layout=w.Layout(flex="1 1 auto", min_width="0"))
        self.cells.add_class("opskit-row-cells")
        self.details = w.Button(
            description="Details",
            tooltip="Memberships, sessions, checklist and audit history (opens under the row)",
            layout=w.Layout(width=DETAILS_WIDTH, flex="0 0 auto"),
        )
        self.details.add_class("opskit-details")
        self.box = w.HBox(
            [self.check, self.cells, self.details],
            layout=w.Layout(align_items="center", width="100%", display="none"),
        )
        self.box.add_class("opskit-row")
        self.check.observe(lambda change: on_check(self, change["new"]), "value")
        self.details.on_click(lambda _: on_details(self.key))

    @property
    def greyed(self) -> bool:
        return "opskit-inactive" in self.box._dom_classes

    @property
    def selected(self) -> bool:
        return bool(self.check.value)

    def show(self, row: dict[str, Any], selected: bool) -> None:
        self.key = (row["group_id"], row["user_id"])
        self.row = row
        self.cells.value = row_html(row)
        self.check.value = selected
        self._mark("opskit-inactive", row["status"] != "active")
        self._mark("opskit-selected", selected)
        self.box.layout.display = "flex"

    def hide(self) -> None:
        self.key = None
        self.row = None
        self.check.value = False
        self.box.layout.display = "none"

    def _mark(self, css_class: str, on: bool) -> None:
        if on and css_class not in self.box._dom_classes:
            self.box.add_class(css_class)
        elif not on and css_class in self.box._dom_classes:
            self.box.remove_class(css_class)
