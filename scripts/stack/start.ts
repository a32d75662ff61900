// `npm start`: the whole facility pipeline on one machine. Starts the local OpenWhisk platform, the
// local dCache storage over ./data, the local SciCat and Rucio, an MQTT broker if none is there, and
// the feed provider; deploys serverless.yml into the platform with the real serverless CLI; then shows
// storage-event fires and the activations they cause until Ctrl-C, which stops everything.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync, type WriteStream } from "node:fs";
import { join, resolve } from "node:path";
import openwhisk from "openwhisk";
import { findOrStartBroker, type Broker } from "./broker.ts";
import { followActivations } from "./live-log.ts";
import { parseStackOptions, USAGE, type StackOptions } from "./options.ts";
import { projectRoot, startService, type RunningService } from "./service.ts";

export const GUEST_AUTH =
  "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP";

const running: RunningService[] = [];
let broker: Broker | undefined;
const logs: WriteStream[] = [];

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function start(name: string, script: string, args: string[], listeners: string[], state: string, env: NodeJS.ProcessEnv = {}): Promise<RunningService> {
  const log = createWriteStream(join(state, "logs", `${name}.log`), { flags: "a" });
  logs.push(log);
  const t0 = Date.now();
  const svc = await startService(script, args, { listeners, env, timeoutMs: 60_000, onOutput: (chunk) => log.write(chunk) }).catch((e: Error) => {
    throw new Error(`${name} did not start: ${e.message.split("\n")[0]} — see ${join(state, "logs", `${name}.log`)}`);
  });
  running.push(svc);
  say(`  ${name.padEnd(10)} ${listeners.map((l) => svc.urls[l]).join("  ")}  (${Date.now() - t0} ms)`);
  svc.proc.once("exit", (code, signal) => {
    if (!stopping) say(`!! ${name} stopped (${code ?? signal}); its log: ${join(state, "logs", `${name}.log`)}`);
  });
  return svc;
}

/** The provider's own credentials, made once per state folder and kept there (mode 600). */
function providerAuth(state: string): string {
  const file = join(state, "provider-auth");
  if (!existsSync(file)) writeFileSync(file, `feed:${randomBytes(18).toString("base64url")}\n`, { mode: 0o600 });
  return readFileSync(file, "utf8").trim();
}

function deploy(env: NodeJS.ProcessEnv, state: string): Promise<void> {
  return new Promise((res, rej) => {
    const log = createWriteStream(join(state, "logs", "deploy.log"));
    const child = spawn(process.execPath, [join(projectRoot, "node_modules/serverless/bin/serverless.js"), "deploy"], {
      cwd: projectRoot,
      env: { ...process.env, ...env, SLS_TELEMETRY_DISABLED: "1", SLS_NOTIFICATIONS_MODE: "off" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const take = (d: Buffer) => { out += d; log.write(d); };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("close", (code) => {
      log.end();
      if (code === 0) return res();
      // serverless prints "Error:" then the message, then a stack: keep the message
      const after = out.slice(out.lastIndexOf("Error:\n") + 7).split("\n");
      const why = after.filter((l) => !/^\s+at /.test(l)).join("\n").replace(/^Error: /, "").split(/\n\s*\n/)[0]!.trim();
      rej(new Error(`serverless deploy failed: ${why}\n   full output: ${join(state, "logs", "deploy.log")}`));
    });
  });
}

let stopping = false;
async function stopAll(): Promise<void> {
  stopping = true;
  // the provider first (it flushes its batches to the platform), the platform last
  for (const svc of [...running].reverse()) await svc.stop();
  broker?.proc?.kill();
  for (const l of logs) l.end();
}

async function main(opts: StackOptions): Promise<void> {
  const data = resolve(opts.dataDir);
  const state = resolve(opts.stateDir);
  mkdirSync(data, { recursive: true });
  mkdirSync(join(state, "logs"), { recursive: true });
  const t0 = Date.now();
  say("Starting the local stack (logs in " + join(state, "logs") + "):");

  broker = await findOrStartBroker(opts.mqttUrl);
  say(`  ${"mqtt".padEnd(10)} ${broker.url}${broker.proc ? " (mosquitto started for the stack)" : ""}`);
  const [ow, dcache, scicat, rucio] = await Promise.all([
    start("openwhisk", "local/openwhisk/main.ts", ["--port", String(opts.ports.openwhisk), "--data-dir", join(state, "openwhisk")], ["openwhisk"], state),
    start("dcache", "local/dcache/main.ts", ["--root", data, "--frontend-port", String(opts.ports.frontend), "--webdav-port", String(opts.ports.webdav)], ["dcache-frontend", "dcache-webdav"], state),
    start("scicat", "local/scicat/main.ts", ["--port", String(opts.ports.scicat), "--db", join(state, "scicat.sqlite")], ["scicat"], state),
    start("rucio", "local/rucio/main.ts", ["--port", String(opts.ports.rucio), "--db", join(state, "rucio.sqlite")], ["rucio"], state),
  ]);
  const owUrl = ow!.urls.openwhisk!;
  const auth = providerAuth(state);
  const provider = await start(
    "provider",
    "feeds/provider/main.ts",
    ["--port", String(opts.ports.provider), "--data-dir", join(state, "provider"), "--openwhisk-url", owUrl],
    ["provider"],
    state,
    { PROVIDER_AUTH: auth },
  );

  const endpoints: NodeJS.ProcessEnv = {
    OW_APIHOST: owUrl,
    OW_AUTH: GUEST_AUTH,
    DCACHE_FRONTEND_URL: dcache!.urls["dcache-frontend"],
    DCACHE_WEBDAV_URL: dcache!.urls["dcache-webdav"],
    SCICAT_URL: scicat!.urls.scicat,
    RUCIO_URL: rucio!.urls.rucio,
    MQTT_URL: broker.url,
    PROVIDER_URL: provider.urls.provider,
    PROVIDER_AUTH: auth,
  };
  if (opts.deploy) {
    const td = Date.now();
    say("Deploying serverless.yml with the serverless CLI …");
    await deploy(endpoints, state);
    say(`  deployed in ${((Date.now() - td) / 1000).toFixed(1)} s`);
  }

  const webdav = dcache!.urls["dcache-webdav"];
  const wskprops = join(state, "openwhisk", "wskprops");
  say(`
The pipeline is running (${((Date.now() - t0) / 1000).toFixed(1)} s). Next:
  drop a file      cp your.nxs ${join(opts.dataDir, "beamtime/raw/")}        (any folder under ${opts.dataDir}/)
  or upload it     curl -u demo:demo -T your.nxs ${webdav}/beamtime/raw/your.nxs
  or generate some npm run demo
  wsk / aio        export WSK_CONFIG_FILE=${wskprops}; wsk action list
                   AIO_RUNTIME_APIHOST=${owUrl} AIO_RUNTIME_AUTH=${GUEST_AUTH.slice(0, 8)}… AIO_RUNTIME_NAMESPACE=guest aio rt action list
  serverless       OW_APIHOST=${owUrl} OW_AUTH=$(sed -n 's/^AUTH=//p' ${wskprops}) npx serverless deploy function -f metadata
  SciCat           ${scicat!.urls.scicat}/api/v3/datasets   Rucio ${rucio!.urls.rucio}
Ctrl-C stops everything.
`);
  writeFileSync(join(state, "endpoints.json"), JSON.stringify({ ...endpoints, OW_AUTH: undefined, PROVIDER_AUTH: undefined, DATA_DIR: data, wskprops }, null, 2) + "\n");
  if (!opts.follow) return;
  const client = openwhisk({ apihost: owUrl, api_key: GUEST_AUTH });
  const follower = followActivations(client, say);
  running.push({ stop: async () => follower.stop() } as RunningService);
}

let opts: StackOptions;
try {
  opts = parseStackOptions(process.argv.slice(2), process.env);
} catch (e) {
  const err = e as Error & { help?: boolean };
  process.stderr.write(err.help ? `${USAGE}\n` : `npm start: ${err.message}\n${USAGE}\n`);
  process.exit(err.help ? 0 : 2);
}

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    say("\nStopping …");
    void stopAll().then(() => process.exit(0));
  });
}

main(opts).then(
  async () => {
    if (!opts.follow) {
      await stopAll();
      process.exit(0);
    }
  },
  async (e: Error) => {
    process.stderr.write(`npm start: ${e.message}\n`);
    await stopAll();
    process.exit(1);
  },
);
