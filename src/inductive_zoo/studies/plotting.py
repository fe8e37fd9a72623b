"""Matplotlib helpers shared by the studies: figures of a known pixel size, saved as PNG without pyplot (no GUI
backend, no global figure state)."""

import os

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure

DPI = 100


def figure_grid(rows: int, columns: int, panel_inches: tuple[float, float]) -> tuple[Figure, list[list[Axes]]]:
    """A figure of `rows x columns` panels, each `panel_inches` (width, height) in size (100 pixels per inch), and
    its axes as a nested list (always two-dimensional, also for one row or column)."""
    figure = Figure(figsize=(panel_inches[0] * columns, panel_inches[1] * rows), dpi=DPI, layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    return figure, [list(row) for row in axes]


def depth_colours(count: int) -> list[tuple[float, float, float, float]]:
    """`count` colours from light (shallow) to dark (deep) of one sequential colour map."""
    colour_map = matplotlib.colormaps["viridis"]
    return [colour_map(0.9 * (1 - index / max(count - 1, 1))) for index in range(count)]


def save_figure(figure: Figure, path: str | os.PathLike) -> None:
    """Saves `figure` as a PNG at 100 DPI, so that its pixel size is its size in inches x 100."""
    figure.savefig(path, dpi=DPI)
