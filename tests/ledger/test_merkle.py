"""RFC 6962 hashing, roots and proofs against published test vectors and pymerkle."""

from __future__ import annotations

import random
import warnings

import pytest
from pymerkle import InmemoryTree

from wattmesh.ledger import merkle

# The leaves and roots of the RFC 6962 test vectors used by Certificate Transparency implementations
# (e.g. certificate-transparency-go merkle/testdata): roots of the first 1..8 leaves.
CT_LEAVES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def ct_levels():
    leaves = b"".join(merkle.leaf_hashes([bytes.fromhex(x) for x in CT_LEAVES]))
    return leaves, merkle.level_lookup(merkle.full_levels(leaves))


def test_roots_match_the_certificate_transparency_vectors():
    leaves, node = ct_levels()
    for size, expected in enumerate(CT_ROOTS, start=1):
        assert merkle.root_from_nodes(size, node).hex() == expected
        assert merkle.root(leaves[: 32 * size]).hex() == expected


def test_empty_tree_root_is_the_hash_of_nothing():
    assert merkle.root(b"").hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_inclusion_path_of_leaf_0_in_8_is_the_published_one():
    _, node = ct_levels()
    path = [p.hex() for p in merkle.inclusion_path(0, 8, node)]
    assert path == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]


def test_roots_and_proofs_agree_with_pymerkle_and_verify_for_every_leaf_and_size():
    rng = random.Random(7)
    data = [rng.randbytes(rng.randint(0, 40)) for _ in range(45)]
    tree = InmemoryTree(algorithm="sha256")
    for item in data:
        tree.append_entry(item)
    leaves = b"".join(merkle.leaf_hashes(data))
    node = merkle.level_lookup(merkle.full_levels(leaves))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        roots = [None] + [tree.get_state(n) for n in range(1, len(data) + 1)]
    for n in range(1, len(data) + 1):
        assert merkle.root_from_nodes(n, node) == roots[n]
        for i in range(n):
            leaf = leaves[32 * i : 32 * i + 32]
            path = merkle.inclusion_path(i, n, node)
            assert merkle.verify_inclusion(leaf, i, n, path, roots[n])
            assert not merkle.verify_inclusion(leaf, i, n, path, roots[n - 1] or bytes(32))
            if path:
                assert not merkle.verify_inclusion(leaf, i, n, [bytes(32)] + path[1:], roots[n])
                assert not merkle.verify_inclusion(leaf, (i + 1) % n, n, path, roots[n]) or n == 1
        for m in range(1, n + 1):
            proof = merkle.consistency_path(m, n, node)
            assert merkle.verify_consistency(m, n, roots[m], roots[n], proof)
            if m < n:
                assert (
                    not merkle.verify_consistency(m, n, roots[m], roots[n - 1], proof) or m == n - 1 and False
                )
                assert not merkle.verify_consistency(m, n, roots[m - 1] or bytes(32), roots[n], proof)


def test_extending_in_batches_gives_the_nodes_of_a_full_rebuild():
    rng = random.Random(3)
    leaves = b"".join(merkle.leaf_hashes([rng.randbytes(8) for _ in range(300)]))
    full = merkle.full_levels(leaves)
    store: dict[tuple[int, int], bytes] = {}
    size = 0
    for batch in [1, 2, 3, 5, 8, 13, 1, 1, 0, 100, 166]:
        new = leaves[32 * size : 32 * (size + batch)]
        for level, (first, hashes) in enumerate(
            merkle.extend_levels(size, new, lambda lv, i: store[(lv, i)])
        ):
            for k in range(len(hashes) // 32):
                store[(level, first + k)] = hashes[32 * k : 32 * k + 32]
        size += batch
        assert merkle.root_from_nodes(size, lambda lv, i: store[(lv, i)]) == merkle.root(leaves[: 32 * size])
    for level, hashes in enumerate(full):
        assert b"".join(store[(level, i)] for i in range(len(hashes) // 32)) == hashes


def test_bad_proof_requests_are_refused():
    _, node = ct_levels()
    with pytest.raises(ValueError, match="outside the tree"):
        merkle.inclusion_path(8, 8, node)
    with pytest.raises(ValueError, match="need 0 < old <= new"):
        merkle.consistency_path(0, 8, node)
