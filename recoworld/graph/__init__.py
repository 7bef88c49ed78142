"""The user–item–attribute graph: networkx for people, compact arrays for the hot path."""

from recoworld.graph.ui_graph import (
    NODE_KINDS,
    AttributeGraph,
    attribute_entropy,
    synthetic_interactions,
)

__all__ = ["NODE_KINDS", "AttributeGraph", "attribute_entropy", "synthetic_interactions"]
