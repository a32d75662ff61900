// A file's bytes for the steps that read them whole or by range (metadata, derive), with its size
// and mtime as the namespace has them, in as few round trips as the record allows.
import type { FileRecord } from "./files.ts";
import { SkipFile } from "./run.ts";
import { recordedStat, WHOLE_FILE_BYTES, type FileStat, type Storage, type StoredBytes } from "./storage.ts";

/**
 * The file's bytes, and its size and mtime as the namespace has them: from the record when it can
 * stand for a lookup (recordedStat). Otherwise a small file's GET runs beside the lookup: of the size
 * an earlier step found, or, invoked with the path alone, of "the file if small". Either is used only
 * if the lookup finds the same size.
 */
export async function fetchFile(
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
