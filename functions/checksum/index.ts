// checksum: streams each file from dCache WebDAV (never whole into memory), computes ADLER32 and
// compares it with what dCache recorded (namespace `?checksum=true`, else the RFC 3230 `Digest`
// of the transfer). A mismatch or a short read is an `{error}` naming the file and both values,
// which stops the sequence; a file deleted since the event is skipped.
import { adler32OfStream } from "../../lib/checksum/adler32.ts";
import { ActionError } from "../_shared/errors.ts";
import type { FileRecord } from "../_shared/files.ts";
import { mapLimit } from "../_shared/concurrency.ts";
import { defineAction } from "../_shared/run.ts";
import { validator } from "../_shared/schema.ts";
import { NotFound, Storage, type FileStat, type StorageParams } from "../_shared/storage.ts";
import { checksumResultSchema, paramsSchema } from "./schema.ts";

type Params = StorageParams & { requireStorageChecksum?: boolean; concurrency?: number } & Record<string, unknown>;

const checkResult = validator(checksumResultSchema, "checksum result");

type Outcome = { file: FileRecord } | { skipped: { path: string; reason: string } } | { problem: string };

async function verify(storage: Storage, file: FileRecord, p: Params, count: (bytes: number) => void): Promise<Outcome> {
  let stat: FileStat;
  let opened;
  try {
    // The namespace has dCache's checksum; without a frontend, HEAD's Digest has it.
    stat = await storage.stat(file.path, { checksum: true });
    if (stat.fileType && stat.fileType !== "REGULAR") return { skipped: { path: file.path, reason: `not a regular file (${stat.fileType})` } };
    opened = await storage.open(file.path);
  } catch (e) {
    if (e instanceof NotFound) return { skipped: { path: file.path, reason: "not found in storage (deleted after the event?)" } };
    throw e;
  }
  let sum;
  try {
    sum = await adler32OfStream(opened.body);
  } catch (e) {
    throw new ActionError(`${file.path}: the transfer broke off (${(e as Error).message}); the file may be being rewritten, retry later`);
  }
  count(sum.bytes);
  if (sum.bytes !== stat.size) return { problem: `${file.path}: read ${sum.bytes} bytes but storage reports ${stat.size} (truncated or changed while reading)` };
  const storageValue = stat.adler32;
  if (storageValue && storageValue !== sum.hex) return { problem: `${file.path}: ADLER32 mismatch, computed ${sum.hex} but dCache has ${storageValue}` };
  if (!storageValue && p.requireStorageChecksum) {
    return { problem: `${file.path}: dCache reports no ADLER32 to compare with (computed ${sum.hex}); unset requireStorageChecksum to accept it` };
  }
  const rec: FileRecord = {
    ...file,
    size: sum.bytes,
    adler32: sum.hex,
    checksum: { algorithm: "ADLER32", value: sum.hex, verified: !!storageValue, bytes: sum.bytes, ...(storageValue ? { storage: storageValue } : {}) },
  };
  if (stat.mtime) rec.mtime = stat.mtime;
  return { file: rec };
}

export const main = defineAction<Params>("checksum", paramsSchema, async (p, ctx) => {
  const storage = new Storage(p);
  const outcomes = await mapLimit(ctx.files, p.concurrency ?? 4, (file) => verify(storage, file, p, (n) => ctx.count(n)));
  const files = outcomes.flatMap((o) => ("file" in o ? [o.file] : []));
  const skipped = [...ctx.skipped, ...outcomes.flatMap((o) => ("skipped" in o ? [o.skipped] : []))];
  const problems = outcomes.flatMap((o) => ("problem" in o ? [o.problem] : []));
  if (problems.length) return { error: `checksum verification failed: ${problems.join("; ")}`, files, skipped };
  const out = { files, skipped };
  checkResult(out);
  return out;
});
