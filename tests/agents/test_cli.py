"""`wattmesh tournament`: the table, the efficiency and the convergence line; refused options exit with 2."""

from __future__ import annotations

from typer.testing import CliRunner

from wattmesh.cli import app

runner = CliRunner()


def test_tournament_prints_each_strategy_efficiency_and_convergence():
    result = runner.invoke(
        app,
        ["tournament", "--days", "1", "--mix", "truthful=1"],
        env={"COLUMNS": "200"},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # Rich wraps at the console's width
    assert "truthful" in text
    # Truthful bidders in a sealed pay-as-clear round reach the optimum exactly.
    assert "allocative efficiency" in text and "100.00%" in text
    assert "Smith's alpha" in text


def test_tournament_with_a_mix_on_pay_as_bid():
    result = runner.invoke(
        app,
        [
            "tournament",
            "--days",
            "1",
            "--mix",
            "learning=0.5,zip=0.5",
            "--mechanism",
            "pay_as_bid",
            "--rounds",
            "3",
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    # Rich wraps the title at the console's width: compare with line breaks folded into spaces.
    text = " ".join(result.output.split())
    assert "learning" in text and "zip" in text and "3 round(s)" in text
    # The default scenario plans its batteries (energy.dispatch = planner): the orders come from the plan.
    assert "2 run(s), positions from the energy plan" in text


def test_tournament_refuses_an_unknown_strategy_and_mechanism():
    bad_mix = runner.invoke(app, ["tournament", "--mix", "greedy=1"])
    assert bad_mix.exit_code == 2 and "greedy" in bad_mix.output
    bad_mechanism = runner.invoke(app, ["tournament", "--mechanism", "sdr"])
    assert bad_mechanism.exit_code == 2 and "sdr" in bad_mechanism.output
    bad_repeats = runner.invoke(app, ["tournament", "--repeats", "0"])
    assert bad_repeats.exit_code == 2 and "--repeats 0" in bad_repeats.output


def test_tournament_follows_the_scenarios_agents_section(tmp_path):
    from wattmesh.community.scenario import DEFAULT_SCENARIO

    text = DEFAULT_SCENARIO.read_text().replace('dispatch = "planner"', 'dispatch = "rule"')
    text = text.replace('mix = "learning=0.34,ramp=0.33,zip=0.33"', 'mix = "zip=0.5,zic=0.5"')
    path = tmp_path / "zip.toml"
    path.write_text(text)
    result = runner.invoke(app, ["tournament", str(path), "--days", "1"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert " zip " in text and " zic " in text and "learning" not in text and "pay_as_bid" in text
