// metadata: detects each file's format and extracts its metadata (NeXus/HDF5, EXDF, miniCBF, EDF)
// while reading only the byte ranges the format needs over HTTP Range; files of other extensions
// get size/type/mtime only. A file whose bytes break its name's promise (a `.nxs` that is not
// HDF5, an empty file, a CBF/EDF header that does not parse, a corrupt HDF5) fails permanently;
// a broken read fails transiently; the rest of the batch goes on. Adds `metadata` to each record.
import { describe } from "../../lib/formats/describe.ts";
import { HttpError } from "../../lib/http/sync-range-reader.ts";
import { ActionError, FileFailure } from "../_shared/errors.ts";
import type { FileRecord } from "../_shared/files.ts";
import { defineAction, SkipFile } from "../_shared/run.ts";
import { validator } from "../_shared/schema.ts";
import { recordedStat, Storage, WHOLE_FILE_BYTES, type FileStat, type StorageParams, type StoredBytes } from "../_shared/storage.ts";
import { metadataResultSchema, paramsSchema } from "./schema.ts";
import { formatProblem } from "./strict.ts";

const checkResult = validator(metadataResultSchema, "metadata result");

/**
 * The file's bytes, and its size and mtime as the namespace has them: from the record when it can
 * stand for a lookup (recordedStat). Otherwise a small file's GET runs beside the lookup: of the size
 * an earlier step found, or, invoked with the path alone, of "the file if small". Either is used only
 * if the lookup finds the same size.
 */
async function fetchFile(
  storage: Storage,
  file: FileRecord,
  count: (bytes: number) => void,
): Promise<{ reader: StoredBytes; stat: FileStat }> {
  const recorded = recordedStat(file);
  if (recorded) return { reader: await storage.bytes(file.path, recorded.size), stat: recorded };
  const early = file.size !== undefined && file.size <= WHOLE_FILE_BYTES ? storage.bytes(file.path, file.size) : undefined;
  early?.catch(() => {}); // a failed early read matters only if it was to be used: then it is awaited below
  const guess = file.size === undefined ? storage.smallFile(file.path) : undefined;
  const stat = await storage.stat(file.path);
  if (stat.fileType && stat.fileType !== "REGULAR") throw new SkipFile(`not a regular file (${stat.fileType})`);
  const small = await guess;
  if (small && small.size !== stat.size) count(small.stats.bytes);
  const reader =
    early && stat.size === file.size ? await early : small && small.size === stat.size ? small : await storage.bytes(file.path, stat.size);
  return { reader, stat };
}

export const main = defineAction<StorageParams & Record<string, unknown>>("metadata", paramsSchema, async (params, ctx) => {
  const storage = new Storage(params);
  // one file at a time: the HDF5 library reads synchronously, so files in parallel gain nothing
  const files = await ctx.each(ctx.files, 1, async (file) => {
    const { reader, stat } = await fetchFile(storage, file, (bytes) => ctx.count(bytes));
    try {
      let metadata;
      try {
        metadata = await describe(reader, file.path, stat.mtime ? { mtime: stat.mtime } : {});
      } catch (e) {
        const msg = (e as Error).message ?? String(e);
        const text = msg.includes(file.path) ? msg : `${file.path}: ${msg}`;
        // a failed transfer may pass; bytes that do not parse will not
        if (e instanceof HttpError) throw new ActionError(text, e.status === 206 ? 0 : e.status);
        throw new FileFailure(text, true);
      }
      const head = new Uint8Array(Math.min(8, stat.size));
      if (metadata.format === "unknown" && head.length) reader.read(head, 0, head.length, 0);
      const problem = formatProblem(file.path, metadata, head);
      if (problem) throw new FileFailure(problem, true);
      const rec: FileRecord = { ...file, size: stat.size, metadata };
      if (stat.mtime) rec.mtime = stat.mtime;
      if (!rec.adler32 && stat.adler32) rec.adler32 = stat.adler32;
      return rec;
    } finally {
      ctx.count(reader.stats.bytes);
      reader.close();
    }
  });
  const out = { files };
  checkResult(out);
  return out;
});
