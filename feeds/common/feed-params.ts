// The feed parameters a user gives `wsk trigger create T --feed /ns/dcache/events -p …` (or serverless
// `feed_parameters`). Checked by the feed action before it calls the provider and again by the provider.
import { Ajv, type ErrorObject } from "ajv";
import { ARRIVAL_TYPES, selectedTypes, TYPE_FLAGS, type EventType } from "../../lib/events/inotify.ts";

export const MAX_FIRE_BYTES = 900_000;

export interface MqttSourceParams {
  kind: "mqtt";
  /** mqtt://, mqtts://, ws:// or wss:// broker URL */
  url: string;
  /** MQTT topic filter, e.g. "dcache/events/#" */
  topic: string;
  qos: 0 | 1;
  username?: string;
  password?: string;
  /** MQTT v5 shared-subscription group: provider replicas split the topic ("$share/<group>/<topic>");
   *  unset: a plain subscription (survives broker restarts with Mosquitto, which does not persist shared ones) */
  group?: string;
}

export interface DcacheSourceParams {
  kind: "dcache";
  /** frontend base URL, e.g. https://dcache.example.org:3880 */
  url: string;
  paths: string[];
  recursive: boolean;
  flags?: string[];
  /** bearer token sent as `Authorization: Bearer` (default) or as the `?authz=` query parameter */
  auth?: { username: string; password: string } | { token: string; via?: "header" | "query" };
  /** IN_CLOSE_WRITE events carry the file's size and ADLER32 from the namespace API */
  enrich?: boolean;
  /** most directories a recursive registration watches (default 10000) */
  maxDirectories?: number;
  /** true: files already in the tree when the registration is created fire too (once each) */
  existing?: boolean;
}

export type SourceParams = MqttSourceParams | DcacheSourceParams;

export interface FilterParams {
  /** glob patterns on the file path (`*`, `?`, `**`, `{a,b}`, `[abc]`); none = every path */
  paths?: string[];
  /** glob patterns whose matches are dropped even when `paths` matches */
  exclude?: string[];
  /** inotify flags; an event passes when its mask has one of them; none = every type (with
   *  `arrivals`, it narrows which kinds of arrival pass) */
  types?: string[];
  /** true (default for new feeds): only file arrivals pass — a regular file closed after writing or
   *  moved into the tree, under a final name — see docs/feed.md. false: raw inotify events.
   *  Absent only in registrations stored before arrivals existed, which keep raw events. */
  arrivals?: boolean;
  /** glob patterns of writers' temporary names, which are never arrivals (their rename is) */
  temporary?: string[];
  /** repeated arrivals of one file within this many ms of its first are one arrival */
  settleMs?: number;
}

/** Temporary names of common writers: `cp`/instrument `.part`, editors' `~`, `.tmp`, rsync's `.name.XXXXXX`. */
export const DEFAULT_TEMPORARY = ["*.part", "*.tmp", "*~", ".*.??????"];
/** Short enough to hide inside the batch wait of a latency-tuned trigger (serverless.yml: 20 ms). */
export const DEFAULT_SETTLE_MS = 20;
/** Whether flags (combined ones expanded; none = every type) select the event type `t`. */
const selects = (flags: string[] | undefined, t: EventType) => !flags || flags.length === 0 || selectedTypes(flags).has(t);

export interface BatchParams {
  maxEvents: number;
  maxWaitMs: number;
  maxBytes: number;
}

export interface DeliveryParams {
  /** how long a failing event is retried before it is dead-lettered */
  maxAgeSeconds: number;
  /** false: events past maxAgeSeconds are dropped (counted) instead of dead-lettered */
  deadLetter: boolean;
  /**
   * true (default): the file ledger follows every fired file to its outcome, retries transient
   * failures until maxAgeSeconds, and never fires content it already has (see docs/feed.md)
   */
  ledger: boolean;
  /**
   * with the ledger, a source over a listable store (dCache) lists the watched tree this often and
   * fires files the ledger has no outcome for (lost events, files missed while down); 0 = never
   */
  reconcileSeconds: number;
  /**
   * with the ledger, an action invoked for a file once every rule succeeded for it, followed and
   * retried like a rule (e.g. "facility/lifecycle": archive, then free the buffer copy)
   */
  finally?: string;
}

export interface FeedConfig {
  source: SourceParams;
  filter: FilterParams;
  batch: BatchParams;
  delivery: DeliveryParams;
}

const flag = { enum: TYPE_FLAGS };
const glob = { type: "string", minLength: 1, maxLength: 1024 };

const mqttSource = {
  type: "object",
  additionalProperties: false,
  required: ["kind", "url", "topic"],
  properties: {
    kind: { const: "mqtt" },
    url: { type: "string", pattern: "^(mqtts?|wss?)://[^\\s/]+" },
    topic: { type: "string", minLength: 1, maxLength: 1024, pattern: "^[^$\\u0000]" },
    qos: { enum: [0, 1], default: 1 },
    username: { type: "string", minLength: 1 },
    password: { type: "string" },
    group: { type: "string", pattern: "^[^/+#\\s]+$", maxLength: 128 },
  },
};

const dcacheSource = {
  type: "object",
  additionalProperties: false,
  required: ["kind", "url", "paths"],
  properties: {
    kind: { const: "dcache" },
    url: { type: "string", pattern: "^https?://[^\\s/]+" },
    paths: { type: "array", minItems: 1, maxItems: 128, items: { type: "string", pattern: "^/(.*[^/])?$" } },
    recursive: { type: "boolean", default: true },
    flags: { type: "array", minItems: 1, items: flag },
    auth: {
      oneOf: [
        {
          type: "object",
          additionalProperties: false,
          required: ["username", "password"],
          properties: { username: { type: "string", minLength: 1 }, password: { type: "string" } },
        },
        {
          type: "object",
          additionalProperties: false,
          required: ["token"],
          properties: { token: { type: "string", minLength: 1 }, via: { enum: ["header", "query"] } },
        },
      ],
    },
    enrich: { type: "boolean", default: false },
    maxDirectories: { type: "integer", minimum: 1, maximum: 1_000_000 },
    existing: { type: "boolean", default: false },
  },
};

export const feedConfigSchema = {
  type: "object",
  additionalProperties: false,
  required: ["source"],
  properties: {
    source: {
      type: "object",
      required: ["kind"],
      properties: { kind: { enum: ["mqtt", "dcache"] } },
      if: { properties: { kind: { const: "mqtt" } } },
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then
      then: mqttSource,
      else: dcacheSource,
    },
    filter: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        paths: { type: "array", maxItems: 256, items: glob },
        exclude: { type: "array", maxItems: 256, items: glob },
        types: { type: "array", items: flag },
        arrivals: { type: "boolean", default: true },
        temporary: { type: "array", maxItems: 256, items: glob, default: DEFAULT_TEMPORARY },
        settleMs: { type: "integer", minimum: 0, maximum: 60_000, default: DEFAULT_SETTLE_MS },
      },
    },
    batch: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        maxEvents: { type: "integer", minimum: 1, maximum: 100_000, default: 1000 },
        maxWaitMs: { type: "integer", minimum: 0, maximum: 600_000, default: 1000 },
        maxBytes: { type: "integer", minimum: 1024, maximum: MAX_FIRE_BYTES, default: MAX_FIRE_BYTES },
      },
    },
    delivery: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        maxAgeSeconds: { type: "integer", minimum: 1, maximum: 30 * 86400, default: 86400 },
        deadLetter: { type: "boolean", default: true },
        ledger: { type: "boolean", default: true },
        reconcileSeconds: { type: "integer", minimum: 0, maximum: 30 * 86400, default: 86400 },
        finally: {
          type: "string",
          pattern: "^/?[A-Za-z0-9_@.-]+(/[A-Za-z0-9_@.-]+){0,2}$",
          description: "action run once every rule succeeded for a file, e.g. facility/lifecycle",
        },
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const validate = ajv.compile(feedConfigSchema);

/** Lifecycle parameters that are not feed configuration (sent by OpenWhisk or the package). */
export const RESERVED_PARAMS = ["lifecycleEvent", "triggerName", "authKey", "providerUrl", "providerAuth"] as const;

function explain(e: ErrorObject): string {
  const at = e.instancePath ? e.instancePath.slice(1).replaceAll("/", ".") : "";
  const name = (p: string) => (at ? `${at}.${p}` : p);
  switch (e.keyword) {
    case "required":
      return `missing parameter \`${name(String(e.params.missingProperty))}\``;
    case "additionalProperties":
      return `unknown parameter \`${name(String(e.params.additionalProperty))}\``;
    case "enum":
      return `parameter \`${at}\` must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`;
    case "const":
      return `parameter \`${at}\` must be ${JSON.stringify(e.params.allowedValue)}`;
    case "pattern":
      return `parameter \`${at}\` is malformed (${hint(at)})`;
    default:
      return `parameter \`${at || "(feed parameters)"}\` ${e.message}`;
  }
}

function hint(at: string): string {
  if (at === "source.url") return "a broker URL such as mqtt://broker:1883, or a dCache frontend URL such as https://dcache:3880";
  if (at === "source.topic") return "an MQTT topic filter such as dcache/events/# that does not start with $";
  if (at === "source.group") return "a shared-subscription group name without /, +, # or spaces";
  if (at.startsWith("source.paths")) return "an absolute path such as /data/beamline without a trailing /";
  return "see the feed's parameter documentation";
}

export type Checked<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * Validates feed parameters and fills defaults. The error names the bad parameter(s) and says what is
 * expected, e.g. "missing parameter `source.topic`".
 */
export function checkFeedConfig(input: unknown): Checked<FeedConfig> {
  const copy = structuredClone(input ?? {});
  if (!validate(copy)) {
    // `if/then/else` reports the failing branch and then a generic "must match then schema": skip the latter.
    const errs = (validate.errors ?? []).filter((e) => e.keyword !== "if");
    const uniq = [...new Set(errs.map(explain))];
    return { ok: false, error: `invalid feed parameters: ${uniq.join("; ")}` };
  }
  const cfg = copy as FeedConfig;
  const types = cfg.filter.types;
  if (cfg.filter.arrivals && types && types.length > 0 && !ARRIVAL_TYPES.some((t) => selects(types, t)))
    return {
      ok: false,
      error: `invalid feed parameters: parameter \`filter.types\` (${types.join(", ")}) selects no arrival, and \`filter.arrivals\` is true (the default): arrivals are IN_CLOSE_WRITE and IN_MOVED_TO of files; set \`filter.arrivals\` to false to receive other inotify events`,
    };
  return { ok: true, value: cfg };
}

/**
 * What narrows arrivals below "closed after writing or moved in": the feed is valid, but files that
 * arrive the other way never pass. Said in the provider's log when a registration is created or updated.
 */
export function arrivalWarnings(cfg: FeedConfig): string[] {
  if (!cfg.filter.arrivals) return [];
  const out: string[] = [];
  for (const f of ARRIVAL_TYPES) {
    if (!selects(cfg.filter.types, f))
      out.push(`filter.types leaves out ${f}: files arriving ${f === "IN_MOVED_TO" ? "by rename or move" : "by writing"} do not pass`);
    if (cfg.source.kind === "dcache" && !selects(cfg.source.flags, f))
      out.push(
        `source.flags leaves out ${f}: the source does not pass on files arriving ${f === "IN_MOVED_TO" ? "by rename or move" : "by writing"}`,
      );
  }
  return out;
}

/** Pulls the feed configuration out of a lifecycle invocation's flat parameter object. */
export function pickFeedConfig(params: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) {
    if ((RESERVED_PARAMS as readonly string[]).includes(k) || k.startsWith("__")) continue;
    out[k] = v;
  }
  return out;
}

/** Deep merge for UPDATE: objects merge key by key, everything else (arrays too) is replaced. */
export function mergeConfig(base: unknown, patch: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(patch)) return patch === undefined ? base : patch;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) out[k] = mergeConfig(base[k], v);
  return out;
}

/** UPDATE's parameters over the stored config; a new source kind replaces the whole source. */
export function updateConfig(base: FeedConfig, patch: Record<string, unknown>): unknown {
  const merged = mergeConfig(base, patch) as Record<string, unknown>;
  const ps = patch.source;
  if (isPlainObject(ps) && ps.kind !== undefined && ps.kind !== base.source.kind) merged.source = ps;
  return merged;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === "object" && !Array.isArray(v);
}

/** Secrets inside a config: replaced by "[redacted]" before anything is shown or logged. */
export function redactConfig(cfg: FeedConfig): FeedConfig {
  const c = structuredClone(cfg);
  if (c.source.kind === "mqtt" && c.source.password !== undefined) c.source.password = "[redacted]";
  if (c.source.kind === "dcache" && c.source.auth) {
    if ("token" in c.source.auth) c.source.auth = { ...c.source.auth, token: "[redacted]" };
    else c.source.auth = { username: c.source.auth.username, password: "[redacted]" };
  }
  return c;
}

/** The secret strings of a config, so that logs can be checked against them. */
export function secretsOf(cfg: FeedConfig): string[] {
  const out: string[] = [];
  if (cfg.source.kind === "mqtt" && cfg.source.password) out.push(cfg.source.password);
  if (cfg.source.kind === "dcache" && cfg.source.auth)
    out.push("token" in cfg.source.auth ? cfg.source.auth.token : cfg.source.auth.password);
  return out;
}
