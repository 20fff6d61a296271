"""The Vyper contract of the chain backend: its source, its compiled artefact and the offline compiler.

The artefact (``contracts/EnergyLedger.json``: ABI, bytecode, compiler version, EVM version, source
hash) is checked in so that running the ledger needs no compiler; ``python -m wattmesh.ledger.contract``
regenerates it, and a test checks that recompiling gives the same bytecode.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

CONTRACTS = Path(__file__).parent / "contracts"
SOURCE = CONTRACTS / "EnergyLedger.vy"
ARTEFACT = CONTRACTS / "EnergyLedger.json"
EVM_VERSION = "london"


def compile_contract(source: Path = SOURCE) -> dict:
    """Compile the contract with the installed ``vyper`` for ``--evm-version london``.

    Returns
    -------
    dict
        ``contract_name, vyper_version, evm_version, source_sha256, abi, bytecode`` (hex with 0x).
    """
    import vyper
    from vyper.compiler.settings import Settings

    text = source.read_text()
    out = vyper.compile_code(
        text,
        contract_path=source.name,
        output_formats=["abi", "bytecode"],
        settings=Settings(evm_version=EVM_VERSION),
    )
    return {
        "contract_name": source.stem,
        "vyper_version": vyper.__version__,
        "evm_version": EVM_VERSION,
        "source_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "abi": out["abi"],
        "bytecode": out["bytecode"],
    }


@cache
def load_artefact() -> dict:
    """The checked-in compiled contract.

    Raises
    ------
    RuntimeError
        if the artefact does not match the source next to it (recompile with
        ``python -m wattmesh.ledger.contract``).
    """
    artefact = json.loads(ARTEFACT.read_text())
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()
    if artefact["source_sha256"] != digest:
        raise RuntimeError(
            f"{ARTEFACT}: compiled from source {artefact['source_sha256'][:12]}..., but {SOURCE.name} is "
            f"{digest[:12]}...; run `python -m wattmesh.ledger.contract` to recompile"
        )
    return artefact


def write_artefact() -> Path:
    """Recompile the source and write the artefact."""
    ARTEFACT.write_text(json.dumps(compile_contract(), indent=1) + "\n")
    return ARTEFACT


if __name__ == "__main__":
    print(write_artefact())
