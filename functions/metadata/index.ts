// metadata: detects each file's format and extracts its metadata (NeXus/HDF5, EXDF, miniCBF, EDF)
// while reading only the byte ranges the format needs over HTTP Range; files of other extensions
// get size/type/mtime only. A file whose bytes break its name's promise (a `.nxs` that is not
// HDF5, an empty file, a CBF/EDF header that does not parse, a corrupt HDF5) fails permanently;
// a broken read fails transiently; the rest of the batch goes on. Adds `metadata` to each record.
import { describe } from "../../lib/formats/describe.ts";
import { HttpError } from "../../lib/http/sync-range-reader.ts";
import { ActionError, FileFailure } from "../_shared/errors.ts";
import type { FileRecord } from "../_shared/files.ts";
import { fetchFile } from "../_shared/fetch-file.ts";
import { defineAction } from "../_shared/run.ts";
import { validator } from "../_shared/schema.ts";
import { Storage, type StorageParams } from "../_shared/storage.ts";
import { metadataResultSchema, paramsSchema } from "./schema.ts";
import { formatProblem } from "./strict.ts";

const checkResult = validator(metadataResultSchema, "metadata result");

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
