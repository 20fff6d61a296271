// An independent OCPP charge point (ocpp-rpc in strict mode: every message is checked against the
// OCPP JSON schemas both ways). Usage: node charger.js URL IDENTITY PROTOCOL START_ISO N
// Boots, sends N MeterValues (the last one twice, as after a lost confirmation), prints "sent",
// waits for one SetChargingProfile, prints it as JSON, answers Accepted and exits.
const { RPCClient } = require("ocpp-rpc");

const [url, identity, protocol, startIso, count] = process.argv.slice(2);
const start = Date.parse(startIso);
const n = Number(count);

function meterValue(i) {
  const timestamp = new Date(start + 10000 * i).toISOString();
  if (protocol === "ocpp1.6") {
    return { timestamp, sampledValue: [{ value: String(2000 + 5 * i), unit: "Wh",
      measurand: "Energy.Active.Import.Register" }] };
  }
  return { timestamp, sampledValue: [{ value: 2000 + 5 * i, measurand: "Energy.Active.Import.Register",
    unitOfMeasure: { unit: "Wh" } }] };
}

async function main() {
  const cli = new RPCClient({ endpoint: url, identity, protocols: [protocol], strictMode: true });
  const got = new Promise((resolve) => {
    cli.handle("SetChargingProfile", ({ params }) => {
      resolve(params);
      return { status: "Accepted" };
    });
  });
  await cli.connect();
  if (protocol === "ocpp1.6") {
    await cli.call("BootNotification", { chargePointVendor: "rpc", chargePointModel: "strict" });
  } else {
    await cli.call("BootNotification", { reason: "PowerUp",
      chargingStation: { model: "strict", vendorName: "rpc" } });
  }
  for (let i = 0; i < n; i++) {
    const params = protocol === "ocpp1.6" ? { connectorId: 1, meterValue: [meterValue(i)] }
      : { evseId: 1, meterValue: [meterValue(i)] };
    await cli.call("MeterValues", params);
  }
  const last = protocol === "ocpp1.6" ? { connectorId: 1, meterValue: [meterValue(n - 1)] }
    : { evseId: 1, meterValue: [meterValue(n - 1)] };
  await cli.call("MeterValues", last);
  console.log("sent");
  const params = await got;
  console.log(JSON.stringify(params));
  await new Promise((r) => setTimeout(r, 100));
  await cli.close();
}

const timer = setTimeout(() => { console.error("charger.js: timed out"); process.exit(2); }, 15000);
main().then(() => { clearTimeout(timer); process.exit(0); })
  .catch((err) => { console.error("charger.js:", err); process.exit(1); });
