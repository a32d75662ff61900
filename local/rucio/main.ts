// Local Rucio peer: `npm run local:rucio -- --port 0 --db rucio.sqlite`. Prints
// `listening rucio http://127.0.0.1:<port>` when ready. Defaults: account/user/password
// demo/demo/demo, RSEs DCACHE-BUFFER (type=buffer), TAPE-ARCHIVE and OFFSITE-ARCHIVE
// (type=archive), scope "raw". Every RSE is a folder: `--storage` names some
// ({"DCACHE-BUFFER":{"dir":"data","pfn":"http://127.0.0.1:2880"}}), the others are
// `<storage-root>/<RSE>` with file:// PFNs.
import { join, dirname, resolve } from "node:path";
import { tmpdir } from "node:os";
import { announce, option } from "../../lib/http/server.ts";
import { createRucioServer } from "./server.ts";
import { RucioStore } from "./store.ts";
import type { Rse } from "./expression.ts";
import { RseStorages } from "./storage.ts";

const argv = process.argv.slice(2);
const port = Number(option(argv, "port", process.env.RUCIO_PORT, "3001"));
const host = option(argv, "host", process.env.RUCIO_HOST, "127.0.0.1");
const dbFile = option(argv, "db", process.env.RUCIO_DB, ":memory:");
const accountsArg = option(argv, "accounts", process.env.RUCIO_ACCOUNTS, "demo:demo:demo");
const rsesArg = option(
  argv,
  "rses",
  process.env.RUCIO_RSES,
  "DCACHE-BUFFER:type=buffer,TAPE-ARCHIVE:type=archive,OFFSITE-ARCHIVE:type=archive",
);
const scopesArg = option(argv, "scopes", process.env.RUCIO_SCOPES, "raw");
const tokenLifetimeS = Number(option(argv, "token-lifetime", process.env.RUCIO_TOKEN_LIFETIME, "3600"));
const storageArg = option(argv, "storage", process.env.RUCIO_STORAGE, "{}");
const storageRoot = resolve(
  option(
    argv,
    "storage-root",
    process.env.RUCIO_STORAGE_ROOT,
    dbFile === ":memory:" ? join(tmpdir(), `rucio-rses-${process.pid}`) : join(dirname(resolve(dbFile)), "rucio-rses"),
  ),
);
const daemonMs = Number(option(argv, "daemon-interval-ms", process.env.RUCIO_DAEMON_INTERVAL_MS, "200"));

function fail(message: string): never {
  console.error(`rucio: ${message}`);
  process.exit(2);
}

if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be 0…65535 (0 = any free port), got ${port}`);
if (!(tokenLifetimeS > 0)) fail("--token-lifetime must be a positive number of seconds");
if (!(daemonMs >= 10)) fail("--daemon-interval-ms must be ≥ 10");
// --accounts account:username:password[,…]; --rses NAME[:key=value[;key=value]][,…]
const accounts = accountsArg
  .split(",")
  .filter(Boolean)
  .map((a) => {
    const [account, username, ...pw] = a.split(":");
    if (!account || !username || !pw.length) fail(`--accounts entries are account:username:password, got "${a.replace(/:.*$/, ":…")}"`);
    return { account, username, password: pw.join(":") };
  });
const rses: Rse[] = rsesArg
  .split(",")
  .filter(Boolean)
  .map((r) => {
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
const scopes = scopesArg
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);
let storageJson: Record<string, { dir?: unknown; pfn?: unknown }>;
try {
  storageJson = JSON.parse(storageArg) as typeof storageJson;
  if (!storageJson || typeof storageJson !== "object" || Array.isArray(storageJson)) throw new Error("not an object");
} catch (e) {
  fail(`--storage must be JSON {"RSE":{"dir":"folder","pfn":"prefix"}}: ${(e as Error).message}`);
}
const storage: Record<string, { dir: string; pfn?: string }> = {};
for (const r of rses) {
  const s = storageJson[r.name];
  if (s && (typeof s.dir !== "string" || (s.pfn !== undefined && (typeof s.pfn !== "string" || !/^[a-z][a-z0-9+.-]*:\/\//i.test(s.pfn)))))
    fail(`--storage ${r.name}: "dir" must be a folder and "pfn" (optional) a URL prefix`);
  storage[r.name] = s ? { dir: s.dir as string, ...(s.pfn ? { pfn: s.pfn as string } : {}) } : { dir: join(storageRoot, r.name) };
}
for (const name of Object.keys(storageJson))
  if (!rses.some((r) => r.name === name)) fail(`--storage names ${name}, which is not one of --rses`);

let store: RucioStore;
try {
  store = new RucioStore(dbFile);
} catch (e) {
  fail(`cannot open database ${dbFile}: ${(e as Error).message}`);
}
const server = createRucioServer(store, {
  accounts,
  rses,
  scopes,
  tokenLifetimeS,
  storages: new RseStorages(storage),
  log: (l) => console.log(l),
});
// the daemons: one round at a time, the next `daemonMs` after the last ended
let timer: NodeJS.Timeout | undefined;
const round = () => {
  timer = setTimeout(
    () =>
      void server
        .daemons()
        .catch((e: Error) => console.error(`rucio: daemons: ${e.stack ?? e.message}`))
        .finally(round),
    daemonMs,
  );
};
round();
server.on("error", (e) => fail(`cannot listen on ${host}:${port}: ${e.message}`));
server.listen(port, host, () => {
  for (const r of rses) console.log(`rucio: RSE ${r.name} in ${storage[r.name]!.dir}`);
  announce("rucio", server, () => {
    clearTimeout(timer);
    store.close();
  });
});
