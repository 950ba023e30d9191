"""Remove what an ONNX file records about the machine that wrote it, and nothing else.

PyTorch's exporter stores, on every node, the Python stack that created it
(``pkg.torch.onnx.stack_trace``): absolute paths of the exporting machine's source files and
virtual environment. A shipped package must not carry them (docs/models.md). Weights, graph
structure, names and the other node metadata (module scopes, class names) are kept as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Node metadata keys that hold source locations of the exporting machine.
SOURCE_LOCATION_KEYS = frozenset({"pkg.torch.onnx.stack_trace"})


def _graphs(graph: Any) -> Iterator[Any]:
    """``graph`` and every subgraph held by a node attribute (If, Loop, Scan bodies)."""
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("g"):
                yield from _graphs(attribute.g)
            for sub in attribute.graphs:
                yield from _graphs(sub)


def _clean_node(node: Any) -> int:
    kept = [p for p in node.metadata_props if p.key not in SOURCE_LOCATION_KEYS]
    removed = len(node.metadata_props) - len(kept)
    if removed:
        del node.metadata_props[:]
        node.metadata_props.extend(kept)
    if node.doc_string:  # older exporters wrote the stack trace here
        node.doc_string = ""
        removed += 1
    return removed


def strip_source_locations(model: Any) -> int:
    """Remove source locations from every node of ``model`` (an ``onnx.ModelProto``), in place,
    its local functions included; returns how many entries were removed."""
    removed = 0
    for graph in _graphs(model.graph):
        removed += sum(_clean_node(node) for node in graph.node)
    for function in model.functions:
        removed += sum(_clean_node(node) for node in function.node)
    return removed


def strip_source_locations_file(path: Path) -> int:
    """:func:`strip_source_locations` on an ONNX file, rewritten in place only when something
    was removed; returns the count."""
    import onnx

    model = onnx.load(str(path))
    removed = strip_source_locations(model)
    if removed:
        from dermcad.atomic import write_bytes_atomic

        write_bytes_atomic(path, model.SerializeToString())
    return removed
