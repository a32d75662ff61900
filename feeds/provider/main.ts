// The feed provider service (`npm run provider`): opens the store, starts every registration's source
// and delivery, serves the HTTP API, and on SIGTERM/SIGINT stops sources and flushes queued batches.
import { mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createApi } from "./api.ts";
import { loadConfig } from "./config.ts";
import { Logger, SecretRegistry } from "./log.ts";
import { ProviderMetrics } from "./metrics.ts";
import { resealAll } from "./reseal.ts";
import { SecretBox } from "./secrets.ts";
import { defaultSources } from "./sources/index.ts";
import { assembleRegistrations } from "./registrations/assemble.ts";
import { openStore } from "./store/open.ts";

async function main(): Promise<void> {
  let cfg;
  try {
    cfg = loadConfig(process.argv.slice(2), process.env);
  } catch (e) {
    const err = e as Error & { help?: boolean };
    (err.help ? process.stdout : process.stderr).write(`${err.message}\n`);
    process.exit(err.help ? 0 : 2);
  }
  const secrets = new SecretRegistry();
  secrets.add(cfg.providerAuth, cfg.providerAuth.slice(cfg.providerAuth.indexOf(":") + 1), cfg.providerKey, ...cfg.previousKeys);
  const log = new Logger((l) => process.stdout.write(l), secrets, { service: "feed-provider", replica: cfg.replicaId }, cfg.logLevel);
  mkdirSync(cfg.dataDir, { recursive: true });
  const box = (cfg.providerKey ? SecretBox.fromString(cfg.providerKey) : SecretBox.fromDataDir(cfg.dataDir)).withPrevious(
    cfg.previousKeys.map((k) => SecretBox.fromString(k)),
  );
  const store = await openStore({ store: cfg.store, dataDir: cfg.dataDir });
  if (cfg.previousKeys.length > 0) {
    const n = await resealAll(store, box);
    log.info("credentials sealed again under the current provider key", { registrations: n, keyFingerprint: box.fingerprint() });
  }
  const metrics = new ProviderMetrics();
  // on PostgreSQL, replicas share the registrations through leases; on SQLite one replica runs them all
  const { registrations, runner, owner, coordinator } = assembleRegistrations({
    store,
    box,
    sources: defaultSources({ mqttReconnectMs: cfg.mqttReconnectMs, dataDir: cfg.dataDir }),
    metrics,
    log,
    apihost: cfg.apihost,
    replicaId: cfg.replicaId,
    backoff: { baseMs: cfg.retryBaseMs, maxMs: cfg.retryMaxMs },
    maxPending: cfg.maxPending,
    fireTimeoutMs: cfg.fireTimeoutMs,
    leaseMs: cfg.leaseMs,
    handoverGraceMs: cfg.shutdownGraceMs,
  });
  let ready = false;
  const server = createApi({
    registrations,
    runner,
    store,
    metrics,
    log,
    providerAuth: cfg.providerAuth,
    isReady: () => ready,
    ha: coordinator && (() => coordinator.status()),
  });
  await owner.start();
  await new Promise<void>((res) => server.listen(cfg.port, cfg.host, res));
  ready = true;
  const port = (server.address() as AddressInfo).port;
  log.info("feed provider started", {
    store: store.kind,
    registrations: runner.size,
    keyFingerprint: box.fingerprint(),
    apihost: cfg.apihost ?? null,
  });
  process.stdout.write(`listening provider http://127.0.0.1:${port}\n`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    ready = false;
    log.info("shutting down: stopping sources, flushing batches", { signal });
    server.close();
    server.closeAllConnections();
    await owner.stop(cfg.shutdownGraceMs);
    await runner.shutdown(cfg.shutdownGraceMs);
    await store.close();
    log.info("feed provider stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((e) => {
  process.stderr.write(`feed provider failed to start: ${(e as Error).message}\n`);
  process.exit(1);
});
