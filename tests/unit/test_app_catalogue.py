"""Every text the dashboard shows comes from the message catalogue, in both languages.

An AST scan of app/: any call that puts text on the page (st.* elements and widgets, the column
configs that name table headers, the plotly titles and labels, the one-line error helpers) must
not be given a string literal with words in it; and every catalogue key that app/ names exists,
in Korean and in English.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from services import messages

APP = Path(__file__).resolve().parents[2] / "app"
SOURCES = sorted(APP.rglob("*.py"))

# Calls whose text arguments a reader sees (Streamlit elements, widgets, containers, column
# configs, plotly titles and labels, and app/ui.py's error helpers that take a "what").
SHOWN_CALLS = frozenset(
    {
        # Streamlit text elements and containers
        "title",
        "header",
        "subheader",
        "markdown",
        "caption",
        "text",
        "write",
        "error",
        "warning",
        "info",
        "success",
        "toast",
        "exception",
        "expander",
        "tabs",
        "spinner",
        "status",
        "popover",
        "set_page_config",
        "metric",
        "page_link",
        "switch_page_label",
        # widgets
        "button",
        "download_button",
        "form_submit_button",
        "radio",
        "selectbox",
        "multiselect",
        "checkbox",
        "toggle",
        "text_input",
        "text_area",
        "number_input",
        "slider",
        "select_slider",
        "file_uploader",
        "date_input",
        "time_input",
        "color_picker",
        "segmented_control",
        "pills",
        # table headers
        "Column",
        "TextColumn",
        "NumberColumn",
        "CheckboxColumn",
        "LinkColumn",
        "ProgressColumn",
        "DatetimeColumn",
        "ListColumn",
        "BarChartColumn",
        "LineChartColumn",
        "SelectboxColumn",
        # plotly figures and layout
        "update_layout",
        "update_xaxes",
        "update_yaxes",
        "add_annotation",
        "add_vline",
        "add_hline",
        "bar",
        "scatter",
        "histogram",
        "timeline",
        "line",
        "Scatter",
        "Box",
        "Funnel",
        "Heatmap",
        # app/ui.py helpers whose text is shown
        "action",
        "show_error",
        "flash",
    }
)
# Keyword arguments that carry shown text (others, such as key= or format=, are identifiers).
SHOWN_KEYWORDS = frozenset(
    {
        "label",
        "body",
        "help",
        "placeholder",
        "title",
        "page_title",
        "caption",
        "text",
        "annotation_text",
        "name",
        "xaxis_title",
        "yaxis_title",
        "labels",
        "value_label",
    }
)
# Keys of a dict literal whose value a reader sees wherever the dict goes: a Vega-Lite spec's
# title and text (st.vega_lite_chart), a plotly axis or legend title, a tooltip's title.
SHOWN_DICT_KEYS = frozenset({"title", "text", "label", "labels", "name", "description"})
# A literal "says something" when it has a word of two letters or more (Korean or Latin)...
WORDS = re.compile(r"[^\W\d_]{2,}")
# ...unless it is an identifier that stays as it is: lower-case ASCII, no spaces ("local", "aws",
# "on-demand", "memory_gib").
IDENTIFIER = re.compile(r"^[a-z][a-zA-Z0-9_.\-/]*$")
# Log calls go to the log, not to the page.
LOGGERS = frozenset({"log", "logger", "logging"})


def _called_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _literal_texts(node: ast.AST) -> list[str]:
    """The prose in a literal argument: a str constant, an f-string's fixed parts, or the values
    of a dict/list/tuple of such (plotly's ``labels={...}``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    if isinstance(node, ast.Dict):
        return [text for value in node.values if value is not None for text in _literal_texts(value)]
    if isinstance(node, ast.List | ast.Tuple):
        return [text for item in node.elts for text in _literal_texts(item)]
    if isinstance(node, ast.BinOp):
        return _literal_texts(node.left) + _literal_texts(node.right)
    if isinstance(node, ast.IfExp):
        return _literal_texts(node.body) + _literal_texts(node.orelse)
    return []


def _prose(text: str) -> bool:
    stripped = text.strip()
    return bool(WORDS.search(stripped)) and not IDENTIFIER.match(stripped)


def _is_log_call(call: ast.Call) -> bool:
    func = call.func
    return isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in LOGGERS


def _assigned_literals(tree: ast.AST) -> dict[str, list[ast.expr]]:
    """Every ``name = <literal>`` in a module (any scope), so a literal passed through a variable
    (``label = "Launch"; st.button(label)``) is read where it is shown."""
    assigned: dict[str, list[ast.expr]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and _literal_texts(node.value):
                    assigned.setdefault(target.id, []).append(node.value)
    return assigned


def bypassing_literals(source: str, filename: str) -> list[str]:
    """``file:line: call("literal")`` for each shown call given a literal with words in it, directly
    or through a variable assigned one."""
    found: list[tuple[int, str]] = []
    tree = ast.parse(source, filename)
    assigned = _assigned_literals(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):  # a chart spec or layout built as data, shown where it goes
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value in SHOWN_DICT_KEYS:
                    found += [
                        (node.lineno, f"{filename}:{node.lineno}: {{{key.value!r}: {text!r}}}")
                        for text in _literal_texts(value)
                        if _prose(text)
                    ]
            continue
        if not isinstance(node, ast.Call) or _called_name(node) not in SHOWN_CALLS or _is_log_call(node):
            continue
        arguments = list(node.args) + [k.value for k in node.keywords if k.arg in SHOWN_KEYWORDS]
        arguments += [v for a in arguments if isinstance(a, ast.Name) for v in assigned.get(a.id, [])]
        for argument in arguments:
            for text in _literal_texts(argument):
                if _prose(text):
                    found.append((node.lineno, f"{filename}:{node.lineno}: {_called_name(node)}({text!r})"))
    return [line for _, line in sorted(found)]


def catalogue_keys_named(source: str) -> set[str]:
    """Every literal key passed to t(), plain() or messages.text(). Keys built at run time
    (f"instance.step_{key}") are checked by the pages' AppTests in both languages."""
    keys = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and _called_name(node) in ("t", "plain", "text") and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                keys.add(first.value)
    return keys


def test_the_scan_finds_a_literal_that_bypasses_the_catalogue() -> None:
    sample = (
        'st.error(f"Reading {name} failed")\n'
        'st.button("Launch", key="launch")\n'
        'fig.update_layout(title="ROC curve")\n'
        'px.bar(rows, labels={"mean": "survival rate"})\n'
        'st.column_config.NumberColumn("cost ($)", format="%.5f")\n'
        'action("Reading the job store", store.list)\n'
        'st.markdown(t("home.steps"))\n'
        'st.code("\\n".join(lines), language=None)\n'
        'st.dataframe(table, key="history_table")\n'
        'spec = {"title": "Startup phases", "encoding": {"x": {"field": "job", "title": None}}}\n'
        'tooltip = [{"field": "from", "type": "nominal", "title": "UTC"}]\n'
        'layout = {"name": "train", "text": say("chart.median_total"), "mark": {"type": "rule"}}\n'
        'label = "Stop the job"\n'
        'st.button(label, key="stop")\n'
        'key = "stop_job"\n'
        'st.button(t("train.stop"), key=key)\n'
    )
    found = bypassing_literals(sample, "sample.py")
    assert [line.split(": ", 1)[1].split("(")[0] for line in found] == [
        "error",
        "button",
        "update_layout",
        "bar",
        "NumberColumn",
        "action",
        "{'title': 'Startup phases'}",
        "{'title': 'UTC'}",
        "button",
    ], found
    assert "Stop the job" in found[-1], found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(APP)))
def test_no_shown_string_in_app_bypasses_the_catalogue(path: Path) -> None:
    found = bypassing_literals(path.read_text(encoding="utf-8"), str(path.relative_to(APP)))
    assert not found, "text shown without the catalogue:\n" + "\n".join(found)


def test_every_key_app_names_exists_in_both_languages() -> None:
    entries = messages.catalogue()
    named = set().union(*(catalogue_keys_named(p.read_text(encoding="utf-8")) for p in SOURCES))
    assert len(named) > 100, "the scan found too few keys to be looking at the pages"
    missing = sorted(key for key in named if key not in entries)
    assert not missing, missing
    for key in named:
        assert all(entries[key][lang].strip() for lang in messages.LANGUAGES), key
