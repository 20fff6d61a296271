"""`wattmesh market clear` on an order file: the issue's case end to end through the command line."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from wattmesh.cli import app


def test_clear_command_writes_the_trades_and_reports_rejections(tmp_path):
    rows = [
        ("b1", "c1", "buy", 3, 30), ("b2", "c2", "buy", 2, 25), ("b3", "c3", "buy", 4, 20),
        ("b4", "c4", "buy", 1, 12), ("a1", "p1", "sell", 2, 10), ("a2", "p2", "sell", 3, 15),
        ("a3", "p3", "sell", 2, 22), ("a4", "p4", "sell", 3, 28), ("x1", "c1", "buy", 0, 20),
    ]  # fmt: skip
    orders = pd.DataFrame(rows, columns=["order_id", "member_id", "side", "energy_kwh", "price_per_kwh"])
    orders["delivery_start"] = "2025-07-15T09:45:00Z"
    orders.to_csv(tmp_path / "orders.csv", index=False)
    out = tmp_path / "trades.jsonl"
    result = CliRunner().invoke(
        app,
        [
            "market",
            "clear",
            str(tmp_path / "orders.csv"),
            "--interval",
            "2025-07-15T09:45:00Z",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "energy_kwh 0 is not positive" in result.output
    trades = pd.read_json(out, lines=True)
    assert trades["energy_amount_kwh"].sum() == 5.0 and (trades["price_per_kwh"] == 20.0).all()


def test_clear_command_refuses_an_unknown_mechanism(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("order_id,member_id,side,energy_kwh,price_per_kwh,delivery_start\n")
    result = CliRunner().invoke(
        app, ["market", "clear", str(path), "--interval", "2025-07-15T09:45:00Z", "--mechanism", "vickrey"]
    )
    assert result.exit_code == 2 and "mechanism 'vickrey' is not one of" in result.output


def test_clear_command_names_its_own_flags_for_the_utility_prices(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("order_id,member_id,side,energy_kwh,price_per_kwh,delivery_start\n")
    result = CliRunner().invoke(
        app, ["market", "clear", str(path), "--interval", "2025-07-15T09:45:00Z", "--mechanism", "sdr"]
    )
    text = " ".join(result.output.split())
    assert (
        result.exit_code == 2 and "--retail" in text and "--feed-in" in text and "retail_per_kwh" not in text
    )
