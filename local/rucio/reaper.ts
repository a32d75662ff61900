// The local Rucio's locks and reaper. A rule locks the replicas of its DID on the RSEs its expression
// names; when a rule goes (deleted, or its lifetime over) every replica no other rule locks gets a
// tombstone — now, or the epoch with purge_replicas (Rucio's OBSOLETE) — and the reaper deletes
// replicas whose tombstone has passed: their bytes from the RSE's folder, then the replica. This
// reaper is greedy (a real one deletes only when the RSE needs space; the outcome is the same).
import { rmSync } from "node:fs";
import { resolveExpression, type Rse } from "./expression.ts";
import type { RseStorages } from "./storage.ts";
import type { RucioStore, RuleRow } from "./store.ts";

function targetsOf(rule: Pick<RuleRow, "rse_expression">, rses: Rse[]): string[] {
  try {
    return resolveExpression(rule.rse_expression, rses);
  } catch {
    return []; // the RSEs changed since the rule was made
  }
}

/** Removes a rule; the replicas it alone locked get their tombstone. */
export function removeRule(store: RucioStore, rses: Rse[], rule: RuleRow, purgeReplicas: boolean, now = Date.now()): void {
  store.deleteRule(rule.id);
  const stillLocked = new Set(store.rulesOf(rule.scope, rule.name).flatMap((r) => targetsOf(r, rses)));
  for (const rse of targetsOf(rule, rses)) {
    if (stillLocked.has(rse) || !store.replica(rse, rule.scope, rule.name)) continue;
    store.setTombstone(rse, rule.scope, rule.name, new Date(purgeReplicas ? 0 : now).toISOString());
  }
}

/** A new rule locks the replicas it covers: their tombstones go. */
export function lockReplicas(store: RucioStore, rses: Rse[], rule: Pick<RuleRow, "rse_expression" | "scope" | "name">): void {
  for (const rse of targetsOf(rule, rses))
    if (store.replica(rse, rule.scope, rule.name)?.tombstone) store.setTombstone(rse, rule.scope, rule.name, null);
}

/** Rules whose lifetime is over are removed (Rucio's judge-cleaner). */
export function expireRules(store: RucioStore, rses: Rse[], now = Date.now()): void {
  for (const rule of store.expiredRules(new Date(now).toISOString())) removeRule(store, rses, rule, false, now);
}

/** Deletes the replicas whose tombstone has passed, bytes first. */
export function reap(store: RucioStore, storages: RseStorages, defaultScope: string, log?: (line: string) => void, now = Date.now()): void {
  for (const r of store.reapable(new Date(now).toISOString())) {
    const pfn = r.pfn ?? (storages.of(r.rse) ? storages.pfnFor(r.rse, r.scope, r.name, defaultScope) : undefined);
    const file = pfn ? storages.pathOf(r.rse, pfn) : undefined;
    try {
      if (file) rmSync(file, { force: true });
    } catch (e) {
      log?.(`rucio reaper: cannot delete ${file}: ${(e as Error).message}; trying again later`);
      continue;
    }
    store.deleteReplica(r.rse, r.scope, r.name);
    log?.(`rucio reaper: deleted ${r.scope}:${r.name} at ${r.rse}${file ? ` (${file})` : ""}`);
  }
}
