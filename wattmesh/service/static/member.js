// A member's page: fetch /pages/member/<id>.json every 2 s (the session cookie authorises it).
"use strict";
const PLOT_CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["toImage"] };

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}
function fmt(x, digits) { return x === null || x === undefined ? "–" : Number(x).toFixed(digits); }
function set(id, text) { document.getElementById(id).textContent = text; }

function draw(data) {
  const b = data.bill;
  set("bill", fmt(b.bill, 2)); set("saving", fmt(b.saving, 2)); set("alone", fmt(b.utility_only, 2));
  set("settled", b.settled_intervals); set("bought", fmt(b.bought_kwh, 2)); set("sold", fmt(b.sold_kwh, 2));
  set("import", fmt(b.import_kwh, 2)); set("export", fmt(b.export_kwh, 2));
  Plotly.react("readings-chart", [
    { x: data.readings.interval, y: data.readings.energy_kwh, type: "bar", name: "net fed in", marker: { color: "#2166ac" } },
  ], {
    font: { family: "system-ui, sans-serif", size: 13, color: "#111" }, margin: { l: 60, r: 10, t: 10, b: 50 },
    xaxis: { title: { text: "metered interval (UTC)" } },
    yaxis: { title: { text: "net energy fed in [kWh] (consumption < 0)" } },
  }, PLOT_CONFIG);
  const trades = document.getElementById("trades-body");
  trades.replaceChildren();
  for (const t of data.trades.slice().reverse()) {
    const row = document.createElement("tr");
    row.className = "trade-row";
    cell(row, t.interval); cell(row, t.side); cell(row, t.counterparty);
    cell(row, fmt(t.energy_kwh, 3), "num"); cell(row, fmt(t.price_per_kwh, 4), "num");
    const a = document.createElement("a");
    a.href = t.proof; a.textContent = `proof of ${t.transaction_id}`; a.className = "proof-link";
    cell(row, "").appendChild(a);
    trades.appendChild(row);
  }
  const orders = document.getElementById("orders-body");
  orders.replaceChildren();
  for (const o of data.orders.slice().reverse()) {
    const row = document.createElement("tr");
    cell(row, o.delivery_start); cell(row, o.side); cell(row, fmt(o.energy_kwh, 3), "num");
    cell(row, fmt(o.price_per_kwh, 4), "num"); cell(row, fmt(o.filled_kwh, 3), "num"); cell(row, o.status);
    orders.appendChild(row);
  }
}

async function refresh() {
  const member = document.getElementById("member").dataset.member;
  try {
    const response = await fetch(`/pages/member/${encodeURIComponent(member)}.json`, { cache: "no-store", credentials: "same-origin" });
    if (response.ok) draw(await response.json());
  } catch (err) {
    // the exchange is restarting or gone: try again at the next tick
  }
}

document.addEventListener("DOMContentLoaded", () => { refresh(); setInterval(refresh, 2000); });
