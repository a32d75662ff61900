// Provider settings from command-line options, falling back to environment variables, then defaults.
import { parseArgs } from "node:util";

export interface ProviderConfig {
  host: string;
  port: number;
  dataDir: string;
  /** "sqlite" | "sqlite:/file" | "postgres://…[?schema=x]" */
  store: string;
  /** OpenWhisk API host for ownership checks and fires; unset: the one each feed action reports */
  apihost?: string;
  providerAuth: string;
  /** provider key material for sealing credentials; unset: a key file in the data directory */
  providerKey?: string;
  /** keys being rotated out: credentials they sealed still open and are sealed again under providerKey */
  previousKeys: string[];
  replicaId: string;
  /** lease of a unit of work when replicas share a PostgreSQL store: a dead replica's units move after this */
  leaseMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  maxPending: number;
  fireTimeoutMs: number;
  shutdownGraceMs: number;
  mqttReconnectMs: number;
  logLevel: "debug" | "info" | "warn" | "error";
}

export const ENV_HELP = `Options (environment variable in brackets):
  --port N               HTTP port, 0 = ephemeral            [PROVIDER_PORT]  default 3300
  --host H               listen address                       [PROVIDER_HOST]  default 127.0.0.1
  --data-dir DIR         SQLite file and key file             [PROVIDER_DATA_DIR] default ./.provider
  --store SPEC           sqlite | sqlite:/file | postgres://host/db?schema=s   [PROVIDER_STORE]
  --openwhisk-url URL    OpenWhisk API host                   [OPENWHISK_APIHOST, __OW_API_HOST]
  --auth USER:PASS       credentials the feed action presents [PROVIDER_AUTH] (required)
  --key KEY              credential-sealing key: 64 hex digits, base64 of 32 bytes or a passphrase ≥ 16 chars
                                                              [PROVIDER_KEY] default: DATA_DIR/provider.key
  --previous-keys K,K    keys being rotated out (comma-separated): still open credentials, which are
                         sealed again under --key at start  [PROVIDER_PREVIOUS_KEYS]
  --replica-id ID        id of this replica, unique among running ones [PROVIDER_REPLICA_ID] default r0
  --lease-ms N           with a PostgreSQL store: lease of each unit of work; a dead replica's units are
                         taken over within lease + lease/3  [PROVIDER_LEASE_MS] default 10000
  --retry-base-ms N      first retry delay                    [PROVIDER_RETRY_BASE_MS] default 500
  --retry-max-ms N       longest retry delay                  [PROVIDER_RETRY_MAX_MS] default 60000
  --max-pending N        outbox events per registration before sources are held back (also the PAUSE buffer)
                                                              [PROVIDER_MAX_PENDING] default 100000
  --fire-timeout-ms N    timeout of one fire                  [PROVIDER_FIRE_TIMEOUT_MS] default 30000
  --shutdown-grace-ms N  time to flush batches on SIGTERM     [PROVIDER_SHUTDOWN_GRACE_MS] default 5000
  --mqtt-reconnect-ms N  delay between MQTT reconnect tries  [PROVIDER_MQTT_RECONNECT_MS] default 1000
  --log-level L          debug|info|warn|error                [PROVIDER_LOG_LEVEL] default info`;

function int(name: string, v: string | undefined, def: number, min: number): number {
  if (v === undefined || v === "") return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min}, got "${v}"`);
  return n;
}

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): ProviderConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: "string" },
      host: { type: "string" },
      "data-dir": { type: "string" },
      store: { type: "string" },
      "openwhisk-url": { type: "string" },
      auth: { type: "string" },
      key: { type: "string" },
      "previous-keys": { type: "string" },
      "replica-id": { type: "string" },
      "lease-ms": { type: "string" },
      "retry-base-ms": { type: "string" },
      "retry-max-ms": { type: "string" },
      "max-pending": { type: "string" },
      "fire-timeout-ms": { type: "string" },
      "shutdown-grace-ms": { type: "string" },
      "mqtt-reconnect-ms": { type: "string" },
      "log-level": { type: "string" },
      help: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help) throw Object.assign(new Error(ENV_HELP), { help: true });
  const providerAuth = values.auth ?? env.PROVIDER_AUTH;
  if (!providerAuth || !/^[^:\s]+:\S{8,}$/.test(providerAuth))
    throw new Error("the provider needs its credentials as USER:PASSWORD (password ≥ 8 characters): --auth or PROVIDER_AUTH");
  const logLevel = (values["log-level"] ?? env.PROVIDER_LOG_LEVEL ?? "info") as ProviderConfig["logLevel"];
  if (!["debug", "info", "warn", "error"].includes(logLevel))
    throw new Error(`--log-level must be debug, info, warn or error, got "${logLevel}"`);
  const replicaId = values["replica-id"] ?? env.PROVIDER_REPLICA_ID ?? "r0";
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(replicaId)) throw new Error("--replica-id must be 1–32 letters, digits, _ or -");
  const apihost = values["openwhisk-url"] ?? env.OPENWHISK_APIHOST ?? env.__OW_API_HOST;
  return {
    host: values.host ?? env.PROVIDER_HOST ?? "127.0.0.1",
    port: int("--port", values.port ?? env.PROVIDER_PORT, 3300, 0),
    dataDir: values["data-dir"] ?? env.PROVIDER_DATA_DIR ?? ".provider",
    store: values.store ?? env.PROVIDER_STORE ?? "sqlite",
    apihost: apihost ? (/^https?:\/\//.test(apihost) ? apihost : `https://${apihost}`) : undefined,
    providerAuth,
    providerKey: values.key ?? env.PROVIDER_KEY,
    previousKeys: (values["previous-keys"] ?? env.PROVIDER_PREVIOUS_KEYS ?? "")
      .split(",")
      .map((k) => k.trim())
      .filter(Boolean),
    replicaId,
    leaseMs: int("--lease-ms", values["lease-ms"] ?? env.PROVIDER_LEASE_MS, 10_000, 300),
    retryBaseMs: int("--retry-base-ms", values["retry-base-ms"] ?? env.PROVIDER_RETRY_BASE_MS, 500, 1),
    retryMaxMs: int("--retry-max-ms", values["retry-max-ms"] ?? env.PROVIDER_RETRY_MAX_MS, 60_000, 1),
    maxPending: int("--max-pending", values["max-pending"] ?? env.PROVIDER_MAX_PENDING, 100_000, 1),
    fireTimeoutMs: int("--fire-timeout-ms", values["fire-timeout-ms"] ?? env.PROVIDER_FIRE_TIMEOUT_MS, 30_000, 100),
    shutdownGraceMs: int("--shutdown-grace-ms", values["shutdown-grace-ms"] ?? env.PROVIDER_SHUTDOWN_GRACE_MS, 5000, 0),
    mqttReconnectMs: int("--mqtt-reconnect-ms", values["mqtt-reconnect-ms"] ?? env.PROVIDER_MQTT_RECONNECT_MS, 1000, 10),
    logLevel,
  };
}
