// Assembles the platform (SQLite stores, authenticator, container pool, invoker, throttles, API
// router, HTTP server) and starts it. `startPlatform` is the programmatic entry point that
// main.ts and the benchmarks use.
import { randomBytes, randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { mkdirSync, rmSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Authenticator, GUEST_AUTH } from "./auth.ts";
import { applyConfigFile, defaultOptions, mergeConfig, type ConfigFile, type PlatformOptions } from "./config.ts";
import { openDatabase } from "./store/database.ts";
import { EntityStore, type Doc } from "./store/entities.ts";
import { ActivationStore } from "./store/activations.ts";
import { RuleInvocationStore } from "./store/rule-invocations.ts";
import { RuleRuns } from "./invoker/rule-runs.ts";
import { ContainerPool } from "./invoker/pool.ts";
import { Invoker } from "./invoker/invoker.ts";
import { Throttles } from "./limits.ts";
import { createBodyLimit, createRouter } from "./api/routes.ts";
import { createApiServer } from "./http/server.ts";
import { resolveAction } from "./resolver.ts";
import { DEFAULT_LIMITS } from "./api/actions.ts";
import { SYSTEM_NAMESPACE, UTILS_ACTIONS } from "./system/utils.ts";

export interface StartOptions extends Partial<PlatformOptions> {
  /** JSON file with extra namespaces/keys, limits and pool sizing (see config.ts) */
  configFile?: string;
  /** the same settings given directly */
  config?: ConfigFile;
  /** where platform diagnostics go (default: stderr) */
  log?: (line: string) => void;
}

export interface RunningPlatform {
  /** e.g. http://127.0.0.1:3233: the APIHOST for clients */
  url: string;
  port: number;
  /** the guest credentials `uuid:key` and namespace */
  auth: string;
  namespace: string;
  dataDir: string;
  /** containers busy, idle (warm), pre-warmed stem cells, and queued activations */
  poolSize(): { busy: number; idle: number; stems: number; queued: number };
  close(): Promise<void>;
}

export async function startPlatform(options: StartOptions = {}): Promise<RunningPlatform> {
  const { configFile, config, log: logOpt, ...direct } = options;
  let opts: PlatformOptions = { ...defaultOptions(), ...stripUndefined(direct) };
  if (configFile) opts = applyConfigFile(opts, configFile);
  if (config) opts = mergeConfig(opts, config);
  const log = logOpt ?? ((line: string) => process.stderr.write(`openwhisk: ${line}\n`));

  const db = openDatabase(opts.dataDir);
  const store = new EntityStore(db);
  const activations = new ActivationStore(db, log);
  // whisk.system gets a fresh key each start: nobody logs in as it, it only owns public packages.
  const systemAuth = `${randomUUID()}:${randomBytes(32).toString("base64url")}`;
  const auth = new Authenticator([...opts.namespaces, { namespace: SYSTEM_NAMESPACE, auth: systemAuth }]);
  seedSystemPackages(store);

  let url = "";
  const pool = new ContainerPool({
    maxContainers: opts.maxContainers,
    userMemoryMb: opts.userMemoryMb,
    prewarm: opts.prewarm,
    prewarmMemoryMb: DEFAULT_LIMITS.memory,
    idleTimeoutMs: opts.idleTimeoutMs,
    apiHost: "",
    nodePath: runtimeModules(opts.dataDir, log),
  });
  const invoker = new Invoker({ pool, activations, resolve: (id, q) => resolveAction(store, id, q), log });
  const throttles = new Throttles(opts.limits);
  const ruleRuns = new RuleRuns({
    invoker,
    invocations: new RuleInvocationStore(db, (a, path) => activations.write(a, path)),
    activations,
    throttles,
    resolve: (id, q) => resolveAction(store, id, q),
    identityOf: (uuid, ns) => auth.withUuid(uuid) ?? auth.ownerOf(ns),
    log,
  });
  const router = createRouter(
    auth,
    { store, activations, invoker, ruleRuns, pool, throttles, blockingWaitMs: opts.blockingWaitMs, log },
    () => url,
  );
  const server = createApiServer(router, log, createBodyLimit(auth));
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `cannot listen on ${opts.host}:${opts.port}: ${e.code === "EADDRINUSE" ? "the port is in use; give another with --port (0 = any free port)" : e.message}`,
        ),
      ),
    );
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  url = `http://${opts.host}:${port}`;
  pool.setApiHost(url);
  await pool.warmedUp();
  // Runs a crash interrupted go first in the queue, under the ids their trigger activations name.
  ruleRuns.resumeUnfinished();

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    auth: opts.namespaces[0]?.auth ?? GUEST_AUTH,
    namespace: opts.namespaces[0]?.namespace ?? "guest",
    dataDir: opts.dataDir,
    poolSize: () => pool.size,
    close() {
      closing ??= (async () => {
        await new Promise<void>((res) => {
          server.close(() => res());
          server.closeAllConnections();
        });
        activations.beginClose();
        await pool.close();
        activations.flush();
        db.close();
      })();
      return closing;
    },
  };
}

/**
 * The Node.js runtime image lets actions `require("openwhisk")` without shipping it. Containers get
 * a module path holding only that package (a link to this project's copy), not all of our deps.
 */
function runtimeModules(dataDir: string, log: (line: string) => void): string | undefined {
  const dir = join(dataDir, "runtime", "node_modules");
  try {
    const pkg = dirname(createRequire(import.meta.url).resolve("openwhisk/package.json"));
    mkdirSync(dir, { recursive: true });
    rmSync(join(dir, "openwhisk"), { force: true, recursive: true });
    symlinkSync(pkg, join(dir, "openwhisk"), "dir");
    return dir;
  } catch (e) {
    log(`actions cannot require("openwhisk") without shipping it: ${(e as Error).message}`);
    return undefined;
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** (Re)creates the public whisk.system/utils package so it always matches this version. */
function seedSystemPackages(store: EntityStore): void {
  const now = Date.now();
  store.transaction(() => {
    const pkg: Doc = {
      namespace: SYSTEM_NAMESPACE,
      name: "utils",
      version: "0.0.1",
      publish: true,
      binding: {},
      parameters: [],
      annotations: [{ key: "description", value: "Building blocks that format and assemble data" }],
      updated: now,
    };
    store.put(SYSTEM_NAMESPACE, "utils", "packages", pkg);
    for (const [name, a] of Object.entries(UTILS_ACTIONS)) {
      store.put(SYSTEM_NAMESPACE, `utils/${name}`, "actions", {
        namespace: `${SYSTEM_NAMESPACE}/utils`,
        name,
        version: "0.0.1",
        publish: true,
        exec: { kind: "nodejs:20", code: a.code, binary: false },
        parameters: [],
        limits: { ...DEFAULT_LIMITS },
        annotations: [
          { key: "description", value: a.description },
          ...(a.params ? [{ key: "parameters", value: a.params.map((p) => ({ name: p, required: false })) }] : []),
          { key: "exec", value: "nodejs:20" },
          { key: "provide-api-key", value: false },
        ],
        updated: now,
      });
    }
  });
}
