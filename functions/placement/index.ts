// placement: registers each new file as a replica at the buffer RSE in Rucio, adds the archive
// rule, and adds a rule with a lifetime on the buffer RSE so the buffer copy is released once that
// lifetime ends (by then the archive rule has made its copy). Replays are harmless: existing
// replicas (409 Duplicate) and rules (409 DuplicateRule) are looked up and reported, not re-added.
import { ActionError } from "../_shared/errors.ts";
import type { FileRecord } from "../_shared/files.ts";
import { mapLimit } from "../_shared/concurrency.ts";
import { defineAction } from "../_shared/run.ts";
import { validator } from "../_shared/schema.ts";
import { RucioClient, type RucioAnswer, type RucioParams } from "./rucio-client.ts";
import { paramsSchema, placementResultSchema } from "./schema.ts";

type Params = RucioParams & {
  scope?: string;
  bufferRse: string;
  archiveRseExpression: string;
  archiveCopies?: number;
  archiveLifetime?: number;
  bufferLifetime?: number;
  activity?: string;
  pfnBase?: string;
  namePrefix?: string;
  concurrency?: number;
} & Record<string, unknown>;

const checkResult = validator(placementResultSchema, "placement result");

function failed(what: string, file: string, a: RucioAnswer): ActionError {
  const why = `${a.exceptionClass ?? "HTTP " + a.status}${a.message ? `: ${a.message}` : ""}`;
  const hint = a.status >= 500 ? "; Rucio has a problem, retry later" : a.exceptionClass === "RSENotFound" ? "; check bufferRse" : a.exceptionClass === "ScopeNotFound" ? "; check scope" : a.exceptionClass === "InvalidRSEExpression" ? "; check archiveRseExpression" : "";
  return new ActionError(`Rucio ${what} for ${file} failed (${a.status} ${why})${hint}`, a.status);
}

function didName(path: string, prefix: string | undefined): string {
  return prefix && path.startsWith(prefix) ? path.slice(prefix.length).replace(/^\/*/, "/") : path;
}

async function addRule(client: RucioClient, file: string, did: { scope: string; name: string }, body: Record<string, unknown>): Promise<string> {
  const a = await client.call("POST", "/rules/", { dids: [did], grouping: "NONE", ...body });
  if (a.status === 201 && Array.isArray(a.json) && typeof a.json[0] === "string") return a.json[0];
  if (a.status === 409 && a.exceptionClass === "DuplicateRule") {
    // A replay: report the rule that exists already.
    const list = await client.call("GET", `/dids/${encodeURIComponent(did.scope)}/${encodeURIComponent(did.name)}/rules`);
    const rules = list.text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { id: string; account: string; rse_expression: string; copies: number });
    const same = rules.find((r) => r.account === body.account && r.rse_expression === body.rse_expression && r.copies === body.copies);
    if (same) return same.id;
  }
  throw failed(`rule on ${String(body.rse_expression)}`, file, a);
}

async function place(client: RucioClient, file: FileRecord, p: Params): Promise<NonNullable<FileRecord["placement"]>> {
  if (!file.adler32 || file.size === undefined) {
    throw new ActionError(`${file.path}: placement needs the file's size and adler32; run the checksum (or metadata) step before placement in the sequence`);
  }
  const did = { scope: p.scope ?? "raw", name: didName(file.path, p.namePrefix) };
  const replica: Record<string, unknown> = { ...did, bytes: file.size, adler32: file.adler32 };
  if (p.pfnBase) replica.pfn = p.pfnBase.replace(/\/+$/, "") + file.path;
  const r = await client.call("POST", "/replicas", { rse: p.bufferRse, files: [replica], ignore_availability: true });
  let state: "registered" | "existed";
  if (r.status === 201) state = "registered";
  else if (r.status === 409 && r.exceptionClass === "Duplicate") state = "existed";
  else throw failed(`replica registration at ${p.bufferRse}`, file.path, r);
  const common = { account: p.rucioAccount, ...(p.activity ? { activity: p.activity } : {}) };
  const archive = await addRule(client, file.path, did, {
    ...common, copies: p.archiveCopies ?? 1, rse_expression: p.archiveRseExpression, comment: "archive copy",
    ...(p.archiveLifetime ? { lifetime: p.archiveLifetime } : {}),
  });
  const buffer = await addRule(client, file.path, did, {
    ...common, copies: 1, rse_expression: p.bufferRse, lifetime: p.bufferLifetime ?? 86400, comment: "buffer copy, released when the lifetime ends",
  });
  return { ...did, rse: p.bufferRse, replica: state, rules: { archive, buffer } };
}

export const main = defineAction<Params>("placement", paramsSchema, async (p, ctx) => {
  const client = new RucioClient(p);
  const [head, ...rest] = ctx.files;
  const files: FileRecord[] = head ? [{ ...head, placement: await place(client, head, p) }] : [];
  files.push(...(await mapLimit(rest, p.concurrency ?? 8, async (file) => ({ ...file, placement: await place(client, file, p) }))));
  const out = { files, skipped: ctx.skipped };
  checkResult(out);
  return out;
});
