// The local Rucio's transfer daemon (Rucio: conveyor + FTS). For each REPLICATING rule it copies
// the file from an AVAILABLE replica to as many of the rule's RSEs as its copies ask, checking the
// ADLER32 of the bytes written against the DID's: a match makes the new replica AVAILABLE and, once
// there are enough, the rule OK; a mismatch or a missing source makes the rule STUCK with the
// reason in its `error`. The target replica is COPYING while the bytes are written.
import { createReadStream, createWriteStream, mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { pipeline } from "node:stream/promises";
import { Transform } from "node:stream";
import { randomBytes } from "node:crypto";
import { Adler32 } from "../../lib/checksum/adler32.ts";
import { resolveExpression, type Rse } from "./expression.ts";
import type { RseStorages } from "./storage.ts";
import type { ReplicaRow, RucioStore, RuleRow } from "./store.ts";

export interface ConveyorOptions {
  store: RucioStore;
  rses: Rse[];
  storages: RseStorages;
  defaultScope: string;
  log?: (line: string) => void;
}

class Stuck extends Error {}

export class Conveyor {
  private busy = false;

  constructor(private readonly o: ConveyorOptions) {
    o.store.dropUnfinishedCopies();
  }

  /** One pass over the REPLICATING rules; a pass still running makes this a no-op. */
  async pass(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (const rule of this.o.store.rulesIn("REPLICATING")) {
        await this.work(rule).catch((e: Error) => this.o.log?.(`rucio conveyor: rule ${rule.id}: ${e.stack ?? e.message}`));
      }
    } finally {
      this.busy = false;
    }
  }

  private async work(rule: RuleRow): Promise<void> {
    const { store } = this.o;
    let targets: string[];
    try {
      targets = resolveExpression(rule.rse_expression, this.o.rses);
    } catch (e) {
      store.setRuleState(rule.id, "STUCK", `RSE expression no longer resolves: ${(e as Error).message}`);
      return;
    }
    const available = () => targets.filter((t) => store.replica(t, rule.scope, rule.name)?.state === "AVAILABLE");
    for (const t of targets) {
      if (available().length >= rule.copies) break;
      if (store.replica(t, rule.scope, rule.name)) continue;
      try {
        await this.transfer(rule, t);
      } catch (e) {
        if (!(e instanceof Stuck)) throw e;
        if (store.rule(rule.id)) store.setRuleState(rule.id, "STUCK", e.message);
        return;
      }
    }
    if (!store.rule(rule.id)) return; // deleted meanwhile
    if (available().length >= rule.copies) store.setRuleState(rule.id, "OK");
    else store.setRuleState(rule.id, "STUCK", `only ${available().length} of ${rule.copies} copies possible on ${rule.rse_expression}`);
  }

  private source(rule: RuleRow, target: string): { replica: ReplicaRow; file: string } {
    const replicas = this.o.store.replicas(rule.scope, rule.name).filter((r) => r.state === "AVAILABLE" && r.rse !== target);
    if (!replicas.length) throw new Stuck(`no AVAILABLE replica of ${rule.scope}:${rule.name} to copy from`);
    for (const replica of replicas) {
      const pfn = replica.pfn ?? this.o.storages.pfnFor(replica.rse, rule.scope, rule.name, this.o.defaultScope);
      const file = this.o.storages.pathOf(replica.rse, pfn);
      if (file) return { replica, file };
    }
    throw new Stuck(
      `no replica of ${rule.scope}:${rule.name} has a PFN inside its RSE's storage (${replicas.map((r) => `${r.rse}: ${r.pfn ?? "no PFN"}`).join(", ")})`,
    );
  }

  private async transfer(rule: RuleRow, target: string): Promise<void> {
    const { store, storages } = this.o;
    const did = store.did(rule.scope, rule.name);
    const { replica, file: from } = this.source(rule, target);
    const pfn = storages.pfnFor(target, rule.scope, rule.name, this.o.defaultScope);
    const to = storages.pathOf(target, pfn);
    if (!to) throw new Stuck(`RSE ${target} has no storage for ${pfn}`);
    store.addReplica(target, rule.scope, rule.name, pfn, "COPYING");
    const part = `${to}.rucio-${randomBytes(4).toString("hex")}.part`;
    const sum = new Adler32();
    let bytes = 0;
    try {
      mkdirSync(dirname(to), { recursive: true });
      const count = new Transform({
        transform(chunk: Buffer, _enc, done) {
          sum.update(chunk);
          bytes += chunk.length;
          done(null, chunk);
        },
      });
      await pipeline(createReadStream(from), count, createWriteStream(part));
      const got = sum.hex();
      if ((did?.adler32 && got !== did.adler32) || (did?.bytes != null && bytes !== did.bytes)) {
        throw new Stuck(
          `checksum mismatch copying ${rule.scope}:${rule.name} from ${replica.rse} to ${target}: the source has ${bytes} bytes ADLER32 ${got}, the file is registered with ${did?.bytes} bytes ADLER32 ${did?.adler32}`,
        );
      }
      renameSync(part, to);
      store.setReplicaState(target, rule.scope, rule.name, "AVAILABLE");
      this.o.log?.(`rucio conveyor: ${rule.scope}:${rule.name} ${replica.rse} → ${target} (${bytes} bytes, ADLER32 ${got})`);
    } catch (e) {
      rmSync(part, { force: true });
      store.deleteReplica(target, rule.scope, rule.name);
      if (e instanceof Stuck) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      throw new Stuck(
        `transfer of ${rule.scope}:${rule.name} from ${replica.rse} to ${target} failed: ${code === "ENOENT" ? `source file missing (${replica.pfn ?? "no PFN"})` : (e as Error).message}`,
      );
    }
  }
}
