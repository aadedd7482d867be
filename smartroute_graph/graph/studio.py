"""What LangGraph Studio and ``langgraph dev`` load.

The router graph with every preset's models, a dry run when no API key is set, and a local PNG
renderer for ``smartroute draw``.

``graphs/langgraph.json`` points at ``graphs/router.py`` and ``graphs/support_app.py``,
which call :func:`build_router_graph`. A visitor without API keys can still step through
the graph: the run stops after ``select_model`` with the decision, whose ``reason`` says
that no key was found.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.graph import Graph

# The node wrapper graph/build.py uses: a sync and an async body, and no extra traced run.
from langgraph.graph.state import CompiledStateGraph

from smartroute_graph.classifiers import DEFAULT_CLASSIFIER, Classifier, ClassifierRegistry
from smartroute_graph.core.errors import ConfigError, SmartRouteError
from smartroute_graph.core.providers import ModelProvider
from smartroute_graph.graph.build import build_graph
from smartroute_graph.graph.learning import embedder_for
from smartroute_graph.graph.nodes import NO_KEY_DRY_RUN, RouterNodes, is_keyless_dry_run
from smartroute_graph.graph.state import RouterInput, RouterOutput, RouterState
from smartroute_graph.routing.context import RouterContext
from smartroute_graph.routing.online import OnlineLearner
from smartroute_graph.routing.policy import Policy

__all__ = [
    "NO_KEY_DRY_RUN",
    "NO_PNG_RENDERER",
    "STUDIO_PRESETS",
    "Drawable",
    "RouterGraph",
    "build_router_graph",
    "draw_png",
    "is_keyless_dry_run",
    "png_renderer",
]

logger = logging.getLogger(__name__)

STUDIO_PRESETS: tuple[str, ...] = ("openai", "openrouter")
"""The presets whose models the Studio graph draws (one node per model)."""

"""The words that end a decision's ``reason`` when no key was found and no model was called."""

NO_PNG_RENDERER = (
    "no local PNG renderer found: install mermaid-cli (`mmdc` on PATH), pygraphviz, or "
    "`pip install grandalf matplotlib`; or print the mermaid text and paste it into any "
    "mermaid viewer (rendering online would send the graph over the network)"
)

RouterGraph = CompiledStateGraph[RouterState, RouterContext, RouterInput, RouterOutput]
"""The compiled router graph's type."""


def build_router_graph(
    *,
    presets: Sequence[str] = STUDIO_PRESETS,
    default_preset: str = "openai",
    provider: ModelProvider | None = None,
    classifiers: Mapping[str, Classifier] | None = None,
    default_classifier: str = DEFAULT_CLASSIFIER,
    name: str = "smartroute",
    outcome_store: str | Path | None = None,
) -> RouterGraph:
    """The compiled router graph for Studio.

    One node per model of every preset in ``presets``, :class:`RouterContext` as its context schema,
    and a dry run (decision only) whenever the chosen model's provider has no API key.

    It is compiled without a checkpointer: ``langgraph dev`` refuses one and brings its own.

    Args:
        presets: presets to route with; a run picks one with ``context={"preset": ...}``.
        default_preset: the preset used when a run names none.
        provider: builds the chat models (default: keys from the environment or the request).
        classifiers: classifier backends by name, added to the shipped ones (all are loaded
            here, before any run).
        default_classifier: the backend used when a run names none.
        name: the compiled graph's name (shown in traces).
        outcome_store: learn from outcomes kept here (``graphs/router.py`` passes
            ``SMARTROUTE_OUTCOME_STORE``): the ``learned`` step decides from them and every
            reviewed answer is stored; without it the step passes through.
    """
    if not presets:
        raise ConfigError("give at least one preset, e.g. presets=('openai',)")
    policies = {preset: Policy.from_preset(preset) for preset in presets}
    provider = provider or ModelProvider()
    registry = ClassifierRegistry(classifiers, default=default_classifier)
    if default_classifier not in registry:
        raise ConfigError(
            f"unknown classifier {default_classifier!r}; choose one of {', '.join(registry)}"
        )
    # Load the backends now: `langgraph dev` raises on blocking file reads made inside a
    # running graph, and a backend's first classification would otherwise read its files.
    registry[default_classifier]
    for backend in registry:
        try:
            registry[backend]
        except (SmartRouteError, ImportError, OSError) as exc:
            # Not fatal for Studio: a run that picks this backend gets the same error.
            logger.warning("classifier %r not preloaded (%s: %s)", backend, type(exc).__name__, exc)
    learner = (
        OnlineLearner(outcome_store, embedder=embedder_for(registry[default_classifier]))
        if outcome_store
        else None
    )
    builder = build_graph(
        RouterNodes(
            policies=policies,
            classifiers=registry,
            provider=provider,
            default_preset=default_preset,
            default_classifier=default_classifier,
            learner=learner,
            keyless_dry_run=True,
        )
    )
    return builder.compile(name=name)


# ---------------------------------------------------------------------------------------
# PNG without the network


class Drawable(Protocol):
    """A compiled graph (anything with ``get_graph()``)."""

    def get_graph(self, config: RunnableConfig | None = None, *, xray: int | bool = False) -> Graph:
        """The drawable graph."""
        ...


def png_renderer() -> str | None:
    """The local PNG renderer :func:`draw_png` would use first, or None when there is none.

    In order: ``mmdc`` (mermaid-cli, same look as Studio), ``pygraphviz``, then ``grandalf``
    with ``matplotlib``.
    """
    available = _renderers()
    return available[0] if available else None


def draw_png(graph: Drawable | Graph, path: str | Path, *, xray: bool = True) -> bool:
    """Render ``graph`` as a PNG at ``path`` with a local renderer; never the network.

    (``draw_mermaid_png()`` posts the graph to an online service, so it is not used.)
    Returns False, and logs why, when no renderer is installed or every one failed;
    :data:`NO_PNG_RENDERER` says what to install.
    """
    drawable = graph if isinstance(graph, Graph) else graph.get_graph(xray=xray)
    target = Path(path)
    renderers = _renderers()
    if not renderers:
        logger.warning(NO_PNG_RENDERER)
        return False
    for name in renderers:
        try:
            _RENDER[name](drawable, target)
        except Exception as exc:  # one renderer failing should not stop the next one
            logger.warning("the %s PNG renderer failed (%s: %s)", name, type(exc).__name__, exc)
            continue
        if target.is_file() and target.stat().st_size > 0:
            return True
        logger.warning("the %s PNG renderer wrote no file at %s", name, target)
    return False


def _renderers() -> list[str]:
    import importlib.util

    found = []
    if shutil.which("mmdc"):
        found.append("mmdc")
    if importlib.util.find_spec("pygraphviz") is not None:
        found.append("pygraphviz")
    if all(importlib.util.find_spec(m) is not None for m in ("grandalf", "matplotlib")):
        found.append("matplotlib")
    return found


def _render_mmdc(drawable: Graph, path: Path) -> None:
    mmdc = shutil.which("mmdc")
    assert mmdc is not None
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "graph.mmd"
        source.write_text(drawable.draw_mermaid(), encoding="utf-8")
        subprocess.run(
            [mmdc, "--quiet", "-i", str(source), "-o", str(path), "-b", "white"],
            check=True,
            capture_output=True,
            timeout=120,
        )


def _render_pygraphviz(drawable: Graph, path: Path) -> None:
    drawable.draw_png(output_file_path=str(path))


# Sizes in points (1/72 inch) for the matplotlib renderer.
_CHAR_W, _BOX_H, _PAD, _X_GAP, _Y_GAP = 6.6, 26.0, 14.0, 18.0, 46.0


def _render_matplotlib(drawable: Graph, path: Path) -> None:
    """Sugiyama layout from grandalf (as ``draw_ascii`` uses), drawn with matplotlib."""
    from grandalf.graphs import Edge, Vertex
    from grandalf.graphs import Graph as GGraph
    from grandalf.layouts import SugiyamaLayout
    from grandalf.routing import route_with_lines
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    class _Box:
        def __init__(self, label: str) -> None:
            self.w = len(label) * _CHAR_W + 2 * _PAD
            self.h = _BOX_H
            self.xy: tuple[float, float] = (0.0, 0.0)

    class _Line:
        def __init__(self) -> None:
            self.pts: list[tuple[float, float]] = []

        def setpath(self, pts: list[tuple[float, float]]) -> None:
            self.pts = pts

    labels = {key: node.name for key, node in drawable.nodes.items()}
    vertices = {key: Vertex(key) for key in labels}
    for key, vertex in vertices.items():
        vertex.view = _Box(labels[key])
    edges = []
    for edge in drawable.edges:
        if edge.source == edge.target:
            continue  # grandalf cannot lay out a self-loop
        e = Edge(vertices[edge.source], vertices[edge.target], data=edge)
        e.view = _Line()
        edges.append(e)
    layout_graph = GGraph(list(vertices.values()), edges)
    back_edges = _back_edges(drawable)
    inverted = [e for e in edges if (e.data.source, e.data.target) in back_edges]
    offset = 0.0
    for component in layout_graph.C:
        sugiyama = SugiyamaLayout(component)
        roots = [v for v in component.sV if not v.e_in()]
        sugiyama.init_all(
            roots=roots or None,
            inverted_edges=[e for e in inverted if e in component.sE],
            optimize=True,
        )
        sugiyama.xspace = _X_GAP
        sugiyama.yspace = _Y_GAP
        sugiyama.route_edge = route_with_lines
        sugiyama.draw()
        xs = [v.view.xy[0] - v.view.w / 2 for v in component.sV]
        shift = offset - min(xs)
        for v in component.sV:
            v.view.xy = (v.view.xy[0] + shift, v.view.xy[1])
        for e in component.sE:
            e.view.pts = [(x + shift, y) for x, y in e.view.pts]
        offset = max(v.view.xy[0] + v.view.w / 2 for v in component.sV) + 3 * _X_GAP

    boxes = [v.view for v in vertices.values()]
    # Long edges bend through dummy vertices that may lie outside every box.
    points = [p for e in edges for p in e.view.pts]
    left = min([b.xy[0] - b.w / 2 for b in boxes] + [x for x, _ in points]) - _PAD
    right = max([b.xy[0] + b.w / 2 for b in boxes] + [x for x, _ in points]) + _PAD
    top = min([b.xy[1] - b.h / 2 for b in boxes] + [y for _, y in points]) - _PAD
    bottom = max([b.xy[1] + b.h / 2 for b in boxes] + [y for _, y in points]) + _PAD
    width, height = right - left, bottom - top
    figure = Figure(figsize=(width / 72, height / 72), dpi=150)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    axes.set_xlim(left, right)
    axes.set_ylim(bottom, top)  # grandalf's y grows downwards
    axes.axis("off")
    for e in edges:
        pts = e.view.pts or [e.v[0].view.xy, e.v[1].view.xy]
        conditional = bool(e.data.conditional)
        for (x0, y0), (x1, y1) in itertools.pairwise(pts[:-1]):  # the last one is the arrow
            axes.plot([x0, x1], [y0, y1], color="#555555", lw=0.9, ls="--" if conditional else "-")
        axes.add_patch(
            FancyArrowPatch(
                pts[-2],
                pts[-1],
                arrowstyle="-|>",
                mutation_scale=9,
                color="#555555",
                lw=0.9,
                ls="--" if conditional else "-",
                shrinkA=0,
                shrinkB=0,
            )
        )
    for key, vertex in vertices.items():
        box = vertex.view
        x, y = box.xy
        start_or_end = key in ("__start__", "__end__")
        axes.add_patch(
            FancyBboxPatch(
                (x - box.w / 2, y - box.h / 2),
                box.w,
                box.h,
                boxstyle="round,pad=0,rounding_size=8",
                facecolor="#dfe8f5" if start_or_end else "#f2f0ff",
                edgecolor="#5a55a5",
                lw=0.9,
            )
        )
        axes.text(x, y, labels[key], ha="center", va="center", fontsize=9, family="monospace")
    figure.savefig(str(path), format="png", facecolor="white")


def _back_edges(drawable: Graph) -> set[tuple[str, str]]:
    """Edges that go back up the graph (fallback loops), by breadth-first depth from the first node.

    Laying them out upside down keeps each step of the run one row lower.
    """
    first = drawable.first_node()
    start = first.id if first else next(iter(drawable.nodes))
    children: dict[str, list[str]] = {}
    for edge in drawable.edges:
        children.setdefault(edge.source, []).append(edge.target)
    depth = {start: 0}
    queue = [start]
    for node in queue:
        for child in children.get(node, []):
            if child not in depth:
                depth[child] = depth[node] + 1
                queue.append(child)
    last = drawable.last_node()
    return {
        (e.source, e.target)
        for e in drawable.edges
        if (last is None or e.target != last.id)
        and e.source in depth
        and e.target in depth
        and depth[e.target] <= depth[e.source]
    }


_RENDER = {
    "mmdc": _render_mmdc,
    "pygraphviz": _render_pygraphviz,
    "matplotlib": _render_matplotlib,
}
