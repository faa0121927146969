"""Subpackages import one way (docs/architecture.md "Layers"): no cycle, and nothing imports a layer above it
(issue 26). Function-level imports count too: a lazy import is still a dependency."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "monai_srgan"

#: lower number = lower layer; a subpackage imports only subpackages of lower layers
LAYERS = {
    "errors": 0,
    "utils": 1,
    "io": 2,
    "networks": 2,
    "transforms": 3,
    "metrics": 4,
    "losses": 5,  # above metrics and transforms: fidelity losses are the differentiable form of a metric
    "engines": 6,
    "inference": 7,
    "selfsup": 8,
    "bundle": 9,
    "apps": 10,
}


def _edges() -> dict[str, set[tuple[str, str]]]:
    edges: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for f in PACKAGE.rglob("*.py"):
        parts = f.relative_to(PACKAGE).parts
        src = parts[0] if len(parts) > 1 else parts[0][:-3]
        if src in ("__init__", "__main__"):
            continue
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                mods = [node.module]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            else:
                continue
            for m in mods:
                if m.startswith("monai_srgan.") and m.split(".")[1] != src:
                    edges[src].add((m.split(".")[1], str(f.relative_to(PACKAGE))))
    return edges


def test_every_subpackage_has_a_layer():
    subs = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()} | {"errors"}
    assert subs == set(LAYERS), subs ^ set(LAYERS)


def test_no_import_goes_up_a_layer():
    up = [
        f"{where}: {src} (layer {LAYERS[src]}) imports {dst} (layer {LAYERS[dst]})"
        for src, targets in _edges().items()
        for dst, where in targets
        if dst in LAYERS and LAYERS[dst] >= LAYERS[src]
    ]
    assert not up, "\n".join(sorted(up))


def test_no_cycle_between_subpackages():
    graph = {s: {d for d, _ in t} for s, t in _edges().items()}

    def reach(a: str, seen: set[str]) -> set[str]:
        for b in graph.get(a, ()):
            if b not in seen:
                seen.add(b)
                reach(b, seen)
        return seen

    assert not [s for s in graph if s in reach(s, set())]
