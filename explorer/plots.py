"""Plotly figures for the explorer, as pure functions of arrays."""
from __future__ import annotations

import numpy as np
import pandas  # noqa: F401  imported before any figure is built: see _warm_up
import plotly.graph_objects as go
import plotly.io as pio

from explorer.colours import UNLABELLED, palette
from training import CATEGORIES

GRID_STEPS = 48  # invisible points that make empty map space clickable


class SharedFigure(go.Figure):
    """A figure built once and then only read, by every session of the server (views/cached.py).
    st.plotly_chart asks the figure for ``to_dict()`` on every rerun, a deep copy of 10k points
    (4 ms holding the interpreter); this one makes its dict once."""

    def to_dict(self) -> dict:
        if getattr(self, "_shared_dict", None) is None:
            self._shared_dict = super().to_dict()
        return self._shared_dict


def _empty_space_grid(xy: np.ndarray):
    lo, hi = xy.min(0), xy.max(0)
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], GRID_STEPS), np.linspace(lo[1], hi[1], GRID_STEPS))
    return gx.ravel(), gy.ravel()


def marker_size(points: int) -> float:
    """Points' diameter in pixels: 4 for maps of thousands (Fashion-MNIST's 10k), up to 9 for a few
    dozen, where small faint points left a folder's map looking empty."""
    return float(np.clip(18 / max(points, 1) ** 0.18, 4, 9))


def latent_map(xy: np.ndarray, labels: np.ndarray, colour_by: str = "category",
               recon_mse: np.ndarray | None = None,
               selected_xy: tuple | None = None, extra: dict | list | None = None,
               height: int = 560, for_groups: bool = False, shared: bool = False,
               categories: tuple[str, ...] = CATEGORIES) -> go.Figure:
    """Scatter of the map, one WebGL trace per category (so the legend hides/shows categories); an
    unlabelled set (no ``categories``, labels −1) is one trace.
    ``customdata`` is the global point index; the invisible grid trace has customdata −1. With
    ``for_groups`` a drag selects a box of points (not pans) and selected points stay small. ``shared``:
    a SharedFigure, for a figure cached for every session."""
    fig = SharedFigure() if shared else go.Figure()
    gx, gy = _empty_space_grid(xy)
    fig.add_trace(go.Scattergl(x=gx, y=gy, mode="markers", name="empty space", showlegend=False,
                               marker=dict(size=6, opacity=0), customdata=np.full(len(gx), -1),
                               hovertemplate="empty space: click to decode a mix of the nearest "
                                             "points<extra></extra>"))
    by_error = colour_by == "reconstruction error" and recon_mse is not None
    if by_error:
        lo, hi = np.percentile(recon_mse, [1, 99])
    groups = list(enumerate(categories)) or [(-1, "images")]
    size = marker_size(len(xy))
    colours = palette(len(categories)) or (UNLABELLED,)
    for c, name in groups:
        sel = np.flatnonzero(labels == c)
        marker = dict(size=size, color=colours[c], opacity=0.75)
        if by_error:
            marker = dict(size=size, color=recon_mse[sel], colorscale="Viridis", cmin=lo, cmax=hi,
                          showscale=c <= 0,
                          colorbar=dict(title="recon MSE", thickness=12) if c <= 0 else None)
        fig.add_trace(go.Scattergl(
            x=xy[sel, 0], y=xy[sel, 1], mode="markers", name=name, customdata=sel, marker=marker,
            selected=dict(marker=dict(size=6, color="#111", opacity=1) if for_groups else
                          dict(size=14, color="#d62728", opacity=1)),
            unselected=dict(marker=dict(opacity=0.35)),
            # the category in the template, not a text per point: 10k copies were half the figure's bytes
            hovertemplate=f"<b>{name}</b><br>test image %{{customdata}}"
                          + ("<br>recon MSE %{marker.color:.4f}" if by_error else "") + "<extra></extra>"))
    for layer in ([extra] if isinstance(extra, dict) else extra or []):  # generated samples, uploaded images
        name = layer.get("name", "generated")
        fig.add_trace(go.Scattergl(x=layer["x"], y=layer["y"], mode="markers", name=name,
                                   customdata=np.full(len(layer["x"]), -2),
                                   marker=dict(symbol=layer.get("symbol", "star"), size=layer.get("size", 13),
                                               color=layer.get("color", "#111"),
                                               line=dict(width=layer.get("line", 1.5),
                                                         color=layer.get("line_color", "white"))),
                                   hovertemplate=name + "<extra></extra>"))
    if selected_xy is not None:
        fig.add_trace(go.Scatter(x=[selected_xy[0]], y=[selected_xy[1]], mode="markers", name="selected",
                                 showlegend=False, hoverinfo="skip",
                                 marker=dict(size=18, color="rgba(0,0,0,0)",
                                             line=dict(width=3, color="#d62728"))))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10),
                      dragmode="select" if for_groups else "pan",
                      legend=dict(itemsizing="constant", orientation="h", y=-0.02, yanchor="top"),
                      xaxis=dict(showticklabels=False, title=None, zeroline=False),
                      yaxis=dict(showticklabels=False, title=None, zeroline=False, scaleanchor="x"),
                      plot_bgcolor="white", hovermode="closest", uirevision="map")
    fig.update_xaxes(showgrid=False)
    fig.update_yaxes(showgrid=False)
    return fig


def kl_bars(kl_per_dim: np.ndarray) -> go.Figure:
    order = np.argsort(-kl_per_dim, kind="stable")
    fig = go.Figure(go.Bar(x=[str(d) for d in order], y=kl_per_dim[order], marker_color=palette(1)[0],
                           hovertemplate="dimension %{x}<br>KL %{y:.3f} nats<extra></extra>"))
    fig.update_layout(height=280, margin=dict(l=10, r=10, t=30, b=10),
                      title="Average KL per latent dimension (nats), sorted",
                      xaxis=dict(title="latent dimension", type="category", showticklabels=len(order) <= 32),
                      yaxis=dict(title="KL"))
    return fig


def latent_pair(mu: np.ndarray, dim_x: int, dim_y: int, name: str, colour: str,
                prior: np.ndarray) -> go.Figure:
    """Figure 4 of the paper, generalised: two latent coordinates of one category vs the prior."""
    fig = go.Figure()
    fig.add_trace(go.Scattergl(x=prior[:, 0], y=prior[:, 1], mode="markers", name="prior N(0, 1) samples",
                               marker=dict(size=3, color="#999", opacity=0.35)))
    fig.add_trace(go.Scattergl(x=mu[:, dim_x], y=mu[:, dim_y], mode="markers", name=f"{name} (μ)",
                               marker=dict(size=4, color=colour, opacity=0.7)))
    t = np.linspace(0, 2 * np.pi, 100)
    for r in (1, 2, 3):
        fig.add_trace(go.Scatter(x=r * np.cos(t), y=r * np.sin(t), mode="lines", showlegend=r == 1,
                                 name="prior 1σ/2σ/3σ", line=dict(color="#555", width=1, dash="dot"),
                                 hoverinfo="skip"))
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white",
                      xaxis=dict(title=f"μ[{dim_x}]", zeroline=True, zerolinecolor="#ddd"),
                      yaxis=dict(title=f"μ[{dim_y}]", zeroline=True, zerolinecolor="#ddd", scaleanchor="x"))
    return fig


def training_curve(history: list, finetune: list = ()) -> go.Figure:
    """Test −ELBO, reconstruction NLL and KL per epoch; a decoder fine-tuning's epochs continue the
    same lines after the training's last epoch, in a shaded band per stage (the KL stays flat there:
    the encoder is frozen)."""
    last = history[-1]["epoch"] if history else 0
    points = list(history) + [{**h, "epoch": last + h["epoch"]} for h in finetune]
    epochs = [h["epoch"] for h in points]
    fig = go.Figure()
    for key, name in (("neg_elbo", "test −ELBO"), ("recon_nll", "test reconstruction NLL")):
        fig.add_trace(go.Scatter(x=epochs, y=[h["test"][key] for h in points], name=name,
                                 mode="lines+markers"))
    fig.add_trace(go.Scatter(x=epochs, y=[h["test"]["kl"] for h in points], name="test KL", yaxis="y2",
                             mode="lines+markers"))
    stages = sorted({h.get("stage", 1) for h in finetune})
    for i, stage in enumerate(stages):
        xs = [last + h["epoch"] for h in finetune if h.get("stage", 1) == stage]
        label = "decoder fine-tuning" + (f", stage {stage}" if len(stages) > 1 else "")
        fig.add_vrect(x0=min(xs) - 0.5, x1=max(xs) + 0.5, fillcolor="grey", opacity=0.08 + 0.06 * (i % 2),
                      line_width=0, annotation_text=label, annotation_position="top left")
    # The KL axis gets its own round ticks; as drawn in the app they were otherwise synced to the
    # left axis's grid (60.21, 56.17, …).
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="epoch",
                      yaxis_title="nats per image", legend=dict(orientation="h", y=1.1),
                      yaxis2=dict(overlaying="y", side="right", title="KL (nats)", tickmode="auto",
                                  showgrid=False))
    return fig


def agreement_by_noise(by_noise: dict, default_noise: float,
                       categories: tuple[str, ...] = CATEGORIES) -> go.Figure:
    """Category agreement against the sampling noise: one line per category measured, in its map
    colour, the overall share in black, and the app's default noise marked."""
    noise = by_noise["noise"]
    fig = go.Figure()
    colours = palette(len(categories))
    for c, name in enumerate(categories):
        if name not in by_noise["per_category"]:
            continue
        fig.add_trace(go.Scatter(x=noise, y=by_noise["per_category"][name], name=name, mode="lines+markers",
                                 line=dict(color=colours[c], width=1.5), marker=dict(size=5)))
    fig.add_trace(go.Scatter(x=noise, y=by_noise["overall"], name="all categories", mode="lines+markers",
                             line=dict(color="black", width=3)))
    fig.add_vline(x=default_noise, line_dash="dot", line_color="grey",
                  annotation_text="app default", annotation_position="bottom left")
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="noise scale",
                      yaxis_title="samples recognised", yaxis=dict(tickformat=".0%"),
                      legend=dict(font=dict(size=11)))
    return fig


def _warm_up() -> None:
    """Build and serialise one small map while this module is imported. Plotly loads its default
    template, and narwhals looks pandas up in ``sys.modules``, on first use; when the first script
    runs of several sessions do that at once (a class opening the link together), a thread can
    see a half-initialised pandas ("partially initialized module 'pandas' has no attribute
    'Series'") or template and fail or draw a different figure. Python's import lock runs a
    module's body once while other importers wait, so doing it here does it before any session
    draws (found by ``bench/app_load.py``)."""
    pio.to_json(latent_map(np.zeros((2, 2)), np.zeros(2, int)), validate=False)


_warm_up()
