// Options of `npm start`, each with an environment equivalent; 0 as a port means any free port.
import { parseArgs } from "node:util";

export interface StackOptions {
  dataDir: string;
  stateDir: string;
  ports: { openwhisk: number; frontend: number; webdav: number; provider: number; scicat: number; rucio: number };
  /** a broker to use; unset: 127.0.0.1:1883 if something listens there, else a mosquitto we start */
  mqttUrl?: string;
  /** accounting topic prefix; unset: one derived from the state folder (see stack.ts) */
  mqttTopicPrefix?: string;
  /** keep following activations after the stack is up (false: exit once deployed, leaving nothing running) */
  follow: boolean;
  deploy: boolean;
  /** a config file for the local OpenWhisk platform (limits, pool; local/openwhisk/README.md) */
  openwhiskConfig?: string;
  /** the pipeline's web page (scripts/view): its port on 127.0.0.1; null: no page */
  viewPort?: number | null;
}

export const USAGE = `usage: npm start -- [options]
  --data DIR            storage root served as dCache (env STACK_DATA_DIR, default ./data)
  --state DIR           databases, logs, wskprops (env STACK_STATE_DIR, default .local)
  --openwhisk-port N    (env OW_LOCAL_PORT, default 3233)
  --frontend-port N     dCache frontend API (env DCACHE_FRONTEND_PORT, default 3880)
  --webdav-port N       dCache WebDAV door (env DCACHE_WEBDAV_PORT, default 2880)
  --provider-port N     feed provider (env PROVIDER_PORT, default 3300)
  --scicat-port N       local SciCat (env SCICAT_PORT, default 3000)
  --rucio-port N        local Rucio (env RUCIO_PORT, default 3001)
  --mqtt URL            MQTT broker (env MQTT_URL; default: 127.0.0.1:1883 if one listens, else mosquitto is started)
  --mqtt-prefix P       accounting topic prefix (env MQTT_TOPIC_PREFIX; default storage-events/<stack id>/accounting,
                        the stack id derived from the state folder, so stacks sharing a broker do not mix)
  --view-port N         the pipeline's web page on 127.0.0.1 (env VIEW_PORT, default 3400)
  --no-view             no web page
  --no-deploy           start the services only
  --no-follow           exit once deployed (stops everything again), without the live log
  Ports may be 0 (any free port).`;

function port(name: string, raw: string | undefined, def: number): number {
  if (raw === undefined || raw === "") return def;
  if (!/^\d+$/.test(raw) || Number(raw) > 65535) throw new Error(`${name} must be a port number 0…65535, got "${raw}"`);
  return Number(raw);
}

export function parseStackOptions(argv: string[], env: NodeJS.ProcessEnv): StackOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: "string" },
      state: { type: "string" },
      "openwhisk-port": { type: "string" },
      "frontend-port": { type: "string" },
      "webdav-port": { type: "string" },
      "provider-port": { type: "string" },
      "scicat-port": { type: "string" },
      "rucio-port": { type: "string" },
      mqtt: { type: "string" },
      "mqtt-prefix": { type: "string" },
      "no-follow": { type: "boolean" },
      "no-deploy": { type: "boolean" },
      "view-port": { type: "string" },
      "no-view": { type: "boolean" },
      help: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help) throw Object.assign(new Error(USAGE), { help: true });
  const mqttUrl = values.mqtt ?? env.MQTT_URL;
  if (mqttUrl && !/^(mqtts?|wss?|tcp):\/\/\S+$/.test(mqttUrl))
    throw new Error(`--mqtt must be a broker URL such as mqtt://127.0.0.1:1883, got "${mqttUrl}"`);
  const mqttTopicPrefix = values["mqtt-prefix"] ?? env.MQTT_TOPIC_PREFIX;
  if (mqttTopicPrefix !== undefined && !/^[^$/#+\u0000]([^#+\u0000]*[^/#+\u0000])?$/.test(mqttTopicPrefix)) {
    throw new Error(
      `--mqtt-prefix must be an MQTT topic without wildcards (+, #) and without a leading $ or a leading or trailing /, got "${mqttTopicPrefix}"`,
    );
  }
  return {
    dataDir: values.data ?? env.STACK_DATA_DIR ?? "data",
    stateDir: values.state ?? env.STACK_STATE_DIR ?? ".local",
    ports: {
      openwhisk: port("--openwhisk-port", values["openwhisk-port"] ?? env.OW_LOCAL_PORT, 3233),
      frontend: port("--frontend-port", values["frontend-port"] ?? env.DCACHE_FRONTEND_PORT, 3880),
      webdav: port("--webdav-port", values["webdav-port"] ?? env.DCACHE_WEBDAV_PORT, 2880),
      provider: port("--provider-port", values["provider-port"] ?? env.PROVIDER_PORT, 3300),
      scicat: port("--scicat-port", values["scicat-port"] ?? env.SCICAT_PORT, 3000),
      rucio: port("--rucio-port", values["rucio-port"] ?? env.RUCIO_PORT, 3001),
    },
    mqttUrl,
    ...(mqttTopicPrefix !== undefined ? { mqttTopicPrefix } : {}),
    viewPort: values["no-view"] ? null : port("--view-port", values["view-port"] ?? env.VIEW_PORT, 3400),
    follow: !values["no-follow"],
    deploy: !values["no-deploy"],
  };
}
