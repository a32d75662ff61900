// Rule invocations a trigger fire promised but that have no activation record yet. A fire writes
// them in the same transaction as its trigger activation before it answers 202; the transaction
// that writes an invocation's activation record deletes it (ActivationStore.put's `settle`). What
// is left at start-up was cut short by a crash and runs again under the same activation id.
import type { Db } from "./database.ts";
import type { Activation } from "./activations.ts";

export interface RuleInvocation {
  /** the activation id the action (or sequence) runs under */
  activationId: string;
  triggerActivationId: string;
  /** "ns/rule" */
  rule: string;
  /** "/ns/a" or "/ns/pkg/a", as the rule names it */
  action: string;
  /** trigger parameters merged with the fire's payload */
  payload: Record<string, unknown>;
  /** the namespace and key uuid of the caller that fired */
  namespace: string;
  uuid: string;
  created: number;
}

interface Row {
  id: string;
  trigger_activation: string;
  rule: string;
  action: string;
  payload: string;
  namespace: string;
  uuid: string;
  created: number;
}

export class RuleInvocationStore {
  private readonly recordFire;
  private readonly settleStmt;
  private readonly listStmt;

  /** `writeActivation` stores one activation record now (inside the caller's transaction). */
  constructor(db: Db, writeActivation: (a: Activation, path: string) => void) {
    const insert = db.prepare(
      "INSERT INTO rule_invocations (id, trigger_activation, rule, action, payload, namespace, uuid, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    );
    this.settleStmt = db.prepare("DELETE FROM rule_invocations WHERE id = ?");
    this.listStmt = db.prepare("SELECT * FROM rule_invocations ORDER BY created, rowid");
    // One transaction per fire: the trigger activation and every invocation it promises, or nothing.
    this.recordFire = db.transaction((trigger: Activation, path: string, invocations: RuleInvocation[]) => {
      writeActivation(trigger, path);
      for (const i of invocations) {
        // The payload is the trigger activation's result: store it once per invocation anyway, so a
        // row is complete on its own (a trigger record may be deleted or rewritten by then).
        insert.run(i.activationId, i.triggerActivationId, i.rule, i.action, JSON.stringify(i.payload), i.namespace, i.uuid, i.created);
      }
    });
  }

  /** Stores a fire's trigger activation and its rule invocations durably, in one transaction. */
  record(trigger: Activation, path: string, invocations: RuleInvocation[]): void {
    this.recordFire(trigger, path, invocations);
  }

  /** Marks an invocation done; call inside the transaction that writes its activation record. */
  settle(activationId: string): void {
    this.settleStmt.run(activationId);
  }

  unfinished(): RuleInvocation[] {
    return (this.listStmt.all() as Row[]).map((r) => ({
      activationId: r.id,
      triggerActivationId: r.trigger_activation,
      rule: r.rule,
      action: r.action,
      payload: JSON.parse(r.payload) as Record<string, unknown>,
      namespace: r.namespace,
      uuid: r.uuid,
      created: r.created,
    }));
  }
}
