// checksum: streams each file from dCache WebDAV (never whole into memory), computes ADLER32 and
// compares it with what dCache recorded (namespace `?checksum=true`, else the RFC 3230 `Digest`
// of the transfer; a record from an enriched event already has it, and a lookup is made only when
// the bytes disagree with it). A mismatch is a permanent failure of that file (naming both values), a short
// read a transient one; the rest of the batch goes on. A file deleted since the event is skipped.
import { adler32OfStream } from "../../lib/checksum/adler32.ts";
import { FileFailure } from "../_shared/errors.ts";
import type { FileRecord } from "../_shared/files.ts";
import { defineAction, SkipFile } from "../_shared/run.ts";
import { validator } from "../_shared/schema.ts";
import { Storage, type FileStat, type StorageParams } from "../_shared/storage.ts";
import { checksumResultSchema, paramsSchema } from "./schema.ts";

type Params = StorageParams & { requireStorageChecksum?: boolean; concurrency?: number } & Record<string, unknown>;

const checkResult = validator(checksumResultSchema, "checksum result");

/** What dCache's namespace has of the file now, its ADLER32 included (without a frontend, HEAD's Digest). */
async function lookUp(storage: Storage, file: FileRecord): Promise<FileStat> {
  const stat = await storage.stat(file.path, { checksum: true });
  if (stat.fileType && stat.fileType !== "REGULAR") throw new SkipFile(`not a regular file (${stat.fileType})`);
  return stat;
}

/**
 * What the record says dCache had of the file, when it says all of it: the feed's enriched event
 * carries size, mtime and ADLER32 looked up a moment before the fire (inputFiles).
 */
function recorded(file: FileRecord): FileStat | undefined {
  if (file.size === undefined || file.mtime === undefined || file.adler32 === undefined) return undefined;
  return { size: file.size, mtime: file.mtime, adler32: file.adler32 };
}

async function verify(storage: Storage, file: FileRecord, p: Params, count: (bytes: number) => void): Promise<FileRecord> {
  // A record with dCache's values is read at once. Only bytes that disagree with it make checksum
  // look the file up: the file may have been rewritten since, and is then judged by what dCache has now.
  const record = recorded(file);
  let stat = record ?? (await lookUp(storage, file));
  const opened = await storage.open(file.path);
  let sum;
  try {
    sum = await adler32OfStream(opened.body);
  } catch (e) {
    throw new FileFailure(
      `${file.path}: the transfer broke off (${(e as Error).message}); the file may be being rewritten, retry later`,
      false,
    );
  }
  count(sum.bytes);
  if (record && (sum.bytes !== record.size || sum.hex !== record.adler32)) stat = await lookUp(storage, file);
  // what the storage says of the file: a failure carries it, so that the same bytes are recognised later
  const known = { size: stat.size, ...(stat.mtime ? { mtime: stat.mtime } : {}), ...(stat.adler32 ? { adler32: stat.adler32 } : {}) };
  if (sum.bytes !== stat.size)
    throw new FileFailure(
      `${file.path}: read ${sum.bytes} bytes but storage reports ${stat.size} (truncated or changed while reading)`,
      false,
    );
  const storageValue = stat.adler32;
  if (storageValue && storageValue !== sum.hex)
    throw new FileFailure(`${file.path}: ADLER32 mismatch, computed ${sum.hex} but dCache has ${storageValue}`, true, undefined, known);
  if (!storageValue && p.requireStorageChecksum) {
    throw new FileFailure(
      `${file.path}: dCache reports no ADLER32 to compare with (computed ${sum.hex}); unset requireStorageChecksum to accept it`,
      true,
      undefined,
      known,
    );
  }
  const rec: FileRecord = {
    ...file,
    size: sum.bytes,
    adler32: sum.hex,
    checksum: {
      algorithm: "ADLER32",
      value: sum.hex,
      verified: !!storageValue,
      bytes: sum.bytes,
      ...(storageValue ? { storage: storageValue } : {}),
    },
  };
  if (stat.mtime) rec.mtime = stat.mtime;
  return rec;
}

export const main = defineAction<Params>("checksum", paramsSchema, async (p, ctx) => {
  const storage = new Storage(p);
  const files = await ctx.each(ctx.files, p.concurrency ?? 4, (file) => verify(storage, file, p, (n) => ctx.count(n)));
  const out = { files };
  checkResult(out);
  return out;
});
