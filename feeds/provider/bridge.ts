// `npm run bridge`: republishes dCache storage events to MQTT, for sites whose consumers (the feed
// provider's MQTT source, dashboards, other services) read a broker rather than dCache's SSE API.
// It runs the provider's dCache source itself — shared channel by client-id, Last-Event-ID resume,
// recursive watches with namespace listing, rescan after EVENT_LOSS / IN_Q_OVERFLOW / frontend
// restarts, paired moves, optional enrichment — and publishes each resulting CloudEvent with QoS 1.
// The position (channel + last event id) is written to the state directory only after the broker
// acknowledged every message before it, so a restarted bridge misses nothing.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import mqtt from "mqtt";
import { checkFeedConfig, type DcacheSourceParams } from "../common/feed-params.ts";
import { Logger, SecretRegistry } from "./log.ts";
import { DcacheSource } from "./sources/dcache/index.ts";
import type { SourceMessage, SourceSink, SourceState } from "./sources/types.ts";

const USAGE = `usage: npm run bridge -- --dcache URL --path /data [--path …] --mqtt URL [options]
  --dcache URL          dCache frontend, e.g. https://dcache.example.org:3880   [BRIDGE_DCACHE_URL]
  --path P              directory to watch (repeatable)                           [BRIDGE_PATHS, comma-separated]
  --no-recursive        watch only the given directories, not their subtrees
  --flags F,F           inotify flags to publish (default: all)
  --enrich              add size and ADLER32 to IN_CLOSE_WRITE events
  --mqtt URL            broker, e.g. mqtt://127.0.0.1:1883                        [BRIDGE_MQTT_URL]
  --topic T             topic to publish to (default dcache/events)               [BRIDGE_TOPIC]
  --state-dir DIR       position and seen records (default ./.bridge)             [BRIDGE_STATE_DIR]
  --replica-id ID       channel identity; two bridges must not share one (default bridge)
  credentials: BRIDGE_DCACHE_USER + BRIDGE_DCACHE_PASSWORD, or BRIDGE_DCACHE_TOKEN (bearer; BRIDGE_DCACHE_TOKEN_VIA=query for ?authz=);
               BRIDGE_MQTT_USER + BRIDGE_MQTT_PASSWORD — from the environment only, never on the command line`;

function options(argv: string[], env: NodeJS.ProcessEnv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      dcache: { type: "string" },
      path: { type: "string", multiple: true },
      "no-recursive": { type: "boolean" },
      flags: { type: "string" },
      enrich: { type: "boolean" },
      mqtt: { type: "string" },
      topic: { type: "string" },
      "state-dir": { type: "string" },
      "replica-id": { type: "string" },
      help: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help) throw Object.assign(new Error(USAGE), { help: true });
  const auth = env.BRIDGE_DCACHE_TOKEN
    ? { token: env.BRIDGE_DCACHE_TOKEN, via: env.BRIDGE_DCACHE_TOKEN_VIA === "query" ? ("query" as const) : ("header" as const) }
    : env.BRIDGE_DCACHE_USER
      ? { username: env.BRIDGE_DCACHE_USER, password: env.BRIDGE_DCACHE_PASSWORD ?? "" }
      : undefined;
  const source = {
    kind: "dcache",
    url: values.dcache ?? env.BRIDGE_DCACHE_URL,
    paths: values.path ?? env.BRIDGE_PATHS?.split(",").filter(Boolean),
    recursive: !values["no-recursive"],
    ...(values.flags ? { flags: values.flags.split(",") } : {}),
    ...(values.enrich ? { enrich: true } : {}),
    ...(auth ? { auth } : {}),
  };
  // the same checks as a feed's parameters: a bad path or flag is named, not discovered later
  const checked = checkFeedConfig({ source });
  if (!checked.ok) throw new Error(checked.error.replace("invalid feed parameters", "invalid bridge options").replaceAll("source.", "--"));
  const mqttUrl = values.mqtt ?? env.BRIDGE_MQTT_URL;
  if (!mqttUrl || !/^(mqtts?|wss?):\/\//.test(mqttUrl)) throw new Error("--mqtt must be a broker URL such as mqtt://127.0.0.1:1883");
  const replicaId = values["replica-id"] ?? "bridge";
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(replicaId)) throw new Error("--replica-id must be 1–32 letters, digits, _ or -");
  return {
    source: checked.value.source as DcacheSourceParams,
    mqttUrl,
    topic: values.topic ?? env.BRIDGE_TOPIC ?? "dcache/events",
    stateDir: values["state-dir"] ?? env.BRIDGE_STATE_DIR ?? ".bridge",
    replicaId,
    mqttAuth: env.BRIDGE_MQTT_USER ? { username: env.BRIDGE_MQTT_USER, password: env.BRIDGE_MQTT_PASSWORD } : {},
  };
}

async function main(): Promise<void> {
  let o;
  try {
    o = options(process.argv.slice(2), process.env);
  } catch (e) {
    const err = e as Error & { help?: boolean };
    (err.help ? process.stdout : process.stderr).write(`${err.message}\n${err.help ? "" : `${USAGE}\n`}`);
    process.exit(err.help ? 0 : 2);
  }
  const secrets = new SecretRegistry();
  const a = o.source.auth;
  secrets.add(a && "token" in a ? a.token : a?.password, process.env.BRIDGE_MQTT_PASSWORD);
  const log = new Logger((l) => process.stdout.write(l), secrets, { service: "dcache-mqtt-bridge" });
  mkdirSync(o.stateDir, { recursive: true });
  const cursorFile = join(o.stateDir, "cursor.json");
  let cursor: string | null = null;
  try {
    cursor = (JSON.parse(readFileSync(cursorFile, "utf8")) as { cursor: string }).cursor;
  } catch {
    // first start
  }

  const client = await mqtt
    .connectAsync(o.mqttUrl, { ...o.mqttAuth, protocolVersion: 5, reconnectPeriod: 1000, connectTimeout: 10_000 })
    .catch((e: Error) => {
      throw new Error(`cannot connect to the MQTT broker at ${o.mqttUrl}: ${e.message}`);
    });
  log.info("connected to the MQTT broker", { broker: new URL(o.mqttUrl).host, topic: o.topic });

  let published = 0;
  const sink: SourceSink = {
    async deliver(messages: SourceMessage[], next?: string): Promise<void> {
      // QoS 1: each publish resolves on PUBACK; only then does the position move
      await Promise.all(messages.map((m) => client.publishAsync(o.topic, JSON.stringify("event" in m ? m.event : m.payload), { qos: 1 })));
      published += messages.length;
      if (next !== undefined && next !== cursor) {
        cursor = next;
        writeFileSync(`${cursorFile}.tmp`, JSON.stringify({ cursor }));
        renameSync(`${cursorFile}.tmp`, cursorFile);
      }
    },
    state(state: SourceState, detail?: string): void {
      log.info("dCache source state", { state, ...(detail ? { detail } : {}) });
    },
    disable(reason: string): void {
      log.error("the bridge cannot continue", { reason });
      process.exitCode = 3;
      void stop("disabled");
    },
  };
  const source = new DcacheSource({ dataDir: o.stateDir });
  const running = await source.start(
    { id: `bridge/${o.topic}`, key: `bridge/${o.topic}`, config: o.source, cursor, replicaId: o.replicaId, log },
    sink,
  );
  process.stdout.write(
    `bridge running: ${new URL(o.source.url).origin} ${o.source.paths.join(",")} → ${new URL(o.mqttUrl).host} ${o.topic}\n`,
  );
  const stats = setInterval(() => log.info("published", { events: published }), 60_000);
  stats.unref();

  let stopping = false;
  async function stop(signal: string): Promise<void> {
    if (stopping) return;
    stopping = true;
    log.info("stopping", { signal, published });
    await running.stop();
    await client.endAsync();
    process.exit();
  }
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((e) => {
  process.stderr.write(`dcache-mqtt bridge failed: ${(e as Error).message}\n`);
  process.exit(1);
});
