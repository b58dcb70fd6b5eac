"""The dashboard's plotly figures, built from the frames of lakewatch.dashboard.data (no Streamlit here)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

EVENT_COLOUR = "rgba(214, 39, 40, 0.18)"
OPEN_EVENT_COLOUR = "rgba(255, 127, 14, 0.25)"
LABEL_COLOUR = "rgba(44, 160, 44, 0.16)"
FLAG_COLOUR = "#d62728"
WEBGL_POINTS = 20_000
# The legend sits in the bottom margin (container coordinates), below the axis labels whatever the chart's height.
_LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 80},
           "legend": {"orientation": "h", "yref": "container", "y": 0.0, "yanchor": "bottom", "x": 0,
                      "traceorder": "normal"}}


def events_per_day(frame: pd.DataFrame) -> go.Figure:
    """Bars of anomaly events per day (columns day, events)."""
    days = pd.to_datetime(frame["day"]).dt.strftime("%Y-%m-%d")
    fig = go.Figure(go.Bar(x=days, y=frame["events"], name="events", marker_color="#d62728"))
    fig.update_layout(title="Anomaly events per day", yaxis_title="events", height=320, **_LAYOUT)
    fig.update_xaxes(type="category")
    return fig


def events_per_series(frame: pd.DataFrame) -> go.Figure:
    """Horizontal bars of events per series/channel, open ones stacked apart (columns of anomalies_per_series)."""
    names = frame["series_id"] + " / " + frame["channel"]
    fig = go.Figure([go.Bar(y=names, x=frame["events"] - frame["open_events"], orientation="h", name="closed",
                            marker_color="#1f77b4"),
                     go.Bar(y=names, x=frame["open_events"], orientation="h", name="open", marker_color="#ff7f0e")])
    fig.update_layout(title="Anomaly events per series", barmode="stack",
                      height=max(250, 40 + 28 * len(frame)), **_LAYOUT)
    fig.update_yaxes(autorange="reversed")
    return fig


def series_chart(points: pd.DataFrame, events: pd.DataFrame, labels: pd.DataFrame, threshold: float,
                 title: str, highlight: pd.Series | None = None) -> go.Figure:
    """Values (top) and scores with the threshold (bottom) of one series' channels on one time axis, flagged
    points marked, anomaly event spans and labelled windows shaded; `highlight` (an event row) outlined."""
    # SVG lines up to WEBGL_POINTS (crisp, and drawn without WebGL); WebGL beyond, where SVG gets slow.
    scatter = go.Scattergl if len(points) > WEBGL_POINTS else go.Scatter
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.62, 0.38], vertical_spacing=0.05)
    several = points["channel"].nunique() > 1
    for channel, rows in points.groupby("channel", sort=True):
        names = (f"{channel}", f"{channel} score", f"{channel} flagged") if several else \
            (str(channel), "score", "flagged points")
        fig.add_trace(scatter(x=rows["timestamp"], y=rows["value"], mode="lines", name=names[0],
                              legendgroup=str(channel)), row=1, col=1)
        fig.add_trace(scatter(x=rows["timestamp"], y=rows["score"], mode="lines", name=names[1],
                              legendgroup=str(channel), line={"width": 1}), row=2, col=1)
        flagged = rows[rows["flag"].astype(bool)]
        fig.add_trace(scatter(x=flagged["timestamp"], y=flagged["value"], mode="markers", name=names[2],
                              legendgroup=str(channel), marker={"color": FLAG_COLOUR, "size": 9, "symbol": "x"}),
                      row=1, col=1)
    fig.add_hline(y=threshold, line={"color": FLAG_COLOUR, "dash": "dash", "width": 1}, row=2, col=1,
                  annotation_text=f"threshold {threshold:.3f}", annotation_position="top left")
    for _, event in events.iterrows():
        colour = OPEN_EVENT_COLOUR if event["is_open"] else EVENT_COLOUR
        fig.add_vrect(x0=event["start"], x1=event["end"], fillcolor=colour, line_width=0, layer="below")
    for _, label in labels.iterrows():
        fig.add_vrect(x0=label["window_start"], x1=label["window_end"], fillcolor=LABEL_COLOUR, line_width=0,
                      layer="below")
    if highlight is not None:
        fig.add_vrect(x0=highlight["start"], x1=highlight["end"], line={"color": FLAG_COLOUR, "width": 2},
                      fillcolor="rgba(0,0,0,0)")
    # Legend entries for the shaded spans (shapes have none of their own).
    for name, colour, shown in (("anomaly event", EVENT_COLOUR, not events.empty),
                                ("labelled window", LABEL_COLOUR, not labels.empty)):
        if shown:
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name,
                                     marker={"size": 14, "symbol": "square", "color": colour}), row=1, col=1)
    fig.update_layout(title=title, height=600, hovermode="x unified", **_LAYOUT)
    fig.update_yaxes(title_text="value", row=1, col=1)
    fig.update_yaxes(title_text="anomaly score", row=2, col=1)
    return fig


def contributions_chart(contributions: pd.DataFrame, base_value: float | None) -> go.Figure:
    """Horizontal SHAP bars (columns input, shap), largest first; red pushes the score up, blue down."""
    frame = contributions.iloc[::-1]
    colours = [FLAG_COLOUR if v > 0 else "#1f77b4" for v in frame["shap"]]
    fig = go.Figure(go.Bar(x=frame["shap"], y=frame["input"], orientation="h", marker_color=colours,
                           text=[f"{v:+.3f}" for v in frame["shap"]], textposition="auto", name="SHAP"))
    base = f" (base value {base_value:.3f})" if base_value is not None else ""
    fig.update_layout(title="SHAP contributions at the peak", xaxis_title=f"contribution to the score{base}",
                      height=max(220, 60 + 40 * len(frame)), **_LAYOUT)
    return fig


def quarantine_chart(frame: pd.DataFrame) -> go.Figure:
    """Stacked bars of quarantined rows per day and reason (columns day, reason, rows)."""
    fig = go.Figure([go.Bar(x=pd.to_datetime(rows["day"]).dt.strftime("%Y-%m-%d"), y=rows["rows"], name=str(reason))
                     for reason, rows in frame.groupby("reason", sort=True)])
    fig.update_layout(title="Quarantined rows per day, by reason", barmode="stack", yaxis_title="rows", height=340,
                      **_LAYOUT)
    fig.update_xaxes(type="category")
    return fig


def scoreboard_chart(board: pd.DataFrame) -> go.Figure:
    """NAB standard-profile scores, ours highlighted (columns of data.nab_scoreboard)."""
    frame = board.dropna(subset=["standard"]).iloc[::-1]
    colours = ["#ff7f0e" if s == "lakewatch" else "#9aa5b1" for s in frame["source"]]
    fig = go.Figure(go.Bar(x=frame["standard"], y=frame["detector"], orientation="h", marker_color=colours,
                           text=[f"{v:.2f}" for v in frame["standard"]], textposition="outside", cliponaxis=False))
    fig.update_layout(title="NAB score, standard profile (ours in orange)", xaxis_title="normalised score",
                      height=max(300, 40 + 24 * len(frame)), **_LAYOUT)
    return fig


DRIFT_STATISTIC_TITLES = {"ks_statistic": "KS distance", "psi": "PSI", "wasserstein": "Wasserstein (sigmas)",
                          "score_shift": "score shift", "flag_rate_shift": "flag-rate shift", "mmd": "MMD²"}
DECISION_COLOUR = "#2ca02c"
CHANNEL_COLOURS = ("#1f77b4", "#9467bd", "#8c564b", "#17becf", "#7f7f7f", "#bcbd22")  # not the flag's or decision's


def drift_chart(metrics: pd.DataFrame, thresholds: dict[str, float | None], requests: pd.DataFrame,
                title: str) -> go.Figure:
    """One panel per drift statistic a series has values of (columns of data.drift_metrics), each channel a line
    over window_end, its threshold (`thresholds`: statistic column -> value, None = not judged) dashed, drifted
    windows marked; retrain requests (rows of data.retrain_requests) as dotted lines labelled with their
    status and decision."""
    present = [c for c in DRIFT_STATISTIC_TITLES if c in metrics and metrics[c].notna().any()]
    fig = make_subplots(rows=max(1, len(present)), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[DRIFT_STATISTIC_TITLES[c] for c in present])
    drift_legend = False  # one legend entry for the drifted-window marks of every panel
    colours: dict[str, str] = {}
    for row, column in enumerate(present, start=1):
        for channel, rows in metrics[metrics[column].notna()].groupby("channel", sort=True):
            # One colour per channel in every panel, one legend entry for it.
            colour = colours.setdefault(str(channel), CHANNEL_COLOURS[len(colours) % len(CHANNEL_COLOURS)])
            fig.add_trace(go.Scatter(x=rows["window_end"], y=rows[column], mode="lines+markers", name=str(channel),
                                     legendgroup=str(channel), showlegend=not any(t.name == str(channel)
                                                                                  for t in fig.data),
                                     hovertext=rows["reason"], line={"width": 1.5, "color": colour}), row=row, col=1)
        drifted = metrics[metrics[column].notna() & metrics["drifted"].astype(bool)]
        if not drifted.empty:
            fig.add_trace(go.Scatter(x=drifted["window_end"], y=drifted[column], mode="markers",
                                     name="drifted window", legendgroup="drifted", showlegend=not drift_legend,
                                     marker={"color": FLAG_COLOUR, "size": 10, "symbol": "x"}), row=row, col=1)
            drift_legend = True
        limit = thresholds.get(column)
        if limit is not None:
            fig.add_hline(y=limit, line={"color": FLAG_COLOUR, "dash": "dash", "width": 1}, row=row, col=1,
                          annotation_text=f"threshold {limit:g}", annotation_position="top left")
    for _, request in requests.iterrows():
        verdict = str(request["status"]) + (f": {request['decision']}" if pd.notna(request["decision"]) else "")
        fig.add_vline(x=request["window_end"], line={"color": DECISION_COLOUR, "dash": "dot", "width": 2})
        fig.add_annotation(x=request["window_end"], y=1.0, xref="x", yref="paper", yanchor="bottom", showarrow=False,
                           text=f"retrain {verdict}", font={"color": DECISION_COLOUR, "size": 11})
    if not requests.empty:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name="retrain request",
                                 line={"color": DECISION_COLOUR, "dash": "dot", "width": 2}), row=1, col=1)
    fig.update_layout(title=title, height=max(320, 60 + 190 * len(present)), hovermode="x unified",
                      **{**_LAYOUT, "margin": {**_LAYOUT["margin"], "t": 80}})
    return fig
