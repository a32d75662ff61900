// `npm start`: the whole facility pipeline on one machine (see stack.ts), deployed with the real
// serverless CLI; then the live log of storage-event fires and the activations they cause until
// Ctrl-C, which stops everything.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import openwhisk from "openwhisk";
import { followActivations } from "./live-log.ts";
import { parseStackOptions, USAGE, type StackOptions } from "./options.ts";
import { GUEST_AUTH, LocalStack, watchCommand, withoutCredentials } from "./stack.ts";
import { startViewServer, type ViewServer } from "../view/server.ts";

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

let stack: LocalStack | undefined;
let follower: { stop(): void } | undefined;
let view: ViewServer | undefined;

async function main(opts: StackOptions): Promise<void> {
  const t0 = Date.now();
  // the folder the quick start copies into exists on a fresh checkout
  mkdirSync(join(opts.dataDir, "beamtime", "raw"), { recursive: true });
  stack = new LocalStack(opts, say);
  say(`Starting the local stack (logs in ${join(stack.state, "logs")}):`);
  const ep = await stack.start();
  if (opts.deploy) {
    const td = Date.now();
    say("Deploying serverless.yml with the serverless CLI …");
    await stack.serverless(["deploy"]);
    say(`  deployed in ${((Date.now() - td) / 1000).toFixed(1)} s`);
  }
  const wskprops = join(stack.state, "openwhisk", "wskprops");
  if (opts.viewPort !== null && opts.follow) {
    view = await startViewServer({
      host: "127.0.0.1",
      port: opts.viewPort ?? 3400,
      openwhisk: { apihost: ep.OW_APIHOST, auth: GUEST_AUTH },
      provider: { url: ep.PROVIDER_URL, auth: ep.PROVIDER_AUTH, ownerKey: GUEST_AUTH },
      since: t0,
    }).catch((e: Error & { code?: string }) => {
      throw new Error(
        e.code === "EADDRINUSE"
          ? `the web page's port ${opts.viewPort ?? 3400} is in use: give --view-port N (0: any free port) or --no-view`
          : `the web page did not start: ${e.message}`,
      );
    });
  }
  say(`
The pipeline is running (${((Date.now() - t0) / 1000).toFixed(1)} s). Next:
  drop a file      cp your.nxs ${join(opts.dataDir, "beamtime/raw/")}        (any folder under ${opts.dataDir}/)
  or upload it     curl -u demo:demo -T your.nxs ${ep.DCACHE_WEBDAV_URL}/beamtime/raw/your.nxs
  or generate some npm run demo
  wsk / aio        export WSK_CONFIG_FILE=${wskprops}; wsk action list
                   AIO_RUNTIME_APIHOST=${ep.OW_APIHOST} AIO_RUNTIME_AUTH=$(sed -n 's/^AUTH=//p' ${wskprops}) AIO_RUNTIME_NAMESPACE=guest aio rt action list
  serverless       OW_APIHOST=${ep.OW_APIHOST} OW_AUTH=$(sed -n 's/^AUTH=//p' ${wskprops}) npx serverless deploy function -f metadata
${view ? `  see it           ${view.url}   (Live, Files, Functions, Health; 127.0.0.1 only)\n` : ""}  SciCat           ${ep.SCICAT_URL}/api/v3/datasets answers 401 until you log in as ingestor/ingestor:
                   TOKEN=$(curl -s -H 'content-type: application/json' -d '{"username":"ingestor","password":"ingestor"}' ${ep.SCICAT_URL}/api/v3/auth/login | node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).access_token')
                   curl -H "Authorization: Bearer $TOKEN" ${ep.SCICAT_URL}/api/v3/datasets
  Rucio            ${ep.RUCIO_URL}  (account demo, user demo, password demo: X-Rucio-Account/-Username/-Password on /auth/userpass)
  accounting       one retained MQTT record per file on ${withoutCredentials(ep.MQTT_URL)}, topic ${ep.MQTT_TOPIC_PREFIX}/files/<path>
  watch accounting ${watchCommand(ep.MQTT_URL, ep.MQTT_TOPIC_PREFIX)}
  totals           npm run accounting -- --mqtt ${withoutCredentials(ep.MQTT_URL)} --prefix ${ep.MQTT_TOPIC_PREFIX}   (--serve PORT: /metrics)
Ctrl-C stops everything.
`);
  // from the start of `npm start` on: what ran during start-up and deploy shows too
  if (opts.follow) follower = followActivations(openwhisk({ apihost: ep.OW_APIHOST, api_key: GUEST_AUTH }), say, t0);
}

async function stopAll(): Promise<void> {
  follower?.stop();
  await view?.close();
  await stack?.stop();
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
