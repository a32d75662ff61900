// placement: registers each new file as a replica at the buffer RSE in Rucio (with its PFN) and
// protects it there with a rule without lifetime, so the buffer copy stays while the file's
// pipelines run — and stays for good if one fails, so the file can be retried. It adds no archive
// rule: the lifecycle function does that once every pipeline of the file succeeded, and releases
// this protection only once the archive copies are OK (docs/lifecycle.md). The data management plan
// covering the file is read first: a bad plan fails the file before anything is registered.
// Replays are harmless: existing replicas (409 Duplicate) and rules (409 DuplicateRule) are looked
// up and reported, not re-added. A file registered before with another size or ADLER32 (Rucio:
// FileConsistencyMismatch) fails as changed after registration, unless `reprocessChanged` is set:
// then the file DID's bytes and adler32 are updated through Rucio's DID metadata.
import { DmpFinder, parameterDmp } from "../_shared/dmp.ts";
import { FileFailure } from "../_shared/errors.ts";
import type { FileRecord } from "../_shared/files.ts";
import { RucioClient, type RucioParams } from "../_shared/rucio-client.ts";
import { addRule, didName, failed } from "../_shared/rucio-rules.ts";
import { defineAction } from "../_shared/run.ts";
import { validator } from "../_shared/schema.ts";
import { Storage, type StorageParams } from "../_shared/storage.ts";
import { paramsSchema, placementResultSchema } from "./schema.ts";

type Params = RucioParams &
  StorageParams & {
    scope?: string;
    bufferRse: string;
    dmp?: unknown;
    activity?: string;
    pfnBase?: string;
    namePrefix?: string;
    concurrency?: number;
    reprocessChanged?: boolean;
  } & Record<string, unknown>;

const checkResult = validator(placementResultSchema, "placement result");

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

async function place(client: RucioClient, dmps: DmpFinder, file: FileRecord, p: Params): Promise<NonNullable<FileRecord["placement"]>> {
  if (!file.adler32 || file.size === undefined) {
    throw new FileFailure(
      `${file.path}: placement needs the file's size and adler32; run the checksum (or metadata) step before placement in the sequence`,
      true,
    );
  }
  const plan = await dmps.forFile(file.path);
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
  // no lifetime: the buffer copy is protected until lifecycle releases it (after the archive is OK)
  const buffer = await addRule(client, file.path, did, {
    account: p.rucioAccount,
    ...(p.activity ? { activity: p.activity } : {}),
    copies: 1,
    rse_expression: p.bufferRse,
    comment: BUFFER_RULE_COMMENT,
  });
  return { ...did, rse: p.bufferRse, replica: state, rules: { buffer }, dmp: plan.source };
}

/** How the buffer protection rule is recognised (lifecycle releases it). */
export const BUFFER_RULE_COMMENT = "buffer copy, protected while the file's pipelines run";

export const main = defineAction<Params>("placement", paramsSchema, async (p, ctx) => {
  const client = new RucioClient(p);
  const dmps = new DmpFinder(new Storage(p), parameterDmp(p.dmp));
  const place1 = async (file: FileRecord): Promise<FileRecord> => ({ ...file, placement: await place(client, dmps, file, p) });
  // The first call logs in; the rest of the batch then shares the token.
  const [head, ...rest] = ctx.files;
  const files = head ? await ctx.each([head], 1, place1) : [];
  files.push(...(await ctx.each(rest, p.concurrency ?? 8, place1)));
  const out = { files };
  checkResult(out);
  return out;
});
