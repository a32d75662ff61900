// One registration's file ledger at work: admits arrivals (intake), records fires (delivery), then
// follows every fire to its outcome through OpenWhisk's REST API — the trigger activation's rule
// lines, each rule's activation and its per-file result — and runs transiently failed files again
// by invoking the rule's action with the same events, with exponential backoff and jitter, until
// maxAgeSeconds. Every change of an entry goes through one lock, so intake, delivery, followers and
// the API never overwrite each other's news; the store is the truth, so a restart (or another
// replica taking over) resumes what was being followed.
import type { Logger } from "../log.ts";
import type { ProviderMetrics } from "../metrics.ts";
import { backoffDelay, type BackoffPolicy } from "../pipeline/backoff.ts";
import type { FireTarget } from "../pipeline/firer.ts";
import type { NewEvent, OutboxEntry, Store } from "../store/types.ts";
import { admit, arrivalOf, newEntry, reconsider } from "./arrivals.ts";
import { Completions } from "./completions.ts";
import { invokeRuleAction, triggerParameters, type ActivationDoc } from "./openwhisk-api.ts";
import { addFinally, isFinallyRule, pipelinesOf } from "./finally.ts";
import { isInactiveRule, outcomesOf, ruleLines, type FileOutcome } from "./outcomes.ts";
import { isInFlight, settle, type FileEntry, type FileState, type RuleOutcome } from "./types.ts";

/** files per retry invocation of a rule's action */
const RETRY_BATCH = 50;
/** how often due retries are looked for when nothing is scheduled sooner */
const SCAN_MS = 1000;

export interface LedgerOptions {
  regId: string;
  /** metrics label "/ns/trigger" */
  label: string;
  store: Store;
  target: () => FireTarget;
  maxAgeSeconds: () => number;
  backoff: BackoffPolicy;
  metrics: ProviderMetrics;
  log: Logger;
  /** puts the events of files that arrive again into the outbox (appendIntake + delivery) */
  refire: (events: NewEvent[], files: FileEntry[]) => Promise<void>;
  /**
   * has the source list the watched tree and emit every file (undefined: the source cannot list);
   * resolves with the number of files emitted
   */
  listTree: () => Promise<number> | undefined;
  /** how often the tree is listed on its own (0: only when asked) */
  reconcileSeconds: () => number;
  /** the action run once every rule succeeded for a file (delivery.finally), if any */
  finallyAction?: () => string | undefined;
  now?: () => number;
}

export interface RetrySelector {
  paths?: string[];
  prefix?: string;
}

export class Ledger {
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly following = new Set<string>();
  private readonly completions: Completions;
  private scanTimer: NodeJS.Timeout | undefined;
  private treeTimer: NodeJS.Timeout | undefined;
  private scanning = false;
  private readonly now: () => number;

  constructor(private readonly o: LedgerOptions) {
    this.now = o.now ?? Date.now;
    this.completions = new Completions({ target: o.target, log: o.log });
  }

  /** Serialises read-modify-write of entries. */
  lock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => {});
    return run;
  }

  // ---- intake ---------------------------------------------------------------------------------

  /**
   * Decides which of `events` fire: a file the ledger has already (same event, or same content
   * processed or in flight) does not. `commit` stores the events to fire with the changed entries
   * in one transaction.
   */
  admitAll<T>(events: NewEvent[], commit: (fire: NewEvent[], files: FileEntry[]) => Promise<T>): Promise<T> {
    return this.lock(async () => {
      const arrivals = events.map((e) => arrivalOf(e.body, e.receivedAt));
      const known = await this.o.store.getFiles(
        this.o.regId,
        arrivals.flatMap((a) => (a ? [a.path] : [])),
      );
      const changed = new Map<string, FileEntry>();
      const fire: NewEvent[] = [];
      const now = this.now();
      events.forEach((ev, i) => {
        const a = arrivals[i];
        if (!a) {
          fire.push(ev); // not a file arrival (a delete, a directory): passes through untracked
          return;
        }
        const verdict = admit(this.o.regId, changed.get(a.path) ?? known.get(a.path), a, now);
        if (verdict.fire) fire.push(ev);
        else this.o.metrics.filesDuplicate.inc({ trigger: this.o.label, why: verdict.why });
        changed.set(a.path, verdict.entry);
      });
      return commit(fire, [...changed.values()]);
    });
  }

  // ---- delivery -------------------------------------------------------------------------------

  /**
   * OpenWhisk accepted a fire (202 with the trigger activation's id, or 204: no active rule).
   * `commit` removes the fired events from the outbox together with the entries now fired.
   */
  fired(
    entries: OutboxEntry[],
    status: number,
    activationId: string | undefined,
    commit: (files: FileEntry[]) => Promise<void>,
  ): Promise<void> {
    return this.lock(async () => {
      const paths = this.pathsOf(entries);
      const files = await this.o.store.getFiles(this.o.regId, paths);
      const now = this.now();
      const changed: FileEntry[] = [];
      for (const p of paths) {
        const e = files.get(p);
        if (e?.state !== "pending") continue;
        e.firedAt = now;
        if (status === 204 || !activationId) {
          e.state = "failed";
          e.step = "fire";
          e.permanent = false;
          e.reason =
            status === 204
              ? "no rule of the trigger was active when the file fired (OpenWhisk answered 204); enable a rule, then retry the file"
              : "OpenWhisk accepted the fire without an activation id, so its outcome cannot be followed";
          this.o.metrics.filesFailed.inc({ trigger: this.o.label, step: "fire", permanent: "false" });
        } else {
          e.state = "fired";
          e.triggerActivationId = activationId;
        }
        e.updatedAt = now;
        changed.push(e);
      }
      await commit(changed);
      if (activationId && status !== 204)
        this.followTrigger(
          activationId,
          changed.filter((e) => e.state === "fired").map((e) => e.path),
        );
    });
  }

  /** Events that will never be fired (rejected, or past maxAgeSeconds): their files failed at the fire. */
  deadLettered(entries: OutboxEntry[], reason: string, commit: (files: FileEntry[]) => Promise<void>): Promise<void> {
    return this.lock(async () => {
      const paths = this.pathsOf(entries);
      const files = await this.o.store.getFiles(this.o.regId, paths);
      const changed: FileEntry[] = [];
      for (const p of paths) {
        const e = files.get(p);
        if (e?.state !== "pending") continue;
        Object.assign(e, {
          state: "failed",
          step: "fire",
          reason: `not fired: ${reason} (the event is in the dead letters; replay it there)`,
          permanent: false,
          updatedAt: this.now(),
        });
        changed.push(e);
        this.o.metrics.filesFailed.inc({ trigger: this.o.label, step: "fire", permanent: "false" });
      }
      await commit(changed);
    });
  }

  /** Files renamed before they fired (their arrival replaced by the new name's): nothing to do under the old name. */
  renamed(paths: string[]): Promise<void> {
    return this.lock(async () => {
      const files = await this.o.store.getFiles(this.o.regId, paths);
      const changed = [...files.values()]
        .filter((e) => e.state === "pending")
        .map((e) => ({
          ...e,
          state: "skipped" as FileState,
          reason: "renamed before it fired; processed under its new name",
          updatedAt: this.now(),
        }));
      await this.o.store.putFiles(this.o.regId, changed);
    });
  }

  /** Dead letters replayed into the outbox: their files are pending again. */
  replayed(entries: OutboxEntry[]): Promise<void> {
    return this.lock(async () => {
      const files = await this.o.store.getFiles(this.o.regId, this.pathsOf(entries));
      const now = this.now();
      const changed = [...files.values()]
        .filter((e) => e.state === "failed" && e.step === "fire")
        .map((e) => ({ ...e, state: "pending" as FileState, rules: {}, arrivedAt: now, updatedAt: now }));
      await this.o.store.putFiles(this.o.regId, changed);
    });
  }

  private pathsOf(entries: OutboxEntry[]): string[] {
    return [
      ...new Set(
        entries.flatMap((e) => {
          const a = arrivalOf(e.body, e.receivedAt);
          return a ? [a.path] : [];
        }),
      ),
    ];
  }

  // ---- following outcomes ---------------------------------------------------------------------

  /** Resumes following what was in flight (after a restart or a takeover) and starts the retry scan. */
  async start(): Promise<void> {
    // one follower per activation, for all the files it carries
    const triggers = new Map<string, string[]>();
    const rules = new Map<string, { rule: string; action: string; paths: string[] }>();
    let after: string | undefined;
    for (;;) {
      const page = await this.o.store.firedFiles(this.o.regId, 1000, after);
      for (const e of page) {
        const running = Object.entries(e.rules).filter(([, r]) => r.state === "running" && r.activationId);
        for (const [rule, r] of running) {
          const f = rules.get(r.activationId!) ?? { rule, action: r.action, paths: [] };
          f.paths.push(e.path);
          rules.set(r.activationId!, f);
        }
        if (running.length === 0 && e.triggerActivationId)
          triggers.set(e.triggerActivationId, [...(triggers.get(e.triggerActivationId) ?? []), e.path]);
      }
      if (page.length < 1000) break;
      after = page[page.length - 1]!.path;
    }
    for (const [taid, paths] of triggers) this.followTrigger(taid, paths);
    for (const [id, f] of rules) this.followRule(id, f.rule, f.action, f.paths);
    this.schedule(0);
    this.scheduleTree();
  }

  stop(): void {
    this.stopped = true;
    this.completions.stop();
    if (this.scanTimer) clearTimeout(this.scanTimer);
    if (this.treeTimer) clearTimeout(this.treeTimer);
  }

  /** The periodic reconcile: the source lists the watched tree every reconcileSeconds. */
  private scheduleTree(): void {
    if (this.treeTimer) clearTimeout(this.treeTimer);
    const s = this.o.reconcileSeconds();
    if (this.stopped || s <= 0) return;
    this.treeTimer = setTimeout(() => {
      void (async () => {
        try {
          const n = await this.o.listTree();
          if (n !== undefined) this.o.log.info("reconciled the watched tree with the file ledger", { listed: n });
        } catch (e) {
          this.o.log.warn("the periodic reconcile failed; it runs again at its next time", { err: e as Error });
        }
        this.scheduleTree();
      })();
    }, s * 1000);
    this.treeTimer.unref();
  }

  /**
   * Runs `then` with an activation's record once it exists (undefined when none came within
   * maxAgeSeconds), one follower per activation at a time.
   */
  private follow(id: string, name: string, what: string, then: (record: ActivationDoc | undefined) => Promise<void>): void {
    if (this.following.has(id)) return;
    this.following.add(id);
    void (async () => {
      try {
        const record = await this.completions.wait(id, name, Date.now() + Math.max(60_000, this.o.maxAgeSeconds() * 1000));
        if (!this.stopped) await then(record);
      } catch (e) {
        this.o.log.error(`following ${what} failed; it resumes at the next start`, { activationId: id, err: e as Error });
      } finally {
        this.following.delete(id);
      }
    })();
  }

  private followTrigger(taid: string, paths: string[]): void {
    if (paths.length === 0) return;
    this.follow(taid, this.o.target().trigger, "a trigger activation", async (record) => {
      const lines = ruleLines(record?.logs);
      const started: Array<[string, string, string, string[]]> = [];
      await this.lock(async () => {
        const files = await this.o.store.getFiles(this.o.regId, paths);
        const now = this.now();
        const changed: FileEntry[] = [];
        for (const e of files.values()) {
          if (e.triggerActivationId !== taid || e.state !== "fired" || Object.keys(e.rules).length) continue;
          const was = e.state;
          if (!record) {
            Object.assign(e, {
              state: "failed",
              step: "fire",
              permanent: false,
              reason: `OpenWhisk kept no record of trigger activation ${taid}; retry the file`,
            });
          } else if (lines.length === 0) {
            Object.assign(e, {
              state: "failed",
              step: "fire",
              permanent: false,
              reason: `trigger activation ${taid} lists no rule invocation; check the trigger's rules, then retry the file`,
            });
          } else {
            for (const l of lines) {
              const r: RuleOutcome = { action: l.action, state: "running", attempt: 1 };
              if (l.success && l.activationId) r.activationId = l.activationId;
              else if (isInactiveRule(l)) r.state = "inactive";
              else
                Object.assign(r, {
                  state: "retrying",
                  nextAt: Math.round(now + backoffDelay(1, this.o.backoff)),
                  step: "fire",
                  reason: `the rule's invocation was refused: ${l.error ?? "no reason given"}`,
                  permanent: false,
                });
              e.rules[l.rule] = r;
            }
            settle(e, now);
          }
          e.updatedAt = now;
          changed.push(e);
          this.count(e, was);
        }
        await this.o.store.putFiles(this.o.regId, changed);
        for (const l of lines)
          if (l.success && l.activationId)
            started.push([
              l.activationId,
              l.rule,
              l.action,
              changed.filter((e) => e.rules[l.rule]?.activationId === l.activationId).map((e) => e.path),
            ]);
      });
      for (const [id, rule, action, ps] of started) this.followRule(id, rule, action, ps);
      this.schedule(this.o.backoff.baseMs);
    });
  }

  /** `action` as trigger activations name rule actions: "ns/name" or "ns/package/name" */
  private followRule(activationId: string, rule: string, action: string, paths: string[]): void {
    if (paths.length === 0) return;
    this.follow(activationId, listedName(action), "a rule activation", async (record) => {
      const outcomes = record ? outcomesOf(record, paths) : undefined;
      const refire: FileEntry[] = [];
      await this.lock(async () => {
        const files = await this.o.store.getFiles(this.o.regId, paths);
        const now = this.now();
        const changed: FileEntry[] = [];
        for (const e of files.values()) {
          const r = e.rules[rule];
          if (r?.state !== "running" || r.activationId !== activationId) continue;
          const o: FileOutcome = outcomes?.get(e.path) ?? {
            state: "failed",
            step: "action",
            reason: `activation ${activationId} left no record within maxAgeSeconds`,
            permanent: false,
          };
          const was = e.state;
          this.apply(e, r, o, now);
          settle(e, now);
          if (addFinally(e, this.o.finallyAction?.(), this.o.target().namespace, now)) settle(e, now);
          this.count(e, was);
          const again = isFinal(e.state) ? reconsider(e) : undefined;
          if (again) {
            const fresh = newEntry(this.o.regId, again, now);
            fresh.eventIds = [...e.eventIds];
            refire.push(fresh);
          } else changed.push(e);
        }
        await this.o.store.putFiles(this.o.regId, changed);
        if (refire.length) await this.refire(refire);
      });
      this.schedule(this.o.backoff.baseMs);
    });
  }

  private apply(e: FileEntry, r: RuleOutcome, o: FileOutcome, now: number): void {
    delete r.nextAt;
    // what was processed (or failed): the identity later arrivals are compared with
    if (o.state !== "skipped") {
      if (o.size !== undefined) e.size = o.size;
      if (o.mtime !== undefined) e.mtime = o.mtime;
      if (o.adler32 !== undefined) e.adler32 = o.adler32;
    }
    if (o.state === "succeeded") {
      Object.assign(r, { state: "succeeded" });
      delete r.step;
      delete r.reason;
      delete r.permanent;
      return;
    }
    if (o.state === "skipped") {
      Object.assign(r, { state: "skipped", reason: o.reason });
      return;
    }
    Object.assign(r, { step: o.step, reason: o.reason, permanent: o.permanent });
    if (o.permanent) {
      r.state = "failed";
      return;
    }
    if (now - e.arrivedAt >= this.o.maxAgeSeconds() * 1000) {
      r.state = "failed";
      r.reason = `gave up after ${r.attempt} attempt(s) within maxAgeSeconds=${this.o.maxAgeSeconds()}: ${o.reason}`;
      return;
    }
    r.state = "retrying";
    r.nextAt = Math.round(now + backoffDelay(r.attempt, this.o.backoff));
  }

  /** Counts a file once per change into a final state (a file can fail, then succeed on retry). */
  private count(e: FileEntry, was: FileState): void {
    if (e.state === was || !isFinal(e.state)) return;
    const trigger = this.o.label;
    if (e.state === "succeeded") this.o.metrics.filesSucceeded.inc({ trigger });
    else if (e.state === "skipped") this.o.metrics.filesSkipped.inc({ trigger });
    else if (e.state === "failed")
      this.o.metrics.filesFailed.inc({ trigger, step: e.step ?? "?", permanent: String(e.permanent === true) });
  }

  /** Files that arrived again with other content while in flight: fire them again through the outbox. */
  private async refire(files: FileEntry[]): Promise<void> {
    const events: NewEvent[] = files.map((f) => ({
      eventId: f.eventIds[f.eventIds.length - 1] ?? "",
      body: f.event,
      bytes: Buffer.byteLength(f.event),
      receivedAt: f.arrivedAt,
    }));
    await this.o.refire(events, files);
  }

  // ---- retries --------------------------------------------------------------------------------

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.scanTimer) clearTimeout(this.scanTimer);
    this.scanTimer = setTimeout(() => void this.scan(), Math.max(0, ms));
    this.scanTimer.unref();
  }

  /** Invokes the rule actions of due files again, a batch of files per invocation. */
  private async scan(): Promise<void> {
    if (this.scanning || this.stopped) return;
    this.scanning = true;
    let next = SCAN_MS;
    try {
      const now = this.now();
      const due = await this.o.store.dueFiles(this.o.regId, now, 1000);
      const groups = new Map<string, { action: string; paths: string[]; events: unknown[]; pipelines?: Record<string, unknown> }>();
      const refire: FileEntry[] = [];
      for (const e of due) {
        const rules = Object.entries(e.rules).filter(([, r]) => r.state === "retrying" && (r.nextAt ?? 0) <= now);
        if (Object.keys(e.rules).length === 0) refire.push(e);
        for (const [rule, r] of rules) {
          const g = groups.get(rule) ?? { action: r.action, paths: [], events: [] };
          g.paths.push(e.path);
          g.events.push(JSON.parse(e.event));
          // the finally step is told what the trigger's rules did with each file
          if (isFinallyRule(rule)) (g.pipelines ??= {})[e.path] = pipelinesOf(e);
          groups.set(rule, g);
        }
      }
      if (refire.length) await this.lock(() => this.refire(refire.map((e) => ({ ...e, state: "pending", rules: {}, updatedAt: now }))));
      if (groups.size) {
        const params = await triggerParameters(this.o.target());
        for (const [rule, g] of groups) {
          for (let i = 0; i < g.paths.length; i += RETRY_BATCH) {
            const paths = g.paths.slice(i, i + RETRY_BATCH);
            const extra = g.pipelines ? { pipelines: Object.fromEntries(paths.map((p) => [p, g.pipelines![p]])) } : {};
            await this.invoke(rule, g.action, paths, g.events.slice(i, i + RETRY_BATCH), { ...(params.body ?? {}), ...extra });
          }
        }
      }
      if (due.length === 1000) next = 0;
    } catch (e) {
      this.o.log.error("the retry scan failed; trying again", { err: e as Error });
    } finally {
      this.scanning = false;
      this.schedule(next);
    }
  }

  private async invoke(rule: string, action: string, paths: string[], events: unknown[], params: Record<string, unknown>): Promise<void> {
    // as a rule does: the trigger's parameters, overridden by the payload
    const answer = await invokeRuleAction(this.o.target(), action, { ...params, events });
    let follow: string | undefined;
    await this.lock(async () => {
      const files = await this.o.store.getFiles(this.o.regId, paths);
      const now = this.now();
      const changed: FileEntry[] = [];
      for (const e of files.values()) {
        const r = e.rules[rule];
        if (r?.state !== "retrying") continue;
        const was = e.state;
        r.attempt++;
        if (answer.status === 202 && answer.body?.activationId) {
          Object.assign(r, { state: "running", activationId: answer.body.activationId });
          delete r.nextAt;
          follow = answer.body.activationId;
          this.o.metrics.filesRetried.inc({ trigger: this.o.label });
        } else if (answer.status === 0 || answer.status === 429 || answer.status >= 500 || answer.status === 408) {
          this.apply(
            e,
            r,
            {
              state: "failed",
              step: "retry",
              reason: `invoking ${action} again was refused: ${answer.message ?? answer.status}`,
              permanent: false,
            },
            now,
          );
        } else {
          this.apply(
            e,
            r,
            { state: "failed", step: "retry", reason: `cannot invoke ${action}: ${answer.message ?? answer.status}`, permanent: true },
            now,
          );
        }
        settle(e, now);
        this.count(e, was);
        changed.push(e);
      }
      await this.o.store.putFiles(this.o.regId, changed);
    });
    if (follow) this.followRule(follow, rule, action, paths);
  }

  /**
   * Brings the ledger up to date with the storage and the rules: files some rule never ran for,
   * because it was inactive when they fired, run that rule now (enable it first); and, unless a
   * prefix narrows it, the source lists the watched tree so that files the ledger has no outcome for
   * (lost events, files that landed while the provider was down) fire.
   */
  async reconcile(prefix?: string): Promise<{ rules: number; listed: number | null }> {
    const rules = await this.lock(async () => {
      const now = this.now();
      const found = await unrunFiles(this.o.store, this.o.regId, prefix);
      await this.o.store.putFiles(
        this.o.regId,
        found.map((e) => reconcileEntry(e, now)),
      );
      this.schedule(0);
      return found.length;
    });
    const listed = prefix ? undefined : await this.o.listTree();
    return { rules, listed: listed ?? null };
  }

  /**
   * Failed files run again: their failed rules at once (a fresh maxAgeSeconds), files that never
   * reached a rule through the outbox. Returns how many files were retried.
   */
  retry(sel: RetrySelector): Promise<number> {
    return this.lock(async () => {
      const now = this.now();
      const found = await failedFiles(this.o.store, this.o.regId, sel);
      const changed: FileEntry[] = [];
      const refire: FileEntry[] = [];
      for (const e of found) {
        const ruled = retryEntry(e, now);
        if (Object.keys(ruled.rules).length) changed.push(ruled);
        else refire.push(ruled);
      }
      await this.o.store.putFiles(this.o.regId, changed);
      if (refire.length) await this.refire(refire);
      this.schedule(0);
      return found.length;
    });
  }
}

/** Entries a reconcile brings up to date: files some rule never ran for because it was inactive. */
export async function unrunFiles(store: Store, regId: string, prefix?: string): Promise<FileEntry[]> {
  const out: FileEntry[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.listFiles(regId, { limit: 1000, ...(prefix ? { prefix } : {}), ...(after ? { after } : {}) });
    out.push(...page.filter((e) => !isInFlight(e.state) && Object.values(e.rules).some((r) => r.state === "inactive")));
    if (page.length < 1000) return out;
    after = page[page.length - 1]!.path;
  }
}

/** An entry whose inactive rules run now (a fresh maxAgeSeconds); its other rules keep their outcome. */
export function reconcileEntry(e: FileEntry, now: number): FileEntry {
  const rules: Record<string, RuleOutcome> = {};
  for (const [name, r] of Object.entries(e.rules)) rules[name] = r.state === "inactive" ? { ...r, state: "retrying", nextAt: now } : r;
  return settle({ ...e, rules, arrivedAt: now }, now);
}

function isFinal(s: FileState): boolean {
  return s === "succeeded" || s === "skipped" || s === "failed";
}

/** The failed entries a retry selects: given paths, a prefix, or all. */
export async function failedFiles(store: Store, regId: string, sel: RetrySelector): Promise<FileEntry[]> {
  if (sel.paths?.length) return [...(await store.getFiles(regId, sel.paths)).values()].filter((e) => e.state === "failed");
  const out: FileEntry[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.listFiles(regId, {
      state: "failed",
      ...(sel.prefix ? { prefix: sel.prefix } : {}),
      limit: 1000,
      ...(after ? { after } : {}),
    });
    out.push(...page);
    if (page.length < 1000) return out;
    after = page[page.length - 1]!.path;
  }
}

/** An entry set to run again now: failed rules retry at once; with no rule, it starts over as pending. */
export function retryEntry(e: FileEntry, now: number): FileEntry {
  const rules: Record<string, RuleOutcome> = {};
  for (const [name, r] of Object.entries(e.rules))
    rules[name] = r.state === "failed" || r.state === "inactive" ? { ...r, state: "retrying", nextAt: now } : r;
  const out: FileEntry = { ...e, rules, arrivedAt: now };
  if (Object.keys(rules).length === 0) return { ...out, state: "pending", updatedAt: now };
  return settle(out, now);
}

/** "ns/package/name" (a rule's action as trigger activations name it) → "package/name", as activation listings filter by name */
function listedName(action: string): string {
  const parts = action.replace(/^\/+/, "").split("/");
  return parts.length > 1 ? parts.slice(1).join("/") : parts[0]!;
}
