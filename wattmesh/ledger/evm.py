"""The chain backend: the same signed local log, plus an EVM contract that anchors or settles each interval.

Modes
-----
``anchor``
    One transaction per market interval stores the RFC 6962 root of that interval's entries (the tree
    head's ``interval_root``). Trades stay in the local log; a trade's proof leads to the root on chain.
``settle``
    Every trade is sent in batches (default 500 per transaction) and emitted as a ``TradeSettled`` event;
    energy-credit balances (micro-units of the currency, seller credited and buyer debited ``energy x
    price``) move on chain; the last batch stores the interval's root.

The chain goes first: an interval is written to the local log only after every receipt has status 1, so
a reverted transaction (e.g. settling an interval twice) raises :class:`ChainError` and leaves the local
log unchanged. In ``settle`` mode the batches before a failing one stay on chain; the error says so.

The embedded chain is eth-tester with py-evm (in process, gone when the process ends). Any JSON-RPC EVM
node works through :class:`ChainConfig`; proof-of-authority chains (Energy Web) need ``poa=True``, which
injects web3's ``ExtraDataToPOAMiddleware``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from wattmesh.ledger import merkle
from wattmesh.ledger.audit import Problem
from wattmesh.ledger.contract import load_artefact
from wattmesh.ledger.keys import Keyring, sign_many
from wattmesh.ledger.local import (
    CHAIN_META,
    CorruptLedgerError,
    LocalLedger,
    PreparedBatch,
    TreeHead,
    blob,
    chain_tx_message,
    entry_message,
    read_ledger,
    verify_proof,
)

MODES = ("anchor", "settle")
EMBEDDED = "eth-tester"


class ChainError(RuntimeError):
    """A chain transaction failed (rejected, reverted or timed out); the local log was not changed."""


@dataclass(frozen=True)
class ChainConfig:
    """Where the contract lives and who signs.

    Attributes
    ----------
    rpc_url : str
        JSON-RPC URL of an EVM node, or ``"eth-tester"`` for the embedded py-evm chain.
    contract_address : str, optional
        A deployed contract; deployed on first use when None.
    chain_id : int, optional
        Expected chain id; a node reporting another one is refused.
    private_key_env : str
        Environment variable holding the operator's chain key (hex), used when ``keystore`` is None.
    keystore : Path, optional
        An encrypted JSON keystore file with the operator's chain key.
    keystore_password_env : str
        Environment variable holding the keystore's password.
    poa : bool
        Inject web3's ExtraDataToPOAMiddleware (proof-of-authority chains such as Energy Web).
    batch_size : int
        Trades per ``settle`` transaction (at most 500, the contract's limit).
    timeout_s : float
        How long to wait for each receipt [s].
    """

    rpc_url: str = EMBEDDED
    contract_address: str | None = None
    chain_id: int | None = None
    private_key_env: str = "WATTMESH_CHAIN_KEY"
    keystore: Path | None = None
    keystore_password_env: str = "WATTMESH_KEYSTORE_PASSWORD"
    poa: bool = False
    batch_size: int = 500
    timeout_s: float = 120.0


def _id32(text: str) -> bytes:
    """A 32-byte on-chain id of a member or transaction id: SHA-256 of its UTF-8 text."""
    return hashlib.sha256(text.encode()).digest()


def _revert_errors() -> tuple[type[Exception], ...]:
    """Exceptions meaning "the EVM reverted": web3's, and eth-tester's own for the embedded chain."""
    from web3.exceptions import ContractLogicError

    try:
        from eth_tester.exceptions import TransactionFailed
    except ImportError:
        return (ContractLogicError,)
    return (ContractLogicError, TransactionFailed)


def _reason(err: Exception) -> str:
    text = getattr(err, "message", None) or str(err)
    return text.removeprefix("execution reverted: ")


SETTLE_TYPES = ["uint64", "uint256", "(bytes32,bytes32,bytes32,uint256,int256)[]", "bool", "bytes32"]


def settle_calldata(interval: int, batch: int, trades: list[tuple], is_last: bool, root: bytes) -> bytes:
    """ABI calldata of ``settle(...)``, encoded with eth_abi directly (web3's per-value formatting of
    500 structs costs more than the EVM running them)."""
    from eth_abi import encode
    from eth_utils import keccak

    selector = keccak(text=f"settle({','.join(SETTLE_TYPES)})")[:4]
    return selector + encode(SETTLE_TYPES, [interval, batch, trades, is_last, root])


def interval_id(head: TreeHead) -> int:
    """The chain's key of an interval: its end as Unix seconds."""
    return int(pd.Timestamp(head.timestamp).timestamp())


class Chain:
    """A connection to the contract: deploy, anchor, settle, read back.

    Parameters
    ----------
    config : ChainConfig
    web3 : Web3, optional
        An existing connection (e.g. to share one eth-tester chain between ledgers).
    read_only : bool
        Only read the contract (``verify --chain``): no chain key needed, nothing deployed.
    """

    def __init__(self, config: ChainConfig | None = None, web3=None, read_only: bool = False) -> None:
        from web3 import Web3

        self.config = config = config or ChainConfig()
        if not 1 <= config.batch_size <= 500:
            raise ValueError(f"batch_size {config.batch_size}: expected 1..500 (the contract's limit)")
        self.account = None
        if web3 is not None:
            self.w3 = web3
        elif config.rpc_url == EMBEDDED:
            from web3 import EthereumTesterProvider

            self.w3 = Web3(EthereumTesterProvider())
        else:
            self.w3 = Web3(Web3.HTTPProvider(config.rpc_url, request_kwargs={"timeout": config.timeout_s}))
            if config.poa:
                from web3.middleware import ExtraDataToPOAMiddleware

                self.w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
        if config.rpc_url != EMBEDDED and not read_only:
            self.account = self._load_account()
        try:
            self.chain_id = self.w3.eth.chain_id
        except Exception as err:  # noqa: BLE001 - any transport failure means the same to the user
            raise ChainError(
                f"cannot reach the chain at {config.rpc_url}: {type(err).__name__}: {err}"
            ) from err
        if config.chain_id is not None and config.chain_id != self.chain_id:
            raise ChainError(
                f"chain id {self.chain_id} of {config.rpc_url} is not the expected {config.chain_id}"
            )
        if self.account is not None:
            self.sender = self.account.address
        else:
            accounts = self.w3.eth.accounts
            self.sender = accounts[0] if accounts else None
        artefact = load_artefact()
        self.abi = artefact["abi"]
        if config.contract_address is None and read_only:
            raise ChainError(f"no contract_address given for {config.rpc_url}")
        if config.contract_address is None:
            code = bytes.fromhex(artefact["bytecode"].removeprefix("0x"))
            gas = int(self.w3.eth.estimate_gas({"from": self.sender, "data": "0x" + code.hex()}) * 1.2)
            receipt = self._send_data(code, "deploy EnergyLedger", gas, to=None)
            self.address = receipt["contractAddress"]
        else:
            self.address = self.w3.to_checksum_address(config.contract_address)
            if len(self.w3.eth.get_code(self.address)) == 0:
                raise ChainError(
                    f"contract_address {self.address}: no contract code on chain {self.chain_id}"
                )
        self.contract = self.w3.eth.contract(address=self.address, abi=self.abi)
        # a settle batch's bound assumes every balance slot is new (2 x 22.1k gas per trade)
        self._gas_cap = int(self.w3.eth.get_block("latest")["gasLimit"] * 0.9)

    def _load_account(self):
        from eth_account import Account

        cfg = self.config
        if cfg.keystore is not None:
            password = os.environ.get(cfg.keystore_password_env)
            if password is None:
                raise ChainError(f"keystore {cfg.keystore}: set its password in ${cfg.keystore_password_env}")
            key = Account.decrypt(Path(cfg.keystore).read_text(), password)
            return Account.from_key(key)
        key = os.environ.get(cfg.private_key_env)
        if not key:
            raise ChainError(
                f"no chain key for {cfg.rpc_url}: set ${cfg.private_key_env} (hex private key) or a keystore"
            )
        return Account.from_key(key)

    def _send_data(self, data: bytes, label: str, gas: int, to: str | None) -> dict:
        """Send calldata to ``to`` (None: create a contract), wait for the receipt, check its status.

        On a JSON-RPC node the call is first dry-run (``eth_call``) to get the revert reason; eth-tester
        raises with the reason when the transaction itself reverts. ``gas`` is an upper bound chosen
        by the caller (unused gas is not charged); estimating would re-execute the call many times.
        """
        from web3.exceptions import TimeExhausted

        refused = _revert_errors()
        tx = {"from": self.sender, "data": "0x" + data.hex(), "gas": gas}
        if to is not None:
            tx["to"] = to
        try:
            if self.account is None:
                tx_hash = self.w3.eth.send_transaction(tx)
            else:
                if "to" in tx:
                    self.w3.eth.call(tx)
                tx.update(
                    chainId=self.chain_id, nonce=self.w3.eth.get_transaction_count(self.sender, "pending")
                )
                tx.update(self._fees())
                del tx["from"]
                tx_hash = self.w3.eth.send_raw_transaction(self.account.sign_transaction(tx).raw_transaction)
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.config.timeout_s)
        except refused as err:
            raise ChainError(f"{label}: the contract refused it: {_reason(err)}") from err
        except TimeExhausted as err:
            raise ChainError(f"{label}: no receipt within {self.config.timeout_s:g} s") from err
        if receipt["status"] != 1:
            reason = "no reason given"
            replay = {k: v for k, v in tx.items() if k in ("from", "to", "data", "gas")}
            replay["from"] = self.sender
            try:  # replaying on the parent block recovers the revert reason
                self.w3.eth.call(replay, block_identifier=receipt["blockNumber"] - 1)
            except refused as err:
                reason = _reason(err)
            except Exception as err:  # noqa: BLE001 - the reason is a courtesy; the failure is already known
                reason = f"reason unavailable ({type(err).__name__})"
            raise ChainError(
                f"{label}: the contract refused it: {reason} (transaction {receipt['transactionHash'].hex()} "
                f"reverted in block {receipt['blockNumber']}, status {receipt['status']})"
            )
        return receipt

    def _fees(self) -> dict:
        """EIP-1559 fees when the chain has a base fee, else a legacy gas price."""
        base = self.w3.eth.get_block("latest").get("baseFeePerGas")
        if base is None:
            return {"gasPrice": self.w3.eth.gas_price}
        tip = self.w3.eth.max_priority_fee
        return {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}

    def anchor(self, head: TreeHead) -> list[dict]:
        """Store ``head.interval_root`` under the interval's id; one receipt."""
        call = self.contract.functions.anchor(
            interval_id(head), head.interval_root, head.tree_size, head.root_hash
        )
        data = bytes.fromhex(call._encode_transaction_data().removeprefix("0x"))
        return [self._send_data(data, f"anchor interval ending {head.timestamp}", 150_000, to=self.address)]

    def settle(self, batch: PreparedBatch) -> list[dict]:
        """Send the interval's trades in batches; the last one stores the interval root."""
        head, records = batch.head, batch.records
        trades = [
            (
                _id32(r["transaction_id"]),
                _id32(r["seller"]),
                _id32(r["buyer"]),
                round(r["energy_amount_kwh"] * 1e6),
                round(r["energy_amount_kwh"] * r["price_per_kwh"] * 1e6),
            )
            for r in records
        ]
        size = self.config.batch_size
        chunks = [trades[i : i + size] for i in range(0, len(trades), size)] or [[]]
        receipts = []
        for k, chunk in enumerate(chunks):
            data = settle_calldata(interval_id(head), k, chunk, k == len(chunks) - 1, head.interval_root)
            label = f"settle batch {k + 1}/{len(chunks)} of interval ending {head.timestamp}"
            if k:
                label += f" ({k} earlier batch(es) of it are already on chain)"
            gas = min(self._gas_cap, 100_000 + 50_000 * len(chunk))
            receipts.append(self._send_data(data, label, gas, to=self.address))
        return receipts

    def root_of(self, head: TreeHead) -> bytes:
        return bytes(self.contract.functions.roots(interval_id(head)).call())

    def settled_trades(self, head: TreeHead) -> int:
        return int(self.contract.functions.settled_trades(interval_id(head)).call())

    def credit_micro(self, member_id: str) -> int:
        """A member's energy-credit balance on chain [micro-units of the currency]."""
        return int(self.contract.functions.credit_micro(_id32(member_id)).call())


class EvmLedger:
    """The local log with every interval anchored or settled on an EVM chain.

    Parameters
    ----------
    path : path
        The local ledger file.
    keyring : Keyring
    mode : {"anchor", "settle"}
    chain : ChainConfig or Chain, optional
        Default: the embedded eth-tester chain with a freshly deployed contract.
    workers : int, optional
        Threads for signing.
    party_signatures, run, cosign : bool
        See :class:`wattmesh.ledger.local.LocalLedger`.
    """

    def __init__(
        self,
        path: str | Path,
        keyring: Keyring,
        mode: str = "anchor",
        chain: ChainConfig | Chain | None = None,
        workers: int | None = None,
        party_signatures: bool = True,
        run: bool = False,
        cosign: bool = False,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
        self.mode = mode
        self.chain = chain if isinstance(chain, Chain) else Chain(chain)
        self.local = LocalLedger(path, keyring, workers, party_signatures, run, cosign)
        with self.local.conn:
            self.local.conn.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [
                    ("chain_mode", mode),
                    ("chain_id", str(self.chain.chain_id)),
                    ("chain_contract", self.chain.address),
                    ("chain_rpc", self.chain.config.rpc_url),
                ],
            )
            self.local.sign_meta()

    def append_interval(
        self, trades: pd.DataFrame, interval_end: object, interval_start: object = None
    ) -> TreeHead:
        """Sign the interval's trades, put them on chain (``mode``), then append them to the local log.

        Raises
        ------
        LedgerError
            for bad trades (nothing sent).
        ChainError
            when a transaction is refused or reverts; the local log is unchanged.
        """
        batch = self.local.prepare_interval(trades, interval_end, interval_start)
        receipts = self.chain.anchor(batch.head) if self.mode == "anchor" else self.chain.settle(batch)
        n = len(batch.records)
        rows = [
            (
                batch.head.head_index,
                self.mode,
                self.chain.chain_id,
                self.chain.address,
                r["transactionHash"].hex(),
                r["blockNumber"],
                r["gasUsed"],
                n if self.mode == "settle" and i == len(receipts) - 1 else 0,
            )
            for i, r in enumerate(receipts)
        ]
        signatures = sign_many(
            [self.local.keyring.operator_secret] * len(rows), [chain_tx_message(r) for r in rows]
        )
        head = self.local.commit(batch)
        with self.local.conn:
            self.local.conn.executemany(
                "INSERT INTO chain_txs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*r, sig) for r, sig in zip(rows, signatures, strict=True)],
            )
        return head

    def verify_chain(self) -> list[Problem]:
        return verify_chain(self.local.path, self.chain)

    def finish_run(self) -> dict:
        """The local log's closing mark (see :meth:`LocalLedger.finish_run`)."""
        return self.local.finish_run()

    def close(self) -> None:
        self.local.close()


def verify_chain(path: str | Path, chain: Chain | ChainConfig | None = None) -> list[Problem]:
    """Recompute every interval's root from the local log and compare it with the chain's.

    Parameters
    ----------
    path : path
        The local ledger.
    chain : Chain or ChainConfig, optional
        Default: the RPC URL and contract recorded in the ledger (not possible for eth-tester, whose
        chain lives only in the process that made it).

    Returns
    -------
    list of Problem
        Empty when every signed tree head's interval root is on chain (and, in settle mode, every trade).
    """
    try:
        conn = read_ledger(path)
    except CorruptLedgerError as err:
        raise ChainError(str(err)) from err
    try:
        meta = {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta").fetchall()}
        conn.text_factory = bytes  # a tampered record may no longer be valid text
        if not isinstance(chain, Chain):
            if chain is None:
                if not any(k in meta for k in CHAIN_META):
                    raise ChainError(f"ledger {path}: not made with a chain backend (no contract recorded)")
                absent = [k for k in CHAIN_META if k not in meta]
                if absent or not meta["chain_id"].isdigit():
                    raise ChainError(
                        f"ledger {path}: its chain record is incomplete ({', '.join(absent) or 'chain_id'} "
                        "missing or not a number); run `wattmesh ledger verify`"
                    )
                if meta["chain_rpc"] == EMBEDDED:
                    raise ChainError(
                        f"ledger {path}: its chain was the embedded eth-tester, gone with its process; "
                        "verify against a JSON-RPC node with --rpc-url"
                    )
                chain = ChainConfig(meta["chain_rpc"], meta["chain_contract"], int(meta["chain_id"]))
            elif chain.contract_address is None:
                chain = replace(chain, contract_address=meta.get("chain_contract"))
            chain = Chain(chain, read_only=True)
        mode = meta.get("chain_mode", "anchor")
        leaves = [
            merkle.leaf_hash(entry_message(seq, blob(rec), blob(s), blob(b)) + blob(o))
            for seq, rec, s, b, o in conn.execute(
                "SELECT seq, record, seller_sig, buyer_sig, operator_sig FROM entries ORDER BY seq"
            )
        ]
        heads = conn.execute(
            "SELECT head_index, tree_size, first_seq, timestamp, interval, root_hash, interval_root, signature "
            "FROM tree_heads ORDER BY head_index"
        ).fetchall()
    finally:
        conn.close()
    problems = []
    for row in heads:
        head = TreeHead(*row[:3], row[3].decode(errors="replace"), row[4].decode(errors="replace"), *row[5:])
        expected = merkle.root(b"".join(leaves[head.first_seq : head.tree_size]))
        on_chain = chain.root_of(head)
        where = f"{head.head_index} (interval ending {head.timestamp})"
        if on_chain == bytes(32):
            problems.append(Problem("chain", where, f"no root on chain {chain.chain_id} at {chain.address}"))
        elif on_chain != expected:
            problems.append(
                Problem("chain", where, f"root on chain {on_chain.hex()[:16]}... differs from the local log's "
                        f"{expected.hex()[:16]}...")
            )  # fmt: skip
        if mode == "settle":
            count = chain.settled_trades(head)
            if count != head.tree_size - head.first_seq:
                problems.append(
                    Problem("chain", where, f"{count} trades settled on chain, {head.tree_size - head.first_seq} in the log")
                )  # fmt: skip
    return problems


def verify_proof_on_chain(
    proof: dict, chain: Chain | ChainConfig, operator_public: bytes | None = None
) -> list[str]:
    """Every reason a trade's proof (from :func:`wattmesh.ledger.local.prove`) fails, including against
    the chain: the interval root on the contract must equal the proof's signed interval root."""
    problems = verify_proof(proof, operator_public)
    head = TreeHead.from_dict(proof["interval_head"])
    if not isinstance(chain, Chain):
        if chain.contract_address is None and proof.get("chain"):
            chain = replace(chain, contract_address=proof["chain"][0]["contract"])
        chain = Chain(chain, read_only=True)
    on_chain = chain.root_of(head)
    if on_chain == bytes(32):
        problems.append(
            f"no root on chain {chain.chain_id} at {chain.address} for the interval ending {head.timestamp}"
        )
    elif on_chain != head.interval_root:
        problems.append(
            f"the root on chain {on_chain.hex()[:16]}... differs from the proof's interval root "
            f"{head.interval_root.hex()[:16]}..."
        )
    return problems
