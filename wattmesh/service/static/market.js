// The market page: fetch /pages/market.json every 2 s and redraw (plain fetch, no build step).
"use strict";
const PLOT_CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["toImage"] };
const FONT = { family: "system-ui, sans-serif", size: 13, color: "#111" };

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function fmt(x, digits) { return x === null || x === undefined ? "–" : Number(x).toFixed(digits); }

function countdown(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s (market time)`;
}

function draw(data) {
  const cur = data.currency;
  document.getElementById("countdown").textContent = countdown(data.gate.seconds_to_gate);
  document.getElementById("gate-interval").textContent = data.gate.interval || "–";
  document.getElementById("market-time").textContent = data.market_time.replace("T", " ").replace("Z", " UTC");
  const share = data.self_sufficiency.share;
  document.getElementById("self-sufficiency").textContent = share === null ? "–" : `${(100 * share).toFixed(1)} %`;
  document.getElementById("settled").textContent = data.self_sufficiency.settled_intervals;
  document.getElementById("ledger-entries").textContent = data.ledger.entries;
  const head = data.ledger.tree_head;
  document.getElementById("tree-head").textContent = head
    ? `#${head.head_index}, size ${head.tree_size}, root ${head.root_hash.slice(0, 16)}…` : "none yet";

  const c = data.clearings;
  Plotly.react("prices-chart", [
    { x: data.utility.interval, y: data.utility.retail_per_kwh, name: "utility retail", mode: "lines", line: { shape: "hv", color: "#b2182b" } },
    { x: data.utility.interval, y: data.utility.feed_in_per_kwh, name: "utility feed-in", mode: "lines", line: { shape: "hv", color: "#2166ac", dash: "dash" } },
    { x: c.interval, y: c.price_per_kwh, name: "local clearing price", mode: "lines+markers", line: { shape: "hv", color: "#1b7837" }, connectgaps: false },
  ], {
    font: FONT, margin: { l: 60, r: 10, t: 10, b: 50 }, legend: { orientation: "h", y: -0.25 },
    xaxis: { title: { text: "delivery interval (UTC)" } },
    yaxis: { title: { text: `price [${cur}/kWh]` }, rangemode: "tozero" },
  }, PLOT_CONFIG);

  const d = data.depth;
  Plotly.react("depth-chart", [
    { x: d.bid_cumulative_kwh, y: d.bid_price_per_kwh, name: "bids (buy)", mode: "lines", line: { shape: "vh", color: "#1b7837" } },
    { x: d.ask_cumulative_kwh, y: d.ask_price_per_kwh, name: "asks (sell)", mode: "lines", line: { shape: "vh", color: "#b2182b" } },
  ], {
    font: FONT, margin: { l: 60, r: 10, t: 10, b: 50 }, legend: { orientation: "h", y: -0.25 },
    xaxis: { title: { text: `cumulative energy [kWh], delivery ${d.interval || ""}` }, rangemode: "tozero" },
    yaxis: { title: { text: `limit price [${cur}/kWh]` } },
  }, PLOT_CONFIG);

  const body = document.getElementById("clearings-body");
  body.replaceChildren();
  for (let k = c.interval.length - 1; k >= Math.max(0, c.interval.length - 4); k--) {
    const row = document.createElement("tr");
    row.className = "clearing-row";
    cell(row, c.interval[k]);
    cell(row, fmt(c.price_per_kwh[k], 4), "num price");
    cell(row, fmt(c.volume_kwh[k], 3), "num");
    cell(row, c.trades[k], "num");
    body.appendChild(row);
  }
  const dr = data.dr_events || [];
  document.getElementById("dr-none").hidden = dr.length > 0;
  document.getElementById("dr-table").hidden = dr.length === 0;
  const drBody = document.getElementById("dr-body");
  drBody.replaceChildren();
  for (const e of dr) {
    const row = document.createElement("tr");
    row.className = "dr-row";
    cell(row, e.event_id);
    cell(row, e.start);
    cell(row, e.end);
    cell(row, e.limit_kw !== null ? `import at most ${fmt(e.limit_kw, 1)} kW` : `import ${fmt(e.reduction_kw, 1)} kW less`);
    cell(row, e.member_id || "everyone");
    cell(row, e.source);
    cell(row, e.active ? "active" : (e.end <= data.market_time ? "over" : "coming"));
    drBody.appendChild(row);
  }
  const tape = document.getElementById("tape-body");
  tape.replaceChildren();
  for (const t of data.tape) {
    const row = document.createElement("tr");
    cell(row, t.timestamp);
    cell(row, t.seller);
    cell(row, t.buyer);
    cell(row, fmt(t.energy_amount_kwh, 3), "num");
    cell(row, fmt(t.price_per_kwh, 4), "num");
    const a = document.createElement("a");
    a.href = `/ledger/proof/${t.transaction_id}`;
    a.textContent = t.transaction_id;
    cell(row, "").appendChild(a);
    tape.appendChild(row);
  }
}

async function refresh() {
  try {
    const response = await fetch("/pages/market.json", { cache: "no-store" });
    if (response.ok) draw(await response.json());
  } catch (err) {
    // the exchange is restarting or gone: try again at the next tick
  }
}

document.addEventListener("DOMContentLoaded", () => { refresh(); setInterval(refresh, 2000); });
