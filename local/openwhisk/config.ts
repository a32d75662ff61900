// Platform options from command-line flags, environment variables and an optional JSON config
// file (extra namespaces and keys, limits, pool sizing), validated with ajv.
import { Ajv } from "ajv";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { GUEST_AUTH } from "./auth.ts";

export interface Limits {
  invocationsPerMinute: number;
  concurrentInvocations: number;
  firesPerMinute: number;
}

export interface PlatformOptions {
  host: string;
  port: number;
  dataDir: string;
  /** credentials and their namespaces; the guest key is always present */
  namespaces: { namespace: string; auth: string }[];
  limits: Limits;
  maxContainers: number;
  /** memory (MB) all containers together may have, as an OpenWhisk invoker's user memory */
  userMemoryMb: number;
  prewarm: number;
  idleTimeoutMs: number;
  /** longest a blocking invoke waits before answering 202 */
  blockingWaitMs: number;
}

export interface ConfigFile {
  namespaces?: { namespace: string; auth: string }[];
  limits?: Partial<Limits>;
  maxContainers?: number;
  userMemoryMb?: number;
  prewarm?: number;
  idleTimeoutMs?: number;
}

// Generous for local work (a stock deployment has 60 / 30 / 60): benchmarks and pipelines fire a lot.
export const DEFAULT_LIMITS: Limits = { invocationsPerMinute: 600_000, concurrentInvocations: 1000, firesPerMinute: 60_000 };

const limitsSchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    invocationsPerMinute: { type: "integer", minimum: 1 },
    concurrentInvocations: { type: "integer", minimum: 1 },
    firesPerMinute: { type: "integer", minimum: 1 },
  },
};

const configSchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    namespaces: {
      type: "array",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["namespace", "auth"],
        properties: {
          namespace: { type: "string", pattern: "^\\w[\\w@ .-]*$" },
          auth: { type: "string", pattern: "^[^:\\s]+:[^\\s]+$" },
        },
      },
    },
    limits: limitsSchema,
    maxContainers: { type: "integer", minimum: 1 },
    userMemoryMb: { type: "integer", minimum: 128 },
    prewarm: { type: "integer", minimum: 0 },
    idleTimeoutMs: { type: "integer", minimum: 1000 },
  },
};

const validateConfig = new Ajv({ allErrors: true }).compile<ConfigFile>(configSchema);

export function defaultOptions(): PlatformOptions {
  return {
    host: "127.0.0.1",
    port: 3233,
    dataDir: ".local/openwhisk",
    namespaces: [{ namespace: "guest", auth: GUEST_AUTH }],
    limits: { ...DEFAULT_LIMITS },
    // Each container is a Node.js process of ~40 MB; bound them by the cores, not by demand.
    maxContainers: Math.max(8, availableParallelism() * 8),
    // As an invoker's user memory (containerPool.userMemory) bounds its containers by their memory
    // limits: 1.5 GB per core (at least 3 GB), so CPU-bound 512 MB actions run about one or two per
    // core instead of crowding the cores with processes and their cold starts, while every step of a
    // pipeline keeps its warm container (eviction takes an action's surplus containers first).
    userMemoryMb: Math.max(3072, availableParallelism() * 1536),
    prewarm: 2,
    idleTimeoutMs: 10 * 60_000,
    blockingWaitMs: 60_000,
  };
}

export function applyConfigFile(opts: PlatformOptions, file: string): PlatformOptions {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(
      `cannot read the config file ${file}: ${(e as Error).message}. Give a JSON file like {"namespaces":[{"namespace":"alice","auth":"uuid:key"}]}.`,
    );
  }
  if (!validateConfig(raw)) {
    const why = (validateConfig.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message}`).join("; ");
    throw new Error(`the config file ${file} is not valid: ${why}`);
  }
  return mergeConfig(opts, raw);
}

export function mergeConfig(opts: PlatformOptions, cfg: ConfigFile): PlatformOptions {
  const ns = [...opts.namespaces];
  for (const n of cfg.namespaces ?? []) if (!ns.some((x) => x.auth.split(":")[0] === n.auth.split(":")[0])) ns.push(n);
  return {
    ...opts,
    namespaces: ns,
    limits: { ...opts.limits, ...cfg.limits },
    maxContainers: cfg.maxContainers ?? opts.maxContainers,
    userMemoryMb: cfg.userMemoryMb ?? opts.userMemoryMb,
    prewarm: cfg.prewarm ?? opts.prewarm,
    idleTimeoutMs: cfg.idleTimeoutMs ?? opts.idleTimeoutMs,
  };
}
