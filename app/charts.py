"""Plotly figures for the dashboard, built from plain data (frames and metrics.json dicts).

Every title, axis and legend comes from the message catalogue through ``say`` (``ui.plain``):
the page passes it in, so the figures speak the page's language and this module reads no
session state. Plotly interprets some HTML in titles, so only catalogue text and values we
produce (instance types, job names, numbers) ever reach a title or a label.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

__all__ = [
    "age_by_outcome",
    "confusion_matrix",
    "cv_spread",
    "feature_importance",
    "instance_funnel",
    "missing_values",
    "parallel_hyperparameters",
    "price_vs_memory",
    "resource_series",
    "roc_curves",
    "startup_phases",
    "status_timeline",
    "survival_by_sex_class",
]

Say = Callable[..., str]


def survival_by_sex_class(frame: pd.DataFrame, say: Say) -> go.Figure:
    rates = (
        frame.dropna(subset=["Survived"])
        .groupby(["Sex", "Pclass"], observed=True)["Survived"]
        .agg(["mean", "count"])
        .reset_index()
    )
    rates["Pclass"] = rates["Pclass"].astype(str)
    fig = px.bar(
        rates,
        x="Pclass",
        y="mean",
        color="Sex",
        barmode="group",
        hover_data={"count": True},
        labels={
            "mean": say("chart.survival_rate"),
            "Pclass": say("chart.class"),
            "Sex": say("chart.sex"),
            "count": say("chart.count"),
        },
        title=say("chart.survival_by_sex_class"),
    )
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    return fig


def age_by_outcome(frame: pd.DataFrame, say: Say) -> go.Figure:
    ages = frame.dropna(subset=["Age", "Survived"]).copy()
    outcome = {0: say("chart.died"), 1: say("chart.survived")}
    ages["outcome"] = ages["Survived"].astype(int).map(outcome)
    fig = px.histogram(
        ages,
        x="Age",
        color="outcome",
        barmode="overlay",
        nbins=40,
        opacity=0.7,
        labels={"Age": say("chart.age"), "outcome": say("chart.outcome")},
        title=say("chart.age_by_outcome"),
    )
    fig.update_yaxes(title=say("chart.count"))
    return fig


def missing_values(frame: pd.DataFrame, say: Say) -> go.Figure:
    counts = frame.isna().sum()
    table = pd.DataFrame({"column": counts.index, "missing": counts.to_numpy()})
    return px.bar(
        table,
        x="column",
        y="missing",
        labels={"column": say("chart.column"), "missing": say("chart.missing")},
        title=say("chart.missing_values"),
    )


# plotly's default qualitative colours, the ones plotly.express gives each phase.
_PHASE_COLOURS = ("#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A", "#19d3f3", "#FF6692", "#B6E880")


def status_timeline(phases: Sequence[tuple[str, datetime, datetime]], say: Say) -> dict[str, Any]:
    """One bar per (phase, start, end): where a job's time went, as a Vega-Lite spec.

    Vega-Lite, not plotly: the first plotly figure on a page loads and runs plotly.js (about a
    second of the browser's CPU on this machine), and the Jobs page's first view needs none."""
    colours: dict[str, str] = {}
    rows = []
    for phase, start, end in phases:
        colours.setdefault(phase, _PHASE_COLOURS[len(colours) % len(_PHASE_COLOURS)])
        rows.append(
            {
                "phase": phase,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "from": start.strftime("%H:%M:%S.%f")[:-3],
                "ms": round((end - start).total_seconds() * 1000.0),
            }
        )
    return {
        "title": say("chart.status_timeline"),
        "height": {"step": 28},
        "data": {"values": rows},
        "mark": {"type": "bar"},
        "encoding": {
            "y": {"field": "phase", "type": "nominal", "sort": list(colours), "title": None},
            "x": {"field": "start", "type": "temporal", "scale": {"type": "utc"}, "title": None},
            "x2": {"field": "end"},
            "color": {
                "field": "phase",
                "type": "nominal",
                "scale": {"domain": list(colours), "range": list(colours.values())},
                "legend": None,
            },
            "tooltip": [
                {"field": "phase", "type": "nominal", "title": say("chart.phase")},
                {"field": "from", "type": "nominal", "title": say("chart.phase_start")},
                {"field": "ms", "type": "quantitative", "title": say("chart.phase_ms")},
            ],
        },
    }


def roc_curves(curves: Mapping[str, Mapping[str, Sequence[float]]], say: Say) -> go.Figure:
    """One line per named ROC curve ({"fpr": [...], "tpr": [...]}), plus the chance diagonal."""
    fig = go.Figure()
    for name, curve in curves.items():
        fig.add_trace(go.Scatter(x=list(curve["fpr"]), y=list(curve["tpr"]), mode="lines", name=name))
    fig.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", name=say("chart.chance"), line={"dash": "dot", "color": "grey"}
        )
    )
    fig.update_layout(
        title=say("chart.roc"),
        xaxis_title=say("chart.fpr"),
        yaxis_title=say("chart.tpr"),
        xaxis={"range": [0, 1]},
        yaxis={"range": [0, 1]},
    )
    return fig


def confusion_matrix(matrix: Sequence[Sequence[int]], say: Say) -> go.Figure:
    labels = [say("chart.died"), say("chart.survived")]
    fig = go.Figure(
        go.Heatmap(
            z=[list(row) for row in matrix],
            x=[say("chart.predicted", label=label) for label in labels],
            y=[say("chart.actual", label=label) for label in labels],
            text=[[str(v) for v in row] for row in matrix],
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
        )
    )
    fig.update_layout(title=say("chart.confusion"), yaxis={"autorange": "reversed"})
    return fig


def feature_importance(importance: Sequence[Mapping[str, Any]], say: Say, top: int = 20) -> go.Figure:
    rows = pd.DataFrame(list(importance)[:top])
    if rows.empty:
        rows = pd.DataFrame({"feature": [], "gain": []})
    fig = px.bar(
        rows,
        x="gain",
        y="feature",
        orientation="h",
        labels={"gain": say("chart.gain"), "feature": say("chart.feature")},
        title=say("chart.importance"),
    )
    fig.update_yaxes(autorange="reversed")
    return fig


def cv_spread(cv: Mapping[str, Any], say: Say) -> go.Figure:
    """Per-fold scores for each CV metric, as box plots with the folds as points."""
    fig = go.Figure()
    for metric in ("accuracy", "roc_auc", "f1"):
        summary = cv.get(metric)
        if isinstance(summary, Mapping) and summary.get("per_fold"):
            fig.add_trace(go.Box(y=list(summary["per_fold"]), name=metric, boxpoints="all"))
    fig.update_layout(title=say("chart.cv_spread", folds=cv.get("folds", "?")), showlegend=False)
    return fig


def instance_funnel(steps: Sequence[tuple[str, int]], say: Say) -> go.Figure:
    """From every candidate type to the chosen one: (step label, count left) per step."""
    fig = go.Figure(
        go.Funnel(
            y=[label for label, _ in steps],
            x=[count for _, count in steps],
            textinfo="value",
        )
    )
    fig.update_layout(title=say("chart.funnel"), height=360, margin={"l": 10})
    return fig


def price_vs_memory(
    rows: pd.DataFrame, say: Say, *, need_gib: float | None, chosen: str | None, purchase: str
) -> go.Figure:
    """Price per hour against memory for the types that have both, coloured by their verdict; the
    measured memory need as a vertical line and the chosen type ringed. ``rows`` needs
    instance_type, memory_gib, price_per_hour and verdict."""
    fig = px.scatter(
        rows,
        x="memory_gib",
        y="price_per_hour",
        color="verdict",
        hover_name="instance_type",
        log_x=True,
        log_y=True,
        labels={
            "memory_gib": say("chart.memory_gib"),
            "price_per_hour": say("chart.price_per_hour", purchase=purchase),
            "verdict": say("chart.verdict"),
        },
        title=say("chart.price_vs_memory"),
    )
    if need_gib:
        fig.add_vline(
            x=need_gib,
            line_dash="dash",
            line_color="firebrick",
            annotation_text=say("chart.need_line", gib=need_gib),
            annotation_position="top left",
        )
    picked = rows[rows["instance_type"] == chosen] if chosen else rows.iloc[0:0]
    if not picked.empty:
        fig.add_trace(
            go.Scatter(
                x=picked["memory_gib"],
                y=picked["price_per_hour"],
                mode="markers+text",
                text=picked["instance_type"],
                textposition="middle right",
                marker={
                    "size": 18,
                    "symbol": "star",
                    "color": "gold",
                    "line": {"width": 1, "color": "black"},
                },
                name=say("chart.chosen"),
            )
        )
    return fig


STARTUP_PHASES = ("Starting", "Downloading", "Training", "Uploading")


def startup_phases(rows: pd.DataFrame, say: Say, median_total: float | None = None) -> dict[str, Any]:
    """Seconds per phase (Starting, Downloading, Training, Uploading) as stacked bars per job, so a
    slow launch stands out across the history; the median job's total as a dashed line.
    ``rows``: job, phase, seconds. A Vega-Lite spec (see ``status_timeline``: no plotly.js on the
    page's first view)."""
    present = list(rows["phase"].unique()) if not rows.empty else []
    ordered = [p for p in STARTUP_PHASES if p in present] + [p for p in present if p not in STARTUP_PHASES]
    jobs = list(dict.fromkeys(rows["job"])) if not rows.empty else []
    job_label, phase_label, seconds_label = say("chart.job"), say("chart.phase"), say("chart.seconds")
    values = [
        {"job": job, "phase": phase, "seconds": float(seconds), "order": ordered.index(phase)}
        for job, phase, seconds in rows[["job", "phase", "seconds"]].itertuples(index=False)
    ]
    bars: dict[str, Any] = {
        "mark": {"type": "bar"},
        "encoding": {
            "x": {
                "field": "job",
                "type": "nominal",
                "sort": jobs,
                "title": job_label,
                "axis": {"labels": len(jobs) <= 40},
            },
            "y": {"field": "seconds", "type": "quantitative", "stack": "zero", "title": seconds_label},
            "color": {
                "field": "phase",
                "type": "nominal",
                "title": phase_label,
                "scale": {
                    "domain": ordered,
                    "range": [_PHASE_COLOURS[n % len(_PHASE_COLOURS)] for n in range(len(ordered))],
                },
            },
            "order": {"field": "order", "type": "quantitative"},
            "tooltip": [
                {"field": "job", "type": "nominal", "title": job_label},
                {"field": "phase", "type": "nominal", "title": phase_label},
                {"field": "seconds", "type": "quantitative", "title": seconds_label, "format": ".1f"},
            ],
        },
    }
    layers: list[dict[str, Any]] = [bars]
    if median_total:
        median = {"data": {"values": [{"median": median_total}]}}
        layers.append(
            {
                **median,
                "mark": {"type": "rule", "strokeDash": [6, 4], "color": "grey"},
                "encoding": {"y": {"field": "median", "type": "quantitative"}},
            }
        )
        layers.append(
            {
                **median,
                "mark": {"type": "text", "align": "left", "baseline": "bottom", "x": 4, "dy": -2},
                "encoding": {
                    "y": {"field": "median", "type": "quantitative"},
                    "text": {"value": say("chart.median_total", seconds=median_total)},
                },
            }
        )
    return {
        "title": say("chart.startup_phases"),
        "height": 300,
        "data": {"values": values},
        "layer": layers,
    }


def resource_series(
    series: Mapping[str, Sequence[tuple[datetime, float]]], say: Say, *, instance_memory_note: str | None
) -> go.Figure:
    """CPU and memory utilisation (percent) over the job's run, one line each."""
    fig = go.Figure()
    for name, points in series.items():
        fig.add_trace(
            go.Scatter(
                x=[at for at, _ in points], y=[value for _, value in points], mode="lines+markers", name=name
            )
        )
    fig.update_layout(
        title=say("chart.resources"),
        xaxis_title=say("chart.time"),
        yaxis_title=say("chart.percent"),
        height=320,
    )
    if instance_memory_note:
        fig.add_annotation(
            text=instance_memory_note, xref="paper", yref="paper", x=0, y=1.08, showarrow=False
        )
    return fig


def parallel_hyperparameters(frame: pd.DataFrame, color: str, say: Say) -> go.Figure:
    """One line per job through its numeric hyperparameters, coloured by validation accuracy."""
    dimensions = [
        {"label": column, "values": frame[column].tolist()}
        for column in frame.columns
        if column != color and pd.api.types.is_numeric_dtype(frame[column])
    ]
    dimensions.append({"label": say("chart.validation_accuracy"), "values": frame[color].tolist()})
    fig = go.Figure(
        go.Parcoords(
            line={"color": frame[color].tolist(), "colorscale": "Viridis", "showscale": True},
            dimensions=dimensions,
        )
    )
    fig.update_layout(title=say("chart.parallel"), height=380)
    return fig
