// The owner of every registration when one provider runs alone on its SQLite store: the lease design
// with a single replica that holds every lease. A change made through the API is applied before the
// API answers, so READ right after UPDATE or PAUSE shows what runs.
import type { Logger } from "../log.ts";
import type { Runner } from "../registrations/runner.ts";
import type { ChangeKind, Owner } from "../registrations/types.ts";
import type { Store } from "../store/types.ts";

export class SingleReplica implements Owner {
  constructor(private readonly o: { store: Store; runner: Runner; log: Logger }) {}

  /** Runs every stored registration (at provider start). */
  async start(): Promise<void> {
    for (const rec of await this.o.store.listRegistrations()) await this.o.runner.adopt(rec.id);
  }

  /** Makes what runs of registration `id` match the store: start, restart with the new record, or stop. */
  async changed(id: string, kind: ChangeKind): Promise<void> {
    const rec = await this.o.store.getRegistration(id);
    const run = this.o.runner.running().get(id);
    // deleted, created again, or another source: the old upstream state goes with it
    if (run && (!rec || run.createdAt !== rec.createdAt || kind === "source")) await this.o.runner.drop(id, "deleted");
    else if (run && (kind === "outbox" || run.sealed !== rec!.sealed || run.state !== rec!.state)) await this.o.runner.drop(id, "reload");
    if (rec) await this.o.runner.adopt(id);
  }

  async stop(_graceMs: number): Promise<void> {}
}
