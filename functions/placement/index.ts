// placement: registers each new file as a replica at the buffer RSE in Rucio, adds the archive
// rule, and adds a rule with a lifetime on the buffer RSE so the buffer copy is released once that
// lifetime ends (by then the archive rule has made its copy). Replays are harmless: existing
// replicas (409 Duplicate) and rules (409 DuplicateRule) are looked up and reported, not re-added.
// A file registered before with another size or ADLER32 (Rucio: FileConsistencyMismatch) fails as
// changed after registration, unless `reprocessChanged` is set: then the file DID's bytes and
// adler32 are updated through Rucio's DID metadata (which updates its replicas too).
import { ActionError, FileFailure, StepFailure } from "../_shared/errors.ts";
import type { FileRecord } from "../_shared/files.ts";
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
  reprocessChanged?: boolean;
} & Record<string, unknown>;

const checkResult = validator(placementResultSchema, "placement result");

function failed(what: string, file: string, a: RucioAnswer): ActionError {
  const why = `${a.exceptionClass ?? "HTTP " + a.status}${a.message ? `: ${a.message}` : ""}`;
  // A wrong RSE, scope or expression concerns every file: the step fails as a whole.
  const setting = a.exceptionClass === "RSENotFound" ? "bufferRse" : a.exceptionClass === "ScopeNotFound" ? "scope" : a.exceptionClass === "InvalidRSEExpression" ? "archiveRseExpression" : undefined;
  if (setting) return new StepFailure(`Rucio ${what} for ${file} failed (${a.status} ${why}); check ${setting}`, false, a.status);
  const hint = a.status >= 500 ? "; Rucio has a problem, retry later" : "";
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

/** The DID exists with other bytes or adler32: fail as changed, or (reprocessChanged) record the new content. */
async function changedFile(client: RucioClient, file: FileRecord, did: { scope: string; name: string }, p: Params): Promise<void> {
  const path = `/dids/${encodeURIComponent(did.scope)}/${encodeURIComponent(did.name)}`;
  if (!p.reprocessChanged) {
    const got = await client.call("GET", `${path}/meta`);
    const old = (got.status === 200 ? got.json : undefined) as { bytes?: number; adler32?: string } | undefined;
    throw new FileFailure(
      `${file.path}: changed after registration: Rucio has ${did.scope}:${did.name} with size ${old?.bytes ?? "?"} ADLER32 ${old?.adler32 ?? "?"}, the file now has size ${file.size} ADLER32 ${file.adler32}; dCache files are write-once, so this is kept as a failure (set reprocessChanged on the pipeline's functions to register new content)`,
      true,
    );
  }
  const set = await client.call("POST", `${path}/meta`, { meta: { bytes: file.size, adler32: file.adler32 }, recursive: false });
  if (set.status !== 201 && set.status !== 200) throw failed(`update of bytes and adler32 of ${did.scope}:${did.name}`, file.path, set);
}

async function place(client: RucioClient, file: FileRecord, p: Params): Promise<NonNullable<FileRecord["placement"]>> {
  if (!file.adler32 || file.size === undefined) {
    throw new FileFailure(`${file.path}: placement needs the file's size and adler32; run the checksum (or metadata) step before placement in the sequence`, true);
  }
  const did = { scope: p.scope ?? "raw", name: didName(file.path, p.namePrefix) };
  const replica: Record<string, unknown> = { ...did, bytes: file.size, adler32: file.adler32 };
  if (p.pfnBase) replica.pfn = p.pfnBase.replace(/\/+$/, "") + file.path;
  let r = await client.call("POST", "/replicas", { rse: p.bufferRse, files: [replica], ignore_availability: true });
  if (r.status === 409 && r.exceptionClass === "FileConsistencyMismatch") {
    await changedFile(client, file, did, p);
    r = await client.call("POST", "/replicas", { rse: p.bufferRse, files: [replica], ignore_availability: true });
  }
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
  const place1 = async (file: FileRecord): Promise<FileRecord> => ({ ...file, placement: await place(client, file, p) });
  // The first call logs in; the rest of the batch then shares the token.
  const [head, ...rest] = ctx.files;
  const files = head ? await ctx.each([head], 1, place1) : [];
  files.push(...(await ctx.each(rest, p.concurrency ?? 8, place1)));
  const out = { files };
  checkResult(out);
  return out;
});
