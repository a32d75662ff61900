// lifecycle: the last step of a file's life on the buffer, run once every pipeline of the file
// succeeded (the feed provider's file ledger invokes it then: `delivery.finally`, docs/lifecycle.md).
// For each file it reads the data management plan that covers it, checks that the pipelines the plan
// names succeeded, adds the archive rule the plan asks for (RSE expression, copies, lifetime), and
// once Rucio says that rule is OK releases the buffer protection placement added — at once, or after
// the plan's keepDaysAfterArchive — so Rucio's reaper frees the buffer copy. While the archive rule
// is REPLICATING (or STUCK) the file fails transiently with the rule's state: the ledger polls it
// again with backoff, and the buffer copy stays protected meanwhile. Replays are harmless: the
// archive rule is found again (DuplicateRule), a released protection is not released twice.
import { DmpFinder, isPipeline, parameterDmp, type AppliedDmp } from "../_shared/dmp.ts";
import { type ActionError, FileFailure } from "../_shared/errors.ts";
import type { FileRecord } from "../_shared/files.ts";
import { RucioClient, type RucioAnswer, type RucioParams } from "../_shared/rucio-client.ts";
import { addRule, didName, failed, rulesOf, type Did, type RucioRule } from "../_shared/rucio-rules.ts";
import { defineAction } from "../_shared/run.ts";
import { validator } from "../_shared/schema.ts";
import { requestTimeout, Storage, type StorageParams } from "../_shared/storage.ts";
import { lifecycleResultSchema, paramsSchema } from "./schema.ts";

type Params = RucioParams &
  StorageParams & {
    scope?: string;
    bufferRse: string;
    namePrefix?: string;
    dmp?: unknown;
    pipelines?: Record<string, Array<{ action: string; state: string }>>;
    concurrency?: number;
    waitMs?: number;
  } & Record<string, unknown>;

const checkResult = validator(lifecycleResultSchema, "lifecycle result");
const DAY = 86400;

/** The plan's pipelines must each have succeeded for this file (when the ledger says what ran). */
function checkPipelines(path: string, plan: AppliedDmp, ran: Array<{ action: string; state: string }> | undefined): void {
  if (!plan.dmp.pipelines?.length || !ran) return;
  const missing = plan.dmp.pipelines.filter(
    (name) => !ran.some((r) => isPipeline(r.action, name) && (r.state === "succeeded" || r.state === "skipped")),
  );
  if (!missing.length) return;
  const seen = ran.map((r) => `${r.action} (${r.state})`).join(", ") || "none";
  throw new FileFailure(
    `${path}: not archived: its data management plan ${plan.source} requires pipeline(s) ${missing.join(", ")} to succeed, but the trigger's rules that ran for it are: ${seen}; add the pipeline to the trigger or correct the plan, then retry the file`,
    true,
  );
}

/** A rule the plan asked for that Rucio refuses (bad expression, too few RSEs): the plan is wrong. */
function planRefused(plan: AppliedDmp) {
  return (what: string, file: string, a: RucioAnswer): ActionError => {
    if (a.status === 409 && ["InvalidRSEExpression", "InsufficientTargetRSEs", "InvalidObject"].includes(a.exceptionClass ?? "")) {
      return new FileFailure(
        `${file}: Rucio refused the archive rule of its data management plan ${plan.source} (${a.exceptionClass}: ${a.message ?? ""}); correct archive.rseExpression or archive.copies, then retry the file`,
        true,
        a.status,
      );
    }
    return failed(what, file, a);
  };
}

async function getRule(client: RucioClient, file: string, id: string): Promise<RucioRule> {
  const a = await client.call("GET", `/rules/${encodeURIComponent(id)}`);
  if (a.status !== 200) throw failed(`rule ${id} lookup`, file, a);
  return a.json as RucioRule;
}

/**
 * The rule once it is no longer REPLICATING, or as it is after `waitMs` (within the action's
 * deadline): a copy that takes a moment is then seen in this run, not in the ledger's next one.
 */
async function settledRule(client: RucioClient, file: string, id: string, waitMs: number): Promise<RucioRule> {
  const end = Date.now() + Math.min(waitMs, requestTimeout(waitMs + 1000) - 1000);
  for (let pause = 100; ; pause = Math.min(pause * 2, 500)) {
    const rule = await getRule(client, file, id);
    if (rule.state !== "REPLICATING" || Date.now() + pause > end) return rule;
    await new Promise((r) => setTimeout(r, pause));
  }
}

/** The RSEs holding an AVAILABLE replica of the DID. */
async function replicaRses(client: RucioClient, file: string, did: Did): Promise<string[]> {
  const a = await client.call("GET", `/replicas/${encodeURIComponent(did.scope)}/${encodeURIComponent(did.name)}`);
  if (a.status !== 200) throw failed("replica listing", file, a);
  const line = a.text.split("\n").find(Boolean);
  return line ? Object.keys((JSON.parse(line) as { rses?: Record<string, unknown> }).rses ?? {}).sort() : [];
}

/** Ends the buffer protection: now (the reaper frees the copy), or after `keepDays`. */
async function release(client: RucioClient, file: string, protections: RucioRule[], keepDays: number): Promise<"now" | string> {
  if (keepDays === 0) {
    for (const r of protections) {
      const a = await client.call("DELETE", `/rules/${encodeURIComponent(r.id)}`, { purge_replicas: false });
      if (a.status !== 200 && !(a.status === 404 && a.exceptionClass === "RuleNotFound"))
        throw failed(`release of buffer rule ${r.id}`, file, a);
    }
    return "now";
  }
  const until = new Date(Date.now() + keepDays * DAY * 1000).toISOString();
  for (const r of protections) {
    if (r.expires_at) continue; // released on an earlier run
    const a = await client.call("PUT", `/rules/${encodeURIComponent(r.id)}`, { options: { lifetime: Math.round(keepDays * DAY) } });
    if (a.status !== 200) throw failed(`lifetime of buffer rule ${r.id}`, file, a);
  }
  return protections.map((r) => r.expires_at).find(Boolean) ?? until;
}

async function archive(client: RucioClient, dmps: DmpFinder, file: FileRecord, p: Params): Promise<NonNullable<FileRecord["lifecycle"]>> {
  const plan = await dmps.forFile(file.path);
  checkPipelines(file.path, plan, p.pipelines?.[file.path]);
  const did = { scope: p.scope ?? "raw", name: didName(file.path, p.namePrefix) };
  const rules = await rulesOf(client, file.path, did);
  if (!rules)
    throw new FileFailure(
      `${file.path}: not archived: Rucio does not know ${did.scope}:${did.name}; the ingest pipeline's placement step registers it, so that pipeline has not run for this file`,
      true,
    );
  const a = plan.dmp.archive;
  const copies = a.copies ?? 1;
  const ruleId = await addRule(
    client,
    file.path,
    did,
    {
      account: p.rucioAccount,
      copies,
      rse_expression: a.rseExpression,
      comment: `archive copy (${plan.dmp.id}, ${plan.source})`,
      ...(a.lifetimeDays ? { lifetime: Math.round(a.lifetimeDays * DAY) } : {}),
      ...(a.activity ? { activity: a.activity } : {}),
    },
    planRefused(plan),
  );
  const rule = await settledRule(client, file.path, ruleId, p.waitMs ?? 2000);
  if (rule.state !== "OK") {
    const why =
      rule.state === "STUCK"
        ? `STUCK: ${rule.error ?? "no reason given"}; Rucio retries stuck rules, or fix the cause`
        : `${rule.state}, its copies are being made`;
    // transient: the ledger asks again with backoff; the buffer copy stays protected meanwhile
    throw new FileFailure(
      `${file.path}: archive not yet OK: rule ${ruleId} (${copies} on ${a.rseExpression}) is ${why}; the buffer copy stays protected until it is OK`,
      false,
    );
  }
  const protections = rules.filter((r) => r.account === p.rucioAccount && r.rse_expression === p.bufferRse && r.id !== ruleId);
  const released = await release(client, file.path, protections, plan.dmp.buffer?.keepDaysAfterArchive ?? 0);
  const rses = (await replicaRses(client, file.path, did)).filter((r) => r !== p.bufferRse);
  return {
    dmp: plan.source,
    archive: { rule: ruleId, state: "OK", rseExpression: a.rseExpression, copies, rses },
    buffer: { rules: protections.map((r) => r.id), released },
  };
}

export const main = defineAction<Params>("lifecycle", paramsSchema, async (p, ctx) => {
  const client = new RucioClient(p);
  const dmps = new DmpFinder(new Storage(p), parameterDmp(p.dmp));
  const one = async (file: FileRecord): Promise<FileRecord> => ({ ...file, lifecycle: await archive(client, dmps, file, p) });
  // The first call logs in; the rest of the batch then shares the token.
  const [head, ...rest] = ctx.files;
  const files = head ? await ctx.each([head], 1, one) : [];
  files.push(...(await ctx.each(rest, p.concurrency ?? 8, one)));
  const out = { files };
  checkResult(out);
  return out;
});
