"""RFC 6962 Merkle tree hashing in bulk: leaf and node hashes, roots, inclusion and consistency proofs.

The tree over leaves ``d[0:n]`` is the one of RFC 6962 section 2.1 (SHA-256, leaf prefix 0x00, node
prefix 0x01, split at the largest power of two below ``n``). Its nodes are the *full aligned subtrees*:
node ``(level, index)`` covers leaves ``[index * 2**level, (index + 1) * 2**level)``. A tree of size
``n`` is the right fold of its peaks (one full aligned subtree per set bit of ``n``), so roots at every
size, and every proof, are built from full aligned nodes only. Levels are computed in bulk over
concatenated 32-byte hashes, without a Python object per node.

Proof generation takes a ``node(level, index) -> bytes`` lookup, so the same code serves the SQLite
node cache of the log and arrays held in memory. Verification follows RFC 9162 sections 2.1.3.2 and
2.1.4.2, written independently of the generators.

References
----------
B. Laurie, A. Langley, E. Kasper, "Certificate Transparency", RFC 6962, 2013.
B. Laurie, E. Messeri, R. Stradling, "Certificate Transparency Version 2.0", RFC 9162, 2021.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeLookup = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data), the RFC 6962 hash of one leaf."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right), the RFC 6962 hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def leaf_hashes(leaves: Sequence[bytes]) -> list[bytes]:
    """RFC 6962 leaf hashes of many leaves."""
    sha = hashlib.sha256
    return [sha(b"\x00" + data).digest() for data in leaves]


def parent_level(level: bytes) -> bytes:
    """The full parents of a level given as concatenated 32-byte hashes (an odd last node is dropped)."""
    sha = hashlib.sha256
    end = len(level) - len(level) % (2 * HASH_SIZE)
    return b"".join([sha(b"\x01" + level[i : i + 2 * HASH_SIZE]).digest() for i in range(0, end, 64)])


def full_levels(leaf_level: bytes) -> list[bytes]:
    """Every full aligned level above the leaves: ``levels[k]`` holds the ``n >> k`` nodes of level k.

    Parameters
    ----------
    leaf_level : bytes
        The ``n`` leaf hashes concatenated (``32 * n`` bytes).
    """
    levels = [leaf_level]
    while len(levels[-1]) >= 2 * HASH_SIZE:
        levels.append(parent_level(levels[-1]))
    return levels


def level_lookup(levels: Sequence[bytes]) -> NodeLookup:
    """A node lookup over levels held in memory (as returned by :func:`full_levels`)."""

    def node(level: int, index: int) -> bytes:
        return levels[level][index * HASH_SIZE : (index + 1) * HASH_SIZE]

    return node


def peaks(size: int) -> list[tuple[int, int]]:
    """The full aligned subtrees ``(level, index)`` whose right fold is the tree of ``size`` leaves."""
    out = []
    covered = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((level, covered >> level))
            covered += 1 << level
    return out


def root_from_nodes(size: int, node: NodeLookup) -> bytes:
    """The RFC 6962 root of the first ``size`` leaves, from full aligned nodes."""
    if size == 0:
        return EMPTY_ROOT
    parts = [node(level, index) for level, index in peaks(size)]
    root = parts[-1]
    for part in reversed(parts[:-1]):
        root = node_hash(part, root)
    return root


def root(leaf_level: bytes) -> bytes:
    """The RFC 6962 root of leaves given as concatenated leaf hashes."""
    size = len(leaf_level) // HASH_SIZE
    return root_from_nodes(size, level_lookup(full_levels(leaf_level)))


def subtree_hash(start: int, end: int, node: NodeLookup) -> bytes:
    """The hash of the RFC 6962 subtree over leaves ``[start, end)``, where ``start`` is aligned to the
    largest power of two not above ``end - start`` (true of every subtree the proofs visit)."""
    size = end - start
    if size & (size - 1) == 0:
        level = size.bit_length() - 1
        return node(level, start >> level)
    split = 1 << (size - 1).bit_length() - 1
    return node_hash(node(split.bit_length() - 1, start // split), subtree_hash(start + split, end, node))


def inclusion_path(index: int, size: int, node: NodeLookup) -> list[bytes]:
    """The RFC 6962 audit path (section 2.1.1) of leaf ``index`` in the tree of ``size`` leaves."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside the tree of {size} leaves")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        split = 1 << (end - start - 1).bit_length() - 1
        if index < start + split:
            path.append(subtree_hash(start + split, end, node))
            end = start + split
        else:
            path.append(subtree_hash(start, start + split, node))
            start += split
    path.reverse()
    return path


def consistency_path(old_size: int, new_size: int, node: NodeLookup) -> list[bytes]:
    """The RFC 6962 consistency proof (section 2.1.2) from the tree of ``old_size`` to ``new_size``."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size} (need 0 < old <= new)")

    def subproof(m: int, start: int, end: int, whole: bool) -> list[bytes]:
        size = end - start
        if m == size:
            return [] if whole else [subtree_hash(start, end, node)]
        split = 1 << (size - 1).bit_length() - 1
        if m <= split:
            return subproof(m, start, start + split, whole) + [subtree_hash(start + split, end, node)]
        return subproof(m - split, start + split, end, False) + [subtree_hash(start, start + split, node)]

    return subproof(old_size, 0, new_size, True)


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], expected_root: bytes) -> bool:
    """Whether ``path`` proves leaf hash ``leaf`` at ``index`` in the tree of ``size`` with ``expected_root``.

    The algorithm of RFC 9162 section 2.1.3.2.
    """
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]
) -> bool:
    """Whether ``path`` proves the tree (``old_size``, ``old_root``) is a prefix of (``new_size``,
    ``new_root``). The algorithm of RFC 9162 section 2.1.4.2."""
    if old_size == new_size:
        return len(path) == 0 and old_root == new_root
    if not 0 < old_size < new_size or not path:
        return False
    path = list(path)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


def extend_levels(old_size: int, new_leaves: bytes, node: NodeLookup) -> list[tuple[int, bytes]]:
    """The full aligned nodes created by appending ``new_leaves`` to a tree of ``old_size`` leaves.

    Parameters
    ----------
    old_size : int
        Leaves already in the tree.
    new_leaves : bytes
        The appended leaf hashes, concatenated.
    node : callable
        Lookup of existing nodes; called at most once per level (for a left sibling).

    Returns
    -------
    list of (first_index, concatenated hashes)
        One item per level from 0 up: the new nodes of that level, starting at ``first_index``.
    """
    new_size = old_size + len(new_leaves) // HASH_SIZE
    out = [(old_size, new_leaves)]
    level = 1
    while new_size >> level > old_size >> level:
        below_first, below = out[-1]
        first = old_size >> level
        if 2 * first < below_first:
            below = node(level - 1, 2 * first) + below
        out.append((first, parent_level(below)))
        level += 1
    return out
