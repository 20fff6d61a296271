# pragma version ~=0.4.3
"""
@title wattmesh energy ledger
@notice Mode anchor: one Merkle root per market interval (the RFC 6962 root of that interval's
        trades in the operator's local log). Mode settle: every trade emitted as an event, in
        batches, with energy-credit balances moved between members; the interval's root is stored
        when its last batch arrives. Only the operator writes; an interval is written once.
"""

struct Trade:
    transaction_id: bytes32
    seller: bytes32
    buyer: bytes32
    energy_mwh: uint256
    credit_micro: int256

event Anchored:
    interval_id: indexed(uint64)
    root: bytes32
    tree_size: uint64
    log_root: bytes32

event TradeSettled:
    interval_id: indexed(uint64)
    transaction_id: indexed(bytes32)
    seller: bytes32
    buyer: bytes32
    energy_mwh: uint256
    credit_micro: int256

event IntervalSettled:
    interval_id: indexed(uint64)
    trades: uint256
    root: bytes32

MAX_BATCH: constant(uint256) = 500

operator: public(address)
roots: public(HashMap[uint64, bytes32])
settled_trades: public(HashMap[uint64, uint256])
next_batch: public(HashMap[uint64, uint256])
credit_micro: public(HashMap[bytes32, int256])


@deploy
def __init__():
    self.operator = msg.sender


@external
def anchor(interval_id: uint64, root: bytes32, tree_size: uint64, log_root: bytes32):
    assert msg.sender == self.operator, "only the operator may anchor"
    assert root != empty(bytes32), "empty root"
    assert self.roots[interval_id] == empty(bytes32), "interval already anchored"
    self.roots[interval_id] = root
    log Anchored(interval_id=interval_id, root=root, tree_size=tree_size, log_root=log_root)


@external
def settle(interval_id: uint64, batch: uint256, trades: DynArray[Trade, MAX_BATCH], is_last: bool, root: bytes32):
    assert msg.sender == self.operator, "only the operator may settle"
    assert self.roots[interval_id] == empty(bytes32), "interval already settled"
    assert batch == self.next_batch[interval_id], "batch out of order"
    for t: Trade in trades:
        self.credit_micro[t.seller] += t.credit_micro
        self.credit_micro[t.buyer] -= t.credit_micro
        log TradeSettled(interval_id=interval_id, transaction_id=t.transaction_id, seller=t.seller, buyer=t.buyer, energy_mwh=t.energy_mwh, credit_micro=t.credit_micro)
    self.next_batch[interval_id] = batch + 1
    self.settled_trades[interval_id] += len(trades)
    if is_last:
        assert root != empty(bytes32), "empty root"
        self.roots[interval_id] = root
        log IntervalSettled(interval_id=interval_id, trades=self.settled_trades[interval_id], root=root)
