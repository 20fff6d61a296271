"""A co-op's exchange folder: its settings (exchange.toml), its members (members.csv) and its keys.

``wattmesh community init my-coop/ --from-scenario default`` writes::

    my-coop/exchange.toml   name, market (mechanism, interval, gate closure, clock), tariffs, ledger, server
    my-coop/members.csv     member_id, kind, public_key (hex): the members the journal starts with
    my-coop/keys/           operator.key and one key per member (PKCS#8 PEM, mode 0600), with .pub files
    my-coop/exchange.db     the SQLite journal (created by the first `wattmesh serve`)
    my-coop/ledger.sqlite   the trade ledger (RFC 6962 Merkle log, `wattmesh ledger verify` reads it)

The member keys in ``keys/`` are custodial: the exchange signs its members' trades in the ledger with
them, and the co-op hands each member its key for its home agent. A member who keeps its own key is added
with ``wattmesh member add my-coop/ ID --pubkey key.pub``; its trades then carry the operator's signature.
"""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from wattmesh.community.tariffs import tou_price_series

CONFIG_FILE = "exchange.toml"
MEMBERS_FILE = "members.csv"
KEY_DIR = "keys"
MECHANISMS_WITHOUT_TRADES = ("utility_only",)


@dataclass(frozen=True)
class Coop:
    """A co-op's exchange settings, read from its folder.

    Attributes
    ----------
    folder : the co-op's folder
    name, scope : the co-op's name and the market scope of its transaction ids
    currency, timezone : the money unit and the local time zone of the tariff windows and monthly bills
    mechanism, price_rule : the clearing mechanism (:data:`wattmesh.market.MECHANISMS`) and its price rule
    interval_minutes : the market interval [min]
    gate_closure_s : orders for an interval close this long before its delivery starts [s]
    horizon_hours : how far ahead of now an order may be for [h]
    clock : "wall" (real time) or "manual" (the operator moves the market clock: tests, rehearsals)
    start : the first interval on the manual clock (UTC ISO 8601)
    seed : seeds each interval's tie-break (with the scope and the interval)
    retail_per_kwh, feed_in_per_kwh, local_fee_per_kwh : base tariffs [currency/kWh]
    retail_tou, feed_in_tou : time-of-use windows (``wattmesh.community.tariffs.tou_price_series``)
    max_reading_wh : a reading above this in magnitude is held as implausible [Wh per interval]
    ledger_backend : "local" or "evm" (anchors each interval's tree head on chain)
    host, port : where `wattmesh serve` listens
    ledger_mode : the EVM backend's "anchor" (each interval's root) or "settle" (every trade too)
    chain_rpc_url : the EVM node's JSON-RPC URL; empty: the embedded eth-tester chain (gone with the process)
    chain_id : the chain id the node must report; 0: any
    chain_contract : the deployed contract; empty: the one the ledger file records, else a new deployment
    chain_key_env : the environment variable holding the operator's chain key (hex)
    chain_poa : inject the proof-of-authority middleware (Energy Web and similar chains)
    """

    folder: Path
    name: str
    scope: str
    currency: str
    timezone: str
    mechanism: str
    price_rule: str
    interval_minutes: int
    gate_closure_s: int
    horizon_hours: float
    clock: str
    start: str
    seed: int
    retail_per_kwh: float
    feed_in_per_kwh: float
    local_fee_per_kwh: float
    retail_tou: tuple
    feed_in_tou: tuple
    max_reading_wh: int
    ledger_backend: str
    host: str
    port: int
    ledger_mode: str = "anchor"
    chain_rpc_url: str = ""
    chain_id: int = 0
    chain_contract: str = ""
    chain_key_env: str = "WATTMESH_CHAIN_KEY"
    chain_poa: bool = False

    @property
    def step(self) -> pd.Timedelta:
        return pd.Timedelta(minutes=self.interval_minutes)

    @property
    def key_dir(self) -> Path:
        return self.folder / KEY_DIR

    @property
    def ledger_path(self) -> Path:
        return self.folder / "ledger.sqlite"

    @property
    def default_db_url(self) -> str:
        return f"sqlite:///{(self.folder / 'exchange.db').resolve()}"

    def tariffs(self, interval: pd.Timestamp) -> tuple[float, float]:
        """(retail, feed-in) price in the interval starting at ``interval`` [currency/kWh]."""
        index = pd.DatetimeIndex([interval])
        retail = tou_price_series(index, self.retail_per_kwh, list(self.retail_tou), self.timezone)[0]
        feed_in = tou_price_series(index, self.feed_in_per_kwh, list(self.feed_in_tou), self.timezone)[0]
        return float(retail), float(feed_in)

    def members_file(self) -> list[dict]:
        """The rows of members.csv (member_id, kind, public_key)."""
        path = self.folder / MEMBERS_FILE
        if not path.exists():
            return []
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))


def load_coop(folder: str | Path) -> Coop:
    """Read a co-op folder's exchange.toml.

    Raises
    ------
    ValueError
        naming the file and the field when a value is missing or has the wrong type.
    """
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not path.exists():
        raise ValueError(f"{path}: no such file (make the folder with `wattmesh community init {folder}`)")
    raw = tomllib.loads(path.read_text())
    market, tariff = raw.get("market", {}), raw.get("tariff", {})
    ledger, server = raw.get("ledger", {}), raw.get("server", {})

    def get(section: dict, name: str, kind, default=None, where: str = ""):
        value = section.get(name, default)
        if value is None:
            raise ValueError(f"{path}: {where}{name} is missing")
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise ValueError(f"{path}: {where}{name} {value!r} is not a {kind.__name__}")
        return value

    clock = get(market, "clock", str, "wall", "market.")
    if clock not in ("wall", "manual"):
        raise ValueError(f"{path}: market.clock {clock!r} is not one of wall, manual")
    interval_minutes = get(market, "interval_minutes", int, 15, "market.")
    if interval_minutes <= 0 or 1440 % interval_minutes:
        raise ValueError(f"{path}: market.interval_minutes {interval_minutes} does not divide a day")
    backend = get(ledger, "backend", str, "local", "ledger.")
    if backend not in ("local", "evm"):
        raise ValueError(f"{path}: ledger.backend {backend!r} is not one of local, evm")
    mode = get(ledger, "mode", str, "anchor", "ledger.")
    if mode not in ("anchor", "settle"):
        raise ValueError(f"{path}: ledger.mode {mode!r} is not one of anchor, settle")
    return Coop(
        folder=folder,
        name=get(raw, "name", str, folder.name),
        scope=get(raw, "scope", str, f"exchange|{folder.resolve().name}"),
        currency=get(raw, "currency", str, "EUR"),
        timezone=get(raw, "timezone", str, "UTC"),
        mechanism=get(market, "mechanism", str, "pay_as_clear", "market."),
        price_rule=get(market, "price_rule", str, "midpoint", "market."),
        interval_minutes=interval_minutes,
        gate_closure_s=get(market, "gate_closure_seconds", int, 300, "market."),
        horizon_hours=get(market, "horizon_hours", float, 48.0, "market."),
        clock=clock,
        start=get(market, "start", str, "2026-01-01T00:00:00Z", "market."),
        seed=get(raw, "seed", int, 0),
        retail_per_kwh=get(tariff, "retail_per_kwh", float, 0.30, "tariff."),
        feed_in_per_kwh=get(tariff, "feed_in_per_kwh", float, 0.08, "tariff."),
        local_fee_per_kwh=get(tariff, "local_fee_per_kwh", float, 0.0, "tariff."),
        retail_tou=tuple(tariff.get("retail_tou", ())),
        feed_in_tou=tuple(tariff.get("feed_in_tou", ())),
        max_reading_wh=get(market, "max_reading_wh", int, 250_000, "market."),
        ledger_backend=backend,
        host=get(server, "host", str, "127.0.0.1", "server."),
        port=get(server, "port", int, 8000, "server."),
        ledger_mode=mode,
        chain_rpc_url=get(ledger, "rpc_url", str, "", "ledger."),
        chain_id=get(ledger, "chain_id", int, 0, "ledger."),
        chain_contract=get(ledger, "contract", str, "", "ledger."),
        chain_key_env=get(ledger, "key_env", str, "WATTMESH_CHAIN_KEY", "ledger."),
        chain_poa=get(ledger, "poa", bool, False, "ledger."),
    )


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | np.integer | np.floating):
        return repr(value.item() if hasattr(value, "item") else value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_coop(
    folder: str | Path,
    members: pd.DataFrame,
    *,
    name: str,
    currency: str = "EUR",
    timezone: str = "UTC",
    seed: int = 0,
    market: dict | None = None,
    tariff: dict | None = None,
) -> Coop:
    """Make a co-op folder: exchange.toml, members.csv and a key pair per member and for the operator.

    Parameters
    ----------
    folder : the folder to create (must not hold an exchange.toml yet)
    members : a ``member_id`` and a ``kind`` column (:data:`wattmesh.community.model.MEMBERS`)
    name, currency, timezone, seed : the co-op's name, money, local time zone and tie-break seed
    market : the ``[market]`` settings (mechanism, price_rule, interval_minutes, gate_closure_seconds, ...)
    tariff : the ``[tariff]`` settings (retail_per_kwh, feed_in_per_kwh, local_fee_per_kwh, *_tou)
    """
    from wattmesh.ledger import ensure_keys

    folder = Path(folder)
    if (folder / CONFIG_FILE).exists():
        raise ValueError(f"{folder / CONFIG_FILE}: already exists; edit it or choose another folder")
    folder.mkdir(parents=True, exist_ok=True)
    member_ids = members["member_id"].astype(str).tolist()
    keyring = ensure_keys(folder / KEY_DIR, member_ids)
    public = keyring.member_public()
    lines = [
        "# The co-op's live exchange (`wattmesh serve` reads this file). Quantities at the API are",
        "# integers: energy in Wh, prices in 1e-5 currency units per kWh.",
        f"name = {_toml_value(name)}",
        f"currency = {_toml_value(currency)}",
        f"timezone = {_toml_value(timezone)}",
        f"seed = {int(seed)}",
        "",
        "[market]",
    ]
    market = {"mechanism": "pay_as_clear", "price_rule": "midpoint", "interval_minutes": 15,
              "gate_closure_seconds": 300, "horizon_hours": 48.0, "clock": "wall"} | (market or {})  # fmt: skip
    lines += [f"{k} = {_toml_value(v)}" for k, v in market.items()]
    lines += ["", "[tariff]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in (tariff or {}).items()]
    lines += ["", "[ledger]", 'backend = "local"', "", "[server]", 'host = "127.0.0.1"', "port = 8000", ""]
    (folder / CONFIG_FILE).write_text("\n".join(lines))
    with (folder / MEMBERS_FILE).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["member_id", "kind", "public_key"])
        for member, kind in zip(member_ids, members["kind"].astype(str), strict=True):
            writer.writerow([member, kind, public[member].hex()])
    return load_coop(folder)


def coop_from_scenario(folder: str | Path, scenario_path: str | None = None, **market) -> Coop:
    """A co-op folder for the members, tariffs and mechanism of a scenario (the packaged default: None).

    The members come from :func:`wattmesh.community.build.build_community` (the default scenario: 118
    homes and the community battery).
    """
    from wattmesh.community.build import build_community
    from wattmesh.community.scenario import load_scenario

    scenario = load_scenario(None if scenario_path in (None, "default") else scenario_path)
    community = build_community(scenario)
    tariff = {
        "retail_per_kwh": scenario["tariff.retail_per_kwh"],
        "feed_in_per_kwh": scenario["tariff.feed_in_per_kwh"],
        "local_fee_per_kwh": scenario["tariff.local_fee_per_kwh"],
        "retail_tou": [dict(w) for w in scenario.retail_tou],
        "feed_in_tou": [dict(w) for w in scenario.feed_in_tou],
    }
    settings = {
        "mechanism": scenario["market.mechanism"],
        "price_rule": scenario["market.price_rule"],
        "interval_minutes": int(scenario["time.interval_minutes"]),
    } | market
    return write_coop(
        folder,
        community.members[["member_id", "kind"]],
        name=scenario["name"],
        currency=scenario["currency"],
        timezone=scenario["timezone"],
        seed=int(scenario["seed"]),
        market=settings,
        tariff=tariff,
    )
