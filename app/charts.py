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


def status_timeline(phases: Sequence[tuple[str, datetime, datetime]], say: Say) -> go.Figure:
    """One bar per (phase, start, end): where a job's time went.

    Horizontal bars on a date axis (each bar's base is its start, its length the phase's
    milliseconds), as ``px.timeline`` draws them, built directly: plotly.express took about half
    the Jobs page's script time for this one chart."""
    fig = go.Figure()
    colours: dict[str, str] = {}
    for phase, start, end in phases:
        colour = colours.setdefault(phase, _PHASE_COLOURS[len(colours) % len(_PHASE_COLOURS)])
        fig.add_trace(
            go.Bar(
                base=[start.isoformat()],
                x=[(end - start).total_seconds() * 1000.0],
                y=[phase],
                orientation="h",
                name=phase,
                marker={"color": colour},
                hovertemplate=f"{phase}<br>%{{base|%H:%M:%S.%L}} → +%{{x:.0f}} ms<extra></extra>",
            )
        )
    fig.update_xaxes(type="date")
    fig.update_yaxes(autorange="reversed", title=None, categoryorder="array", categoryarray=list(colours))
    fig.update_layout(title=say("chart.status_timeline"), showlegend=False, height=260, barmode="overlay")
    return fig


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


def startup_phases(rows: pd.DataFrame, say: Say, median_total: float | None = None) -> go.Figure:
    """Seconds per phase (Starting, Downloading, Training, Uploading) as stacked bars per job, so a
    slow launch stands out across the history; the median job's total as a dashed line.
    ``rows``: job, phase, seconds. Built with graph objects (one trace per phase), not
    plotly.express: the same picture at a fraction of the page's time."""
    fig = go.Figure()
    present = list(rows["phase"].unique()) if not rows.empty else []
    ordered = [p for p in STARTUP_PHASES if p in present] + [p for p in present if p not in STARTUP_PHASES]
    jobs = list(dict.fromkeys(rows["job"])) if not rows.empty else []
    job_label, phase_label, seconds_label = say("chart.job"), say("chart.phase"), say("chart.seconds")
    for number, phase in enumerate(ordered):
        part = rows[rows["phase"] == phase]
        fig.add_trace(
            go.Bar(
                x=part["job"].tolist(),
                y=part["seconds"].tolist(),
                name=phase,
                marker={"color": _PHASE_COLOURS[number % len(_PHASE_COLOURS)]},
                hovertemplate=f"{job_label}=%{{x}}<br>{phase_label}={phase}"
                f"<br>{seconds_label}=%{{y}}<extra></extra>",
            )
        )
    fig.update_layout(
        title=say("chart.startup_phases"),
        barmode="stack",
        height=340,
        legend_title_text=phase_label,
        xaxis={"title": job_label, "categoryorder": "array", "categoryarray": jobs},
        yaxis={"title": seconds_label},
    )
    if median_total:
        # A shape and an annotation in paper x: what add_hline draws, without its per-subplot walk.
        fig.update_layout(
            shapes=[
                {
                    "type": "line",
                    "xref": "paper",
                    "x0": 0,
                    "x1": 1,
                    "yref": "y",
                    "y0": median_total,
                    "y1": median_total,
                    "line": {"dash": "dash", "color": "grey"},
                }
            ],
            annotations=[
                {
                    "text": say("chart.median_total", seconds=median_total),
                    "xref": "paper",
                    "x": 0,
                    "xanchor": "left",
                    "yref": "y",
                    "y": median_total,
                    "yanchor": "bottom",
                    "showarrow": False,
                }
            ],
        )
    fig.update_xaxes(showticklabels=len(jobs) <= 40 if jobs else True)
    return fig


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
