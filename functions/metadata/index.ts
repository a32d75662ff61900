// metadata: detects each file's format and extracts its metadata (NeXus/HDF5, EXDF, miniCBF, EDF)
// while reading only the byte ranges the format needs over HTTP Range; unknown formats give
// size/type/mtime only. Adds `metadata` to each file record.
import { describe } from "../../lib/formats/describe.ts";
import { ActionError } from "../_shared/errors.ts";
import type { FileRecord } from "../_shared/files.ts";
import { defineAction } from "../_shared/run.ts";
import { validator } from "../_shared/schema.ts";
import { NotFound, Storage, type StorageParams } from "../_shared/storage.ts";
import { metadataResultSchema, paramsSchema } from "./schema.ts";

const checkResult = validator(metadataResultSchema, "metadata result");

export const main = defineAction<StorageParams & Record<string, unknown>>("metadata", paramsSchema, async (params, ctx) => {
  const storage = new Storage(params);
  const files: FileRecord[] = [];
  const skipped = [...ctx.skipped];
  for (const file of ctx.files) {
    let stat;
    try {
      stat = await storage.stat(file.path);
    } catch (e) {
      if (e instanceof NotFound) {
        skipped.push({ path: file.path, reason: "not found in storage (deleted after the event?)" });
        continue;
      }
      throw e;
    }
    if (stat.fileType && stat.fileType !== "REGULAR") {
      skipped.push({ path: file.path, reason: `not a regular file (${stat.fileType})` });
      continue;
    }
    const reader = storage.rangeReader(file.path, stat.size);
    try {
      const metadata = await describe(reader, file.path, stat.mtime ? { mtime: stat.mtime } : {});
      const rec: FileRecord = { ...file, size: stat.size, metadata };
      if (stat.mtime) rec.mtime = stat.mtime;
      if (!rec.adler32 && stat.adler32) rec.adler32 = stat.adler32;
      files.push(rec);
    } catch (e) {
      const msg = (e as Error).message ?? String(e);
      throw new ActionError(msg.includes(file.path) ? msg : `${file.path}: ${msg}`);
    } finally {
      ctx.count(reader.stats.bytes);
      reader.close();
    }
  }
  const out = { files, skipped };
  checkResult(out);
  return out;
});
