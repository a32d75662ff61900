// Local Rucio peer: `npm run local:rucio -- --port 0 --db rucio.sqlite`. Prints
// `listening rucio http://127.0.0.1:<port>` when ready. Defaults: account/user/password
// demo/demo/demo, RSEs DCACHE-BUFFER (type=buffer) and TAPE-ARCHIVE (type=archive), scope "raw".
import { announce, option } from "../../lib/http/server.ts";
import { createRucioServer } from "./server.ts";
import { RucioStore } from "./store.ts";
import type { Rse } from "./expression.ts";

const argv = process.argv.slice(2);
const port = Number(option(argv, "port", process.env.RUCIO_PORT, "3001"));
const host = option(argv, "host", process.env.RUCIO_HOST, "127.0.0.1");
const dbFile = option(argv, "db", process.env.RUCIO_DB, ":memory:");
const accountsArg = option(argv, "accounts", process.env.RUCIO_ACCOUNTS, "demo:demo:demo");
const rsesArg = option(argv, "rses", process.env.RUCIO_RSES, "DCACHE-BUFFER:type=buffer,TAPE-ARCHIVE:type=archive");
const scopesArg = option(argv, "scopes", process.env.RUCIO_SCOPES, "raw");
const tokenLifetimeS = Number(option(argv, "token-lifetime", process.env.RUCIO_TOKEN_LIFETIME, "3600"));
const transferDelayMs = Number(option(argv, "transfer-delay-ms", process.env.RUCIO_TRANSFER_DELAY_MS, "1000"));

function fail(message: string): never {
  console.error(`rucio: ${message}`);
  process.exit(2);
}

if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be 0…65535 (0 = any free port), got ${port}`);
if (!(tokenLifetimeS > 0)) fail("--token-lifetime must be a positive number of seconds");
if (!(transferDelayMs >= 0)) fail("--transfer-delay-ms must be ≥ 0");
// --accounts account:username:password[,…]; --rses NAME[:key=value[;key=value]][,…]
const accounts = accountsArg.split(",").filter(Boolean).map((a) => {
  const [account, username, ...pw] = a.split(":");
  if (!account || !username || !pw.length) fail(`--accounts entries are account:username:password, got "${a.replace(/:.*$/, ":…")}"`);
  return { account, username, password: pw.join(":") };
});
const rses: Rse[] = rsesArg.split(",").filter(Boolean).map((r) => {
  const [name, attrs = ""] = r.split(":");
  if (!name || !/^[A-Z0-9_-]+$/.test(name)) fail(`RSE names are upper-case letters, digits, _ and -; got "${name}"`);
  const attributes: Record<string, string> = {};
  for (const kv of attrs.split(";").filter(Boolean)) {
    const [k, v] = kv.split("=");
    if (!k || v === undefined) fail(`RSE attributes are key=value, got "${kv}"`);
    attributes[k] = v;
  }
  return { name, attributes };
});
const scopes = scopesArg.split(",").map((s) => s.trim()).filter(Boolean);

let store: RucioStore;
try {
  store = new RucioStore(dbFile);
} catch (e) {
  fail(`cannot open database ${dbFile}: ${(e as Error).message}`);
}
const server = createRucioServer(store, { accounts, rses, scopes, tokenLifetimeS, transferDelayMs });
const timer = setInterval(() => server.sweep(), 200);
timer.unref();
server.on("error", (e) => fail(`cannot listen on ${host}:${port}: ${e.message}`));
server.listen(port, host, () => announce("rucio", server, () => { clearInterval(timer); store.close(); }));
