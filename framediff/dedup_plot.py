"""The names ``framediff.dedup_plot`` held before it moved to :mod:`framediff.dedup.plot` (kept for one
release)."""

from __future__ import annotations

from .dedup.plot import PLOT_SUFFIXES, PlotData, check_plot_path, render_plot, render_svg, write_plot

__all__ = ["PlotData", "PLOT_SUFFIXES", "check_plot_path", "render_plot", "render_svg", "write_plot"]
