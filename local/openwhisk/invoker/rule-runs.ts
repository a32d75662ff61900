// Runs the actions (or sequences) a trigger fire promised through its rules, at least once: the
// promise is stored with the trigger activation before the fire is answered, kept until the
// activation record of the run is stored, and run again under the same activation id after a crash.
import type { Identity } from "../auth.ts";
import { parseQualified, type QualifiedName } from "../names.ts";
import type { ResolvedAction } from "../resolver.ts";
import type { Activation, ActivationStore } from "../store/activations.ts";
import type { RuleInvocation, RuleInvocationStore } from "../store/rule-invocations.ts";
import type { Throttles } from "../limits.ts";
import type { Invoker } from "./invoker.ts";

export interface RuleRunsOptions {
  invoker: Invoker;
  invocations: RuleInvocationStore;
  activations: ActivationStore;
  throttles: Throttles;
  resolve: (identity: Identity, q: QualifiedName) => ResolvedAction;
  /** the identity to run a stored invocation as: its key, or the owner of its namespace */
  identityOf: (uuid: string, namespace: string) => Identity | undefined;
  log: (line: string) => void;
}

export interface PlannedRun {
  invocation: RuleInvocation;
  action: ResolvedAction;
  identity: Identity;
  /** frees the namespace's concurrent-invocation slot */
  finished: () => void;
}

export class RuleRuns {
  constructor(private readonly o: RuleRunsOptions) {}

  /**
   * Stores the trigger activation and the runs it promises in one transaction, then starts them.
   * Throws (nothing started, slots freed) when the store cannot take them: the fire must then fail.
   */
  fire(trigger: Activation, triggerPath: string, runs: PlannedRun[]): void {
    try {
      this.o.invocations.record(
        trigger,
        triggerPath,
        runs.map((r) => r.invocation),
      );
    } catch (e) {
      for (const r of runs) r.finished();
      throw e;
    }
    for (const r of runs) this.start(r);
  }

  private start(r: PlannedRun): void {
    const id = r.invocation.activationId;
    const run = this.o.invoker.invoke({
      identity: r.identity,
      action: r.action,
      payload: r.invocation.payload,
      activationId: id,
      cause: r.invocation.triggerActivationId,
      receivedAt: performance.now(),
      topmost: true,
      settle: () => this.o.invocations.settle(id),
    });
    void run.done.finally(r.finished);
  }

  /**
   * Starts again every promised run that has no activation record (the platform stopped before it
   * was stored). Returns how many were started.
   */
  resumeUnfinished(): number {
    let started = 0;
    for (const inv of this.o.invocations.unfinished()) {
      if (this.o.activations.has(inv.activationId)) {
        // Recorded by an older version that stored the two separately: it is done.
        this.o.invocations.settle(inv.activationId);
        continue;
      }
      const identity = this.o.identityOf(inv.uuid, inv.namespace);
      let action: ResolvedAction;
      try {
        if (!identity) throw new Error(`namespace ${inv.namespace} has no key configured any more`);
        action = this.o.resolve(identity, parseQualified(inv.action, inv.namespace));
      } catch (e) {
        this.giveUp(inv, e instanceof Error ? e.message : String(e));
        continue;
      }
      this.start({ invocation: inv, action, identity, finished: this.o.throttles.resumeInvocation(inv.namespace) });
      started++;
    }
    if (started) this.o.log(`running again ${started} rule invocation(s) that a restart interrupted`);
    return started;
  }

  /** A promised run that cannot start any more still gets a record, so whoever waits for it learns why. */
  private giveUp(inv: RuleInvocation, why: string): void {
    let where: QualifiedName;
    try {
      where = parseQualified(inv.action, inv.namespace);
    } catch {
      where = { namespace: inv.namespace, name: inv.action };
    }
    const error = `Rule ${inv.rule} fired ${inv.action}, which could not be run again after a restart: ${why}. Fire the trigger again once the action exists.`;
    this.o.log(`rule invocation ${inv.activationId} of ${inv.rule} not run again: ${why}`);
    const now = Date.now();
    const path = where.pkg ? `${where.pkg}/${where.name}` : where.name;
    const rec: Activation = {
      namespace: inv.namespace,
      name: where.name,
      subject: inv.namespace,
      activationId: inv.activationId,
      start: now,
      end: now,
      duration: 0,
      version: "0.0.0",
      publish: false,
      cause: inv.triggerActivationId,
      logs: [],
      response: {
        result: { error },
        size: Buffer.byteLength(JSON.stringify({ error })),
        status: "whisk internal error",
        statusCode: 3,
        success: false,
      },
      annotations: [{ key: "path", value: inv.action.replace(/^\//, "") }],
    };
    this.o.activations.put(rec, path, () => this.o.invocations.settle(inv.activationId));
  }
}
