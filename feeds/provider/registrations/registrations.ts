// The feed lifecycle as the feed action calls it (CREATE, READ, UPDATE, DELETE, PAUSE, UNPAUSE) and
// the owner's dead-letter and file-ledger calls. Every change goes to the store first; the owner of
// the registration (ha/single.ts on SQLite, the lease coordinator on PostgreSQL) then makes what runs
// match it — one path whether one replica runs or several.
import { arrivalWarnings, checkFeedConfig, redactConfig, updateConfig, type FeedConfig } from "../../common/feed-params.ts";
import { failedFiles, reconcileEntry, retryEntry, unrunFiles, type RetrySelector } from "../ledger/ledger.ts";
import type { FileEntry, FileQuery } from "../ledger/types.ts";
import type { Logger } from "../log.ts";
import type { TriggerRef } from "../ownership.ts";
import type { SecretBox } from "../secrets.ts";
import { emptyStats, type DeadLetter, type RegistrationRecord, type Store } from "../store/types.ts";
import { parseRef, verifyOwner, type Access, type Found } from "./access.ts";
import { compileStages, type Runner } from "./runner.ts";
import { applyChange, type Change } from "./state.ts";
import { ApiError, type Owner, type ReadView, type Sealed } from "./types.ts";
import { readView } from "./view.ts";

export interface RegistrationsOptions {
  store: Store;
  box: SecretBox;
  access: Access;
  runner: Runner;
  owner: Owner;
  /** source kinds this provider serves */
  sourceKinds: string[];
  log: Logger;
  /** OpenWhisk API host the provider is configured with; when unset, the one the feed action reports */
  apihost?: string;
}

export class Registrations {
  constructor(private readonly o: RegistrationsOptions) {}

  private apihostFor(given: string | undefined): string {
    const h = this.o.apihost ?? given;
    if (!h) throw new ApiError(500, "the provider has no OpenWhisk API host configured (OPENWHISK_APIHOST) and the feed action sent none");
    return /^https?:\/\//.test(h) ? h : `https://${h}`;
  }

  private checkConfig(input: unknown): FeedConfig {
    const c = checkFeedConfig(input);
    if (!c.ok) throw new ApiError(400, c.error);
    if (!this.o.sourceKinds.includes(c.value.source.kind))
      throw new ApiError(
        400,
        `invalid feed parameters: parameter \`source.kind\` "${c.value.source.kind}" is not served by this provider (available: ${this.o.sourceKinds.join(", ")})`,
      );
    compileStages(c.value);
    return c.value;
  }

  private logFor(id: string): Logger {
    return this.o.log.child({ trigger: `/${id}` });
  }

  private warnArrivals(id: string, config: FeedConfig): void {
    for (const w of arrivalWarnings(config)) this.logFor(id).warn("the feed passes only some arrivals", { why: w });
  }

  private view(found: Found): Promise<ReadView> {
    return readView(this.o.store, found, this.o.runner.get(found.rec));
  }

  async create(input: { triggerName: unknown; authKey: unknown; config: unknown; apihost?: string }): Promise<ReadView> {
    const ref = parseRef(input.triggerName);
    if (typeof input.authKey !== "string" || !/^[^:\s]+:[^\s]+$/.test(input.authKey))
      throw new ApiError(400, "parameter `authKey` must be the trigger owner's OpenWhisk key (uuid:key)");
    const authKey = input.authKey;
    const config = this.checkConfig(input.config);
    const apihost = this.apihostFor(input.apihost);
    const owned = await verifyOwner(apihost, ref, authKey);
    const id = `${owned.namespace}/${owned.name}`;
    const sealed: Sealed = { authKey, apihost, config };
    const rec = this.newRecord(id, owned, sealed);
    // a re-created trigger: the old registration is stale (its owner notices the new createdAt)
    if (await this.o.store.getRegistration(id)) await this.o.store.deleteRegistration(id);
    await this.o.store.putRegistration(rec);
    await this.o.owner.changed(id, "outbox");
    this.logFor(id).info("registration created", { source: config.source.kind });
    this.warnArrivals(id, config);
    return this.view({ rec, sealed });
  }

  private newRecord(id: string, owned: TriggerRef, sealed: Sealed): RegistrationRecord {
    const now = Date.now();
    return {
      id,
      namespace: owned.namespace,
      trigger: owned.name,
      publicConfig: redactConfig(sealed.config),
      sealed: this.o.box.seal(JSON.stringify(sealed), id),
      state: "active",
      reason: null,
      dateChanged: now,
      cursor: null,
      stats: emptyStats(),
      createdAt: now,
    };
  }

  async read(triggerName: string, ownerKey: string | undefined): Promise<ReadView> {
    return this.view(await this.o.access.find(triggerName, ownerKey));
  }

  async update(triggerName: string, ownerKey: string | undefined, patch: unknown, apihost?: string): Promise<ReadView> {
    const found = await this.o.access.find(triggerName, ownerKey);
    if (!patch || typeof patch !== "object" || Array.isArray(patch))
      throw new ApiError(400, "the update must be an object of feed parameters");
    const config = this.checkConfig(updateConfig(found.sealed.config, patch as Record<string, unknown>));
    const host = this.apihostFor(apihost ?? found.sealed.apihost);
    await verifyOwner(host, { namespace: found.rec.namespace, name: found.rec.trigger }, ownerKey!);
    const sourceChanged = JSON.stringify(config.source) !== JSON.stringify(found.sealed.config.source);
    const sealed: Sealed = { authKey: ownerKey!, apihost: host, config };
    const rec = { ...found.rec, publicConfig: redactConfig(config), sealed: this.o.box.seal(JSON.stringify(sealed), found.rec.id) };
    applyChange(rec, { kind: "update" });
    if (sourceChanged) rec.cursor = null;
    await this.o.store.putRegistration(rec);
    await this.o.owner.changed(rec.id, sourceChanged ? "source" : "config");
    this.logFor(rec.id).info("registration updated", { sourceChanged });
    this.warnArrivals(rec.id, config);
    return this.view({ rec, sealed });
  }

  async remove(triggerName: string, ownerKey: string | undefined): Promise<void> {
    const found = await this.o.access.find(triggerName, ownerKey);
    await this.o.store.deleteRegistration(found.rec.id);
    await this.o.owner.changed(found.rec.id, "config");
    this.logFor(found.rec.id).info("registration deleted");
  }

  async pause(triggerName: string, ownerKey: string | undefined): Promise<ReadView> {
    return this.change(await this.o.access.find(triggerName, ownerKey), { kind: "pause" }, "registration paused");
  }

  async unpause(triggerName: string, ownerKey: string | undefined): Promise<ReadView> {
    const found = await this.o.access.find(triggerName, ownerKey);
    // re-enabling after OpenWhisk refused fires: the trigger and key must work again
    if (found.rec.state === "disabled")
      await verifyOwner(found.sealed.apihost, { namespace: found.rec.namespace, name: found.rec.trigger }, found.sealed.authKey);
    return this.change(found, { kind: "unpause" }, "registration resumed");
  }

  private async change(found: Found, change: Change, message: string): Promise<ReadView> {
    const rec = found.rec;
    if (applyChange(rec, change)) {
      await this.o.store.setState(rec.id, rec.state, rec.reason, rec.dateChanged);
      await this.o.owner.changed(rec.id, "config");
      this.logFor(rec.id).info(message);
    }
    return this.view(found);
  }

  async deadLetters(triggerName: string, ownerKey: string | undefined, opts: { limit: number; after?: number }): Promise<DeadLetter[]> {
    return this.o.store.listDeadLetters((await this.o.access.findAdmin(triggerName, ownerKey)).id, opts);
  }

  async replay(triggerName: string, ownerKey: string | undefined, seqs?: number[]): Promise<number> {
    const rec = await this.o.access.findAdmin(triggerName, ownerKey);
    const entries = await this.o.store.replayDeadLetters(rec.id, seqs);
    // the owner reloads the outbox, replayed rows included
    await this.o.owner.changed(rec.id, "outbox");
    this.logFor(rec.id).info("dead letters replayed", { events: entries.length });
    return entries.length;
  }

  async list(): Promise<{ trigger: string; state: string; pending: number | null }[]> {
    // every replica answers for all: pending is known only where the registration runs
    return (await this.o.store.listRegistrations()).map((r) => ({
      trigger: `/${r.id}`,
      state: r.state,
      pending: this.o.runner.get(r)?.delivery.pending ?? null,
    }));
  }

  // ---- the file ledger ------------------------------------------------------------------------

  /** Files of a registration, by state and path prefix, a page at a time (owner's key, or operator). */
  async files(triggerName: string, ownerKey: string | undefined, q: FileQuery): Promise<FileEntry[]> {
    return this.o.store.listFiles((await this.o.access.findAdmin(triggerName, ownerKey)).id, q);
  }

  private async ledgerOf(triggerName: string, ownerKey: string | undefined) {
    const rec = await this.o.access.findAdmin(triggerName, ownerKey);
    if ((rec.publicConfig as FeedConfig).delivery.ledger === false)
      throw new ApiError(
        409,
        `the feed of ${triggerName} keeps no file ledger (delivery.ledger is false); update it with delivery.ledger true`,
      );
    return { rec, ledger: this.o.runner.get(rec)?.ledger };
  }

  /**
   * Runs failed files again (given paths, a prefix, or all). Where the registration runs on another
   * replica, the entries are marked due in the store and its owner's retry scan picks them up.
   */
  async retryFiles(triggerName: string, ownerKey: string | undefined, sel: RetrySelector): Promise<number> {
    const { rec, ledger } = await this.ledgerOf(triggerName, ownerKey);
    if (ledger) return ledger.retry(sel);
    const now = Date.now();
    const found = await failedFiles(this.o.store, rec.id, sel);
    const ruled = found.map((e) => retryEntry(e, now)).filter((e) => Object.keys(e.rules).length);
    await this.o.store.putFiles(rec.id, ruled, { fenced: false });
    if (ruled.length < found.length)
      this.o.log.warn("files that never reached a rule can be retried only where the registration runs", {
        trigger: triggerName,
        files: found.length - ruled.length,
      });
    return ruled.length;
  }

  /**
   * Runs the rules that were inactive when files fired, for those files (under a prefix, or all),
   * and (without a prefix) has the source list the watched tree to fire what the ledger lacks.
   */
  async reconcileFiles(
    triggerName: string,
    ownerKey: string | undefined,
    prefix?: string,
  ): Promise<{ rules: number; listed: number | null }> {
    const { rec, ledger } = await this.ledgerOf(triggerName, ownerKey);
    if (ledger) return ledger.reconcile(prefix);
    const now = Date.now();
    const found = await unrunFiles(this.o.store, rec.id, prefix);
    await this.o.store.putFiles(
      rec.id,
      found.map((e) => reconcileEntry(e, now)),
      { fenced: false },
    );
    // the tree is listed by the replica running the registration, at its periodic reconcile
    return { rules: found.length, listed: null };
  }
}
