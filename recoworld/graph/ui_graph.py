"""The user–item–attribute graph of conversational recommendation (CPR/SCPR/EAR).

Multi-round conversational recommendation walks a heterogeneous graph: users interact with
items, items *belong to* attributes (tags, genres), users *like* attributes. The published SCPR
code keeps this graph as nested Python dictionaries and filters candidate items with set
intersections; here the graph has two faces:

* :meth:`AttributeGraph.to_networkx` builds a :class:`networkx.Graph` for people: nodes are
  ``("user", user_id)``, ``("item", item_row)`` and ``("attribute", attribute_column)`` tuples
  with a ``kind`` node attribute, edges carry a ``relation`` (``"interact"`` user–item,
  ``"belong_to"`` item–attribute, ``"like"`` user–attribute). :meth:`AttributeGraph.from_networkx`
  reads such a graph back, so a hand-built graph is as good as a catalog.
* The hot path reads compact arrays built once: ``item_attr`` (CSR, item rows -> attribute
  columns), ``attr_items`` (CSR of the transpose, attribute -> item rows) and ``entry_item`` (the
  item row of every stored ``item_attr`` entry). Restricting a candidate set to the items that
  have an attribute, and counting how many candidates have each attribute, are vectorized over
  those arrays (:meth:`AttributeGraph.restrict`, :meth:`AttributeGraph.attribute_counts`): for
  LastFM* (7,432 items, 8,438 attributes, 94,446 item–attribute edges) each is a pass over at
  most 94,446 entries, never a Python loop over items.

Candidate sets are boolean masks over item rows, ``(n_items,)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp

from recoworld.catalog.base import Catalog

__all__ = [
    "NODE_KINDS",
    "AttributeGraph",
    "attribute_entropy",
    "synthetic_interactions",
]

NODE_KINDS: tuple[str, ...] = ("user", "item", "attribute")
"""The node kinds of the graph, first element of every node tuple."""

_RELATIONS: dict[frozenset[str], str] = {
    frozenset({"user", "item"}): "interact",
    frozenset({"item", "attribute"}): "belong_to",
    frozenset({"user", "attribute"}): "like",
}


@dataclass(frozen=True, eq=False, repr=False)
class AttributeGraph:
    """An immutable user–item–attribute graph with array views for the hot path.

    Build it with :meth:`from_catalog` (a :class:`~recoworld.catalog.Catalog` plus optional
    interactions and liked attributes) or :meth:`from_networkx`; the constructor checks shapes.

    Attributes:
        item_attr: ``(n_items, n_attributes)`` bool CSR, sorted indices: item -> attributes.
        attr_items: ``(n_attributes, n_items)`` bool CSR, sorted indices: attribute -> items.
        entry_item: ``(item_attr.nnz,)`` int64, the item row of each ``item_attr`` entry, so
            per-entry selections by a candidate mask are one gather.
        user_ids: ``(n_users,)`` int64, sorted user ids; row ``u`` of the user matrices is user
            ``user_ids[u]``.
        user_items: ``(n_users, n_items)`` bool CSR, the interactions.
        user_attr: ``(n_users, n_attributes)`` bool CSR, the liked attributes (may be empty).
    """

    item_attr: sp.csr_array
    attr_items: sp.csr_array
    entry_item: np.ndarray
    user_ids: np.ndarray
    user_items: sp.csr_array
    user_attr: sp.csr_array

    def __post_init__(self) -> None:
        n_items, n_attributes = self.item_attr.shape
        n_users = len(self.user_ids)
        expected = {
            "attr_items": (n_attributes, n_items),
            "user_items": (n_users, n_items),
            "user_attr": (n_users, n_attributes),
        }
        for name, shape in expected.items():
            actual = tuple(getattr(self, name).shape)
            if actual != shape:
                raise ValueError(f"AttributeGraph.{name} has shape {actual}, expected {shape}")
        if self.entry_item.shape != (self.item_attr.nnz,):
            raise ValueError(
                f"AttributeGraph.entry_item has shape {self.entry_item.shape}, "
                f"expected ({self.item_attr.nnz},)"
            )
        if n_items == 0 or n_attributes == 0:
            raise ValueError(
                f"AttributeGraph needs at least one item and one attribute, "
                f"got {n_items} items and {n_attributes} attributes"
            )
        if n_users > 1 and not np.all(np.diff(self.user_ids) > 0):
            raise ValueError("AttributeGraph.user_ids must be sorted and distinct")
        for name in ("item_attr", "attr_items", "user_items", "user_attr"):
            matrix = getattr(self, name)
            for array in (matrix.data, matrix.indices, matrix.indptr):
                array.setflags(write=False)
        for array in (self.entry_item, self.user_ids):
            array.setflags(write=False)

    # ---------------------------------------------------------------- construction

    @classmethod
    def from_catalog(
        cls,
        catalog: Catalog,
        interactions: Mapping[int, Any] | None = None,
        user_likes: Mapping[int, Any] | None = None,
    ) -> AttributeGraph:
        """The graph of ``catalog``'s items and attributes, plus users if given.

        Args:
            catalog: items and their attributes (``catalog.item_attributes``).
            interactions: user id -> item rows the user interacted with.
            user_likes: user id -> attribute columns the user likes (SCPR's ``"like"``).

        Users are the union of the two mappings' keys. Raises ``ValueError`` naming the user and
        the value when an item row or attribute column is out of range.
        """
        if not isinstance(catalog, Catalog):
            raise ValueError(f"catalog={catalog!r} is not a recoworld Catalog")
        item_attr = _bool_csr(catalog.item_attributes)
        n_items, n_attributes = item_attr.shape
        interactions = dict(interactions or {})
        user_likes = dict(user_likes or {})
        for user in (*interactions, *user_likes):
            if (
                isinstance(user, bool | np.bool_)
                or not isinstance(user, int | np.integer)
                or not -(2**63) <= int(user) < 2**63
            ):
                raise ValueError(f"user id {user!r} is not an integer in the int64 range")
        user_ids = np.array(sorted({int(u) for u in (*interactions, *user_likes)}), np.int64)
        user_items = _rows_to_csr(interactions, user_ids, n_items, "item row", "interactions")
        user_attr = _rows_to_csr(
            user_likes, user_ids, n_attributes, "attribute column", "user_likes"
        )
        return cls._from_matrices(item_attr, user_ids, user_items, user_attr)

    @classmethod
    def from_networkx(cls, graph: nx.Graph) -> AttributeGraph:
        """Read a graph in the :meth:`to_networkx` layout back into arrays.

        Every node must be a ``(kind, id)`` tuple with ``kind`` in :data:`NODE_KINDS` and an
        integer ``id``; item rows must be ``0..n_items-1`` and attribute columns
        ``0..n_attributes-1`` without gaps (an item or attribute without edges is still a
        node). Edges join user–item, item–attribute or user–attribute; any other edge raises
        ``ValueError`` naming it.
        """
        if not isinstance(graph, nx.Graph):
            raise ValueError(f"graph={graph!r} is not a networkx graph")
        ids: dict[str, list[int]] = {kind: [] for kind in NODE_KINDS}
        for node in graph.nodes:
            kind, index = _parse_node(node)
            ids[kind].append(index)
        sizes: dict[str, int] = {}
        for kind in ("item", "attribute"):
            found = sorted(ids[kind])
            if found != list(range(len(found))):
                missing = sorted(set(range(max(found, default=-1) + 1)) - set(found))
                raise ValueError(
                    f"the graph's {kind} nodes must be numbered 0..n-1 without gaps; "
                    f"{kind} {missing[0] if missing else min(found)} breaks this"
                )
            sizes[kind] = len(found)
        user_ids = np.array(sorted(ids["user"]), np.int64)
        user_row = {int(u): r for r, u in enumerate(user_ids.tolist())}
        pairs: dict[str, list[tuple[int, int]]] = {"interact": [], "belong_to": [], "like": []}
        for a, b in graph.edges:
            (kind_a, id_a), (kind_b, id_b) = _parse_node(a), _parse_node(b)
            relation = _RELATIONS.get(frozenset({kind_a, kind_b}))
            if relation is None or kind_a == kind_b:
                raise ValueError(
                    f"edge {a!r} -- {b!r} joins kinds {kind_a!r} and {kind_b!r}; only "
                    "user–item, item–attribute and user–attribute edges are allowed"
                )
            order = {"interact": ("user", "item"), "belong_to": ("item", "attribute")}.get(
                relation, ("user", "attribute")
            )
            by_kind = {kind_a: id_a, kind_b: id_b}
            pairs[relation].append((by_kind[order[0]], by_kind[order[1]]))
        n_items, n_attributes, n_users = sizes["item"], sizes["attribute"], len(user_ids)

        def matrix(edges: list[tuple[int, int]], shape: tuple[int, int], rows=None):
            array = np.array(edges, np.int64).reshape(-1, 2)
            row = array[:, 0] if rows is None else np.array([rows[r] for r in array[:, 0]])
            return _bool_csr(
                sp.csr_array(
                    (np.ones(len(array), np.int8), (row.astype(np.int64), array[:, 1])),
                    shape=shape,
                )
            )

        item_attr = matrix(pairs["belong_to"], (n_items, n_attributes))
        user_items = matrix(pairs["interact"], (n_users, n_items), user_row)
        user_attr = matrix(pairs["like"], (n_users, n_attributes), user_row)
        return cls._from_matrices(item_attr, user_ids, user_items, user_attr)

    @classmethod
    def _from_matrices(
        cls,
        item_attr: sp.csr_array,
        user_ids: np.ndarray,
        user_items: sp.csr_array,
        user_attr: sp.csr_array,
    ) -> AttributeGraph:
        attr_items = _bool_csr(sp.csr_array(item_attr.T))
        entry_item = np.repeat(
            np.arange(item_attr.shape[0], dtype=np.int64), np.diff(item_attr.indptr)
        )
        return cls(
            item_attr=item_attr,
            attr_items=attr_items,
            entry_item=entry_item,
            user_ids=user_ids,
            user_items=user_items,
            user_attr=user_attr,
        )

    # ---------------------------------------------------------------- sizes and views

    @property
    def n_items(self) -> int:
        return int(self.item_attr.shape[0])

    @property
    def n_attributes(self) -> int:
        return int(self.item_attr.shape[1])

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    def attributes_of(self, item: int) -> np.ndarray:
        """Sorted attribute columns of item row ``item`` (a read-only view)."""
        if not 0 <= item < self.n_items:
            raise IndexError(f"item row {item} is outside 0..{self.n_items - 1}")
        return self.item_attr.indices[self.item_attr.indptr[item] : self.item_attr.indptr[item + 1]]

    def items_with(self, attribute: int) -> np.ndarray:
        """Sorted item rows that have ``attribute`` (a read-only view)."""
        if not 0 <= attribute < self.n_attributes:
            raise IndexError(f"attribute {attribute} is outside 0..{self.n_attributes - 1}")
        indptr = self.attr_items.indptr
        return self.attr_items.indices[indptr[attribute] : indptr[attribute + 1]]

    def has_attribute(self, item: int, attribute: int) -> bool:
        """Whether item row ``item`` has ``attribute`` (binary search in the item's row)."""
        row = self.attributes_of(item)
        position = int(np.searchsorted(row, attribute))
        return position < len(row) and int(row[position]) == attribute

    def items_of_user(self, user: int) -> np.ndarray:
        """Sorted item rows user id ``user`` interacted with (empty for an unknown user)."""
        position = int(np.searchsorted(self.user_ids, user))
        if position == self.n_users or int(self.user_ids[position]) != user:
            return np.empty(0, dtype=self.user_items.indices.dtype)
        indptr = self.user_items.indptr
        return self.user_items.indices[indptr[position] : indptr[position + 1]]

    # ---------------------------------------------------------------- hot path

    def restrict(self, candidates: np.ndarray, attribute: int) -> np.ndarray:
        """The candidates that have ``attribute``: ``candidates & has(attribute)``.

        ``candidates`` is an ``(n_items,)`` bool mask; a new mask is returned. The work is a
        gather and a scatter over the attribute's items only.
        """
        rows = self.items_with(attribute)
        restricted = np.zeros(self.n_items, dtype=bool)
        restricted[rows] = candidates[rows]
        return restricted

    def attribute_counts(self, candidates: np.ndarray) -> np.ndarray:
        """``(n_attributes,)`` int64: how many candidate items have each attribute.

        ``candidates`` is an ``(n_items,)`` bool mask. One gather over the ``item_attr``
        entries and one ``bincount``.
        """
        selected = self.item_attr.indices[candidates[self.entry_item]]
        return np.bincount(selected, minlength=self.n_attributes).astype(np.int64, copy=False)

    # ---------------------------------------------------------------- networkx

    def to_networkx(self) -> nx.Graph:
        """A new :class:`networkx.Graph` of the users, items and attributes (see the module).

        Every item and attribute is a node even without edges, so :meth:`from_networkx` gives
        back the same arrays.
        """
        graph = nx.Graph()
        graph.add_nodes_from((("user", int(u)), {"kind": "user"}) for u in self.user_ids)
        graph.add_nodes_from((("item", i), {"kind": "item"}) for i in range(self.n_items))
        graph.add_nodes_from(
            (("attribute", a), {"kind": "attribute"}) for a in range(self.n_attributes)
        )
        item_attr = self.item_attr.tocoo()
        graph.add_edges_from(
            (("item", int(i)), ("attribute", int(a)), {"relation": "belong_to"})
            for i, a in zip(item_attr.row, item_attr.col, strict=True)
        )
        for matrix, kind, relation in (
            (self.user_items, "item", "interact"),
            (self.user_attr, "attribute", "like"),
        ):
            coo = matrix.tocoo()
            graph.add_edges_from(
                (("user", int(self.user_ids[u])), (kind, int(j)), {"relation": relation})
                for u, j in zip(coo.row, coo.col, strict=True)
            )
        return graph

    def __repr__(self) -> str:
        return (
            f"AttributeGraph(n_users={self.n_users}, n_items={self.n_items}, "
            f"n_attributes={self.n_attributes}, item_attribute_edges={self.item_attr.nnz}, "
            f"interactions={self.user_items.nnz}, likes={self.user_attr.nnz})"
        )


def attribute_entropy(counts: np.ndarray, n_candidates: float) -> np.ndarray:
    """Binary entropy in bits of "a candidate has the attribute", per attribute.

    With ``p = counts / n_candidates`` (the share of the candidate items that have the
    attribute)::

        H(p) = -p log2 p - (1 - p) log2 (1 - p),   H(0) = H(1) = 0

    so an attribute that half the candidates have scores 1 (the answer halves the set when it
    is yes) and one that all or none have scores 0. The order is the same as ``p (1 - p)``.
    ``counts`` and ``n_candidates`` may also be weights (SCPR's weighted entropy passes the
    total candidate weight as a float). Returns float64 values in ``[0, 1]``, shaped like
    ``counts``.

    >>> attribute_entropy(np.array([0, 1, 2, 4]), 4).round(4).tolist()
    [0.0, 0.8113, 1.0, 0.0]
    """
    counts = np.asarray(counts, dtype=np.float64)
    if n_candidates <= 0:
        return np.zeros_like(counts)
    p = np.clip(counts / n_candidates, 0.0, 1.0)
    q = 1.0 - p
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -(np.where(p > 0, p * np.log2(p), 0.0) + np.where(q > 0, q * np.log2(q), 0.0))
    return np.clip(entropy, 0.0, 1.0) + 0.0  # + 0.0 turns -0.0 into 0.0


def synthetic_interactions(
    catalog: Catalog,
    n_users: int = 100,
    items_per_user: int = 10,
    *,
    seed: int | np.random.Generator = 0,
) -> dict[int, np.ndarray]:
    """Seeded user -> item rows interactions for a catalog without logged data.

    Each user ``0..n_users-1`` has a favourite topic, drawn uniformly, and interacts with
    ``min(items_per_user, n_items)`` distinct items drawn without replacement with weights
    ``sqrt(popularity) * (0.1 + item_topics[:, favourite])``: users mostly consume their topic,
    popular items more often, with a long tail elsewhere. Item rows are sorted per user.

    >>> from recoworld.catalog import SyntheticCatalogConfig, generate_catalog
    >>> catalog = generate_catalog(SyntheticCatalogConfig(n_items=50), seed=1)
    >>> data = synthetic_interactions(catalog, n_users=3, items_per_user=4, seed=0)
    >>> sorted(data), [len(rows) for rows in data.values()]
    ([0, 1, 2], [4, 4, 4])
    """
    for name, value in (("n_users", n_users), ("items_per_user", items_per_user)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name}={value!r} must be a positive integer")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    count = min(int(items_per_user), catalog.n_items)
    base = np.sqrt(catalog.popularity.astype(np.float64))
    favourites = rng.integers(0, catalog.n_topics, size=int(n_users))
    interactions: dict[int, np.ndarray] = {}
    for user, topic in enumerate(favourites.tolist()):
        weights = base * (0.1 + catalog.item_topics[:, topic].astype(np.float64))
        rows = rng.choice(catalog.n_items, size=count, replace=False, p=weights / weights.sum())
        interactions[user] = np.sort(rows).astype(np.int64)
    return interactions


# --------------------------------------------------------------------------------------------


def _bool_csr(matrix: Any) -> sp.csr_array:
    """``matrix`` as a canonical bool CSR array (duplicates summed, indices sorted, no zeros)."""
    csr = sp.csr_array(matrix)
    csr.sum_duplicates()
    csr.eliminate_zeros()
    csr.sort_indices()
    return csr.astype(bool)


def _rows_to_csr(
    mapping: dict[Any, Any], user_ids: np.ndarray, n_columns: int, what: str, name: str
) -> sp.csr_array:
    row_of = {int(u): r for r, u in enumerate(user_ids.tolist())}
    rows: list[np.ndarray] = []
    columns: list[np.ndarray] = []
    for user, values in mapping.items():
        try:
            array = np.asarray(values)
        except (TypeError, ValueError):  # ragged nesting, objects numpy cannot hold
            array = np.asarray(None)
        if array.size and (array.ndim != 1 or array.dtype.kind not in "iu"):
            raise ValueError(f"{name}[{user!r}] must be a 1-D list of integers, got {values!r}")
        array = array.astype(np.int64).ravel()
        bad = array[(array < 0) | (array >= n_columns)]
        if bad.size:
            raise ValueError(
                f"{name}[{user!r}] has {what} {int(bad[0])}, outside 0..{n_columns - 1}"
            )
        rows.append(np.full(array.size, row_of[int(user)], np.int64))
        columns.append(array)
    row = np.concatenate(rows) if rows else np.empty(0, np.int64)
    column = np.concatenate(columns) if columns else np.empty(0, np.int64)
    return _bool_csr(
        sp.csr_array((np.ones(row.size, np.int8), (row, column)), shape=(len(user_ids), n_columns))
    )


def _parse_node(node: Any) -> tuple[str, int]:
    if (
        not isinstance(node, tuple)
        or len(node) != 2
        or node[0] not in NODE_KINDS
        or isinstance(node[1], bool)
        or not isinstance(node[1], int | np.integer)
        or node[1] < 0
    ):
        raise ValueError(
            f"graph node {node!r} is not a (kind, id) tuple with kind in {NODE_KINDS} "
            "and a non-negative integer id"
        )
    return str(node[0]), int(node[1])
