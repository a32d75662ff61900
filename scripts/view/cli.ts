// npm run view -- [options]: the pipeline's web page against any deployment (the local stack's by
// default: its endpoints and credentials are read from the state folder, .local).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startViewServer } from "./server.ts";

const USAGE = `usage: npm run view -- [options]
  --host ADDR            address to bind (default 127.0.0.1; any other needs --login)
  --port N               (default 3400; 0 = any free port)
  --login USER:PASSWORD  HTTP Basic login the browser must give (env VIEW_LOGIN); put TLS in front when exposed
  --openwhisk URL        OpenWhisk API host (env OW_APIHOST; default: the local stack's)
  --auth UUID:KEY        OpenWhisk key of the pipeline's namespace (env OW_AUTH; default: the local stack's)
  --provider URL         feed provider (env PROVIDER_URL; default: the local stack's)
  --provider-auth U:P    the provider's credentials (env PROVIDER_AUTH; default: the local stack's)
  --since-minutes N      show activations from N minutes back (default 60)
  --state-dir DIR        the local stack's state folder (default .local)`;

const readIf = (p: string) => (existsSync(p) ? readFileSync(p, "utf8") : undefined);

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      host: { type: "string" },
      port: { type: "string" },
      login: { type: "string" },
      openwhisk: { type: "string" },
      auth: { type: "string" },
      provider: { type: "string" },
      "provider-auth": { type: "string" },
      "since-minutes": { type: "string" },
      "state-dir": { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (v.help) return void console.log(USAGE);
  const dir = v["state-dir"] ?? ".local";
  const endpoints = JSON.parse(readIf(join(dir, "endpoints.json")) ?? "{}") as { OW_APIHOST?: string; PROVIDER_URL?: string };
  const wsk = readIf(join(dir, "openwhisk", "wskprops")) ?? "";
  const apihost = v.openwhisk ?? (process.env.OW_APIHOST || undefined) ?? endpoints.OW_APIHOST ?? /^APIHOST=(.*)$/m.exec(wsk)?.[1];
  const auth = v.auth ?? (process.env.OW_AUTH || undefined) ?? /^AUTH=(.*)$/m.exec(wsk)?.[1];
  if (!apihost || !auth)
    throw new Error(
      `no OpenWhisk: give --openwhisk URL and --auth UUID:KEY (or OW_APIHOST, OW_AUTH), or run \`npm start\` so that ${dir}/endpoints.json exists`,
    );
  const providerUrl = v.provider ?? (process.env.PROVIDER_URL || undefined) ?? endpoints.PROVIDER_URL;
  const providerAuth = v["provider-auth"] ?? (process.env.PROVIDER_AUTH || undefined) ?? readIf(join(dir, "provider-auth"))?.trim();
  if (providerUrl && !providerAuth) throw new Error("the provider needs its credentials: --provider-auth USER:PASSWORD (or PROVIDER_AUTH)");
  const port = v.port === undefined ? 3400 : Number(v.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0…65535, got "${v.port}"`);
  const minutes = v["since-minutes"] === undefined ? 60 : Number(v["since-minutes"]);
  if (!(minutes >= 0)) throw new Error(`--since-minutes must be a number ≥ 0, got "${v["since-minutes"]}"`);
  const login = v.login ?? (process.env.VIEW_LOGIN || undefined);
  const view = await startViewServer({
    host: v.host ?? "127.0.0.1",
    port,
    openwhisk: { apihost, auth: auth.trim() },
    ...(providerUrl && providerAuth ? { provider: { url: providerUrl, auth: providerAuth, ownerKey: auth.trim() } } : {}),
    ...(login ? { login } : {}),
    since: Date.now() - minutes * 60_000,
  });
  console.log(`The pipeline view: ${view.url}${login ? " (HTTP Basic login required)" : ""}   Ctrl-C stops it.`);
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => void view.close().then(() => process.exit(0)));
}

main().catch((e: Error) => {
  process.stderr.write(`npm run view: ${e.message}\n\n${USAGE}\n`);
  process.exit(1);
});
