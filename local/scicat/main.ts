// Local SciCat peer: `npm run local:scicat -- --port 0 --db scicat.sqlite`. Prints
// `listening scicat http://127.0.0.1:<port>` when ready. Users come from --users (a JSON file
// `[{"username","password","email"?}]`) or default to the documented demo user ingestor/ingestor.
import { readFileSync } from "node:fs";
import { announce, option } from "../../lib/http/server.ts";
import { createScicatServer, type ScicatUser } from "./server.ts";
import { ScicatStore } from "./store.ts";

const argv = process.argv.slice(2);
const port = Number(option(argv, "port", process.env.SCICAT_PORT, "3000"));
const host = option(argv, "host", process.env.SCICAT_HOST, "127.0.0.1");
const dbFile = option(argv, "db", process.env.SCICAT_DB, ":memory:");
const usersFile = option(argv, "users", process.env.SCICAT_USERS, "");
const tokenTtl = Number(option(argv, "token-ttl", process.env.SCICAT_TOKEN_TTL, "3600"));
const pidPrefix = option(argv, "pid-prefix", process.env.SCICAT_PID_PREFIX, "20.500.12269");

function fail(message: string): never {
  console.error(`scicat: ${message}`);
  process.exit(2);
}

if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be 0…65535 (0 = any free port), got ${port}`);
if (!Number.isInteger(tokenTtl) || tokenTtl < 1) fail(`--token-ttl must be a positive number of seconds`);
let users: ScicatUser[] = [{ username: "ingestor", password: "ingestor", email: "ingestor@localhost" }];
if (usersFile) {
  try {
    users = JSON.parse(readFileSync(usersFile, "utf8")) as ScicatUser[];
    if (!Array.isArray(users) || !users.every((u) => typeof u.username === "string" && typeof u.password === "string"))
      throw new Error("expected [{username, password}]");
  } catch (e) {
    fail(`cannot read users from ${usersFile}: ${(e as Error).message}`);
  }
}

let store: ScicatStore;
try {
  store = new ScicatStore(dbFile);
} catch (e) {
  fail(`cannot open database ${dbFile}: ${(e as Error).message}`);
}
const server = createScicatServer(store, { users, tokenTtl, pidPrefix });
server.on("error", (e) => fail(`cannot listen on ${host}:${port}: ${e.message}`));
server.listen(port, host, () => announce("scicat", server, () => store.close()));
