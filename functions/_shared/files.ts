// The result shape that flows through a sequence (checksum → metadata → catalogue → placement →
// accounting): `{files:[FileRecord…], skipped:[…], failed:[…], steps:[…]}`. Each function reads
// `files` (or, as the first in a sequence, the trigger's CloudEvent batch `events`, or a single
// `path`), adds its own field to each file record, moves the files it cannot handle into `failed`,
// appends one `steps` entry, and passes everything else on. Later steps never see a failed file
// again; the feed provider's ledger reads `failed` to retry or report each file.
import { STORAGE_EVENT_TYPE_PREFIX, type StorageCloudEvent, type StorageEventData } from "../../lib/events/cloudevent.ts";
import { isDirectoryMask, isGoneMask } from "../../lib/events/inotify.ts";
import type { FileDescription } from "../../lib/formats/describe.ts";

export interface FileRecord {
  /** Absolute storage path, e.g. /data/2026/run-0042.nxs */
  path: string;
  size?: number;
  mtime?: string;
  /** ADLER32 as 8 lowercase hex digits, once computed or read from storage. */
  adler32?: string;
  /** The CloudEvent this file came from (id, type, time, source), when it came from one. */
  event?: { id: string; type?: string; time?: string; source?: string };
  checksum?: { algorithm: "ADLER32"; value: string; storage?: string; verified: boolean; bytes: number };
  metadata?: FileDescription;
  catalogue?: {
    pid: string;
    datasetName: string;
    action: "created" | "updated";
    origDatablocks: number;
    type: "raw" | "derived";
    dmp?: string;
  };
  placement?: { scope: string; name: string; rse: string; replica: "registered" | "existed"; rules: Record<string, string>; dmp: string };
  /** what the lifecycle function did once every pipeline of the file succeeded */
  lifecycle?: {
    dmp: string;
    archive: { rule: string; state: "OK"; rseExpression: string; copies: number; rses: string[] };
    buffer: { rules: string[]; released: "now" | string };
  };
  derived?: Array<{ path: string; kind: "preview" | "summary"; size: number; contentType: string }>;
  [extra: string]: unknown;
}

/** A file that left the batch: which step, why, and whether trying again later can help. */
export interface FailedFile {
  path: string;
  step: string;
  reason: string;
  /** true: the same bytes will fail again (corrupt, wrong format, checksum mismatch, changed after registration) */
  permanent: boolean;
  size?: number;
  mtime?: string;
  adler32?: string;
  event?: FileRecord["event"];
}

export interface Skip {
  path: string;
  reason: string;
}

export interface StepRecord {
  function: string;
  version: string;
  activationId?: string;
  /** the action's fully qualified name and its bundle's SHA-256 (lib/provenance) */
  action?: string;
  bundleSha256?: string;
  startedAt: string;
  durationMs: number;
  files: number;
  bytesRead: number;
  bytesWritten?: number;
  /** files this step moved into `failed` */
  failed?: number;
  outcome: "ok" | "error";
}

export interface SequenceResult {
  files: FileRecord[];
  /** Files named by the input that no longer exist (deleted between the event and the run), or directories. */
  skipped?: Skip[];
  /** Files a step could not handle, with the step and the reason (see FailedFile). */
  failed?: FailedFile[];
  steps?: StepRecord[];
  [extra: string]: unknown;
}

/**
 * A storage event as the feed provider sends it (lib/events/cloudevent.ts); a direct invocation may
 * give less (the input schema requires only `subject`), so every field is looked at before use.
 */
type IncomingEvent = { [K in keyof StorageCloudEvent]?: unknown } & { data?: { [K in keyof StorageEventData]?: unknown } | null };

const ADLER32 = /^[0-9a-f]{8}$/;

/**
 * What an event enriched by the feed (`source.enrich`) says of its file: size, mtime and ADLER32 as
 * dCache's namespace had them a moment before the fire. On the record they spare the steps a lookup
 * of their own (recordedStat; checksum compares the bytes with them). A value of another shape is
 * left out: the step then looks the file up, as for an event without them.
 */
function enrichedFacts(data: IncomingEvent["data"]): Pick<FileRecord, "size" | "mtime" | "adler32"> {
  const out: Pick<FileRecord, "size" | "mtime" | "adler32"> = {};
  if (!data) return out;
  if (Number.isSafeInteger(data.size) && (data.size as number) >= 0) out.size = data.size as number;
  // the namespace API's mtime is in milliseconds; records carry ISO 8601, as Storage.stat gives it
  if (Number.isSafeInteger(data.mtime) && (data.mtime as number) >= 0) out.mtime = new Date(data.mtime as number).toISOString();
  if (typeof data.adler32 === "string" && ADLER32.test(data.adler32)) out.adler32 = data.adler32;
  return out;
}

/**
 * The files a run is about: `files` from the previous step, else the trigger's `events`, else `path`.
 * Duplicate paths within one batch are processed once (the newest event wins).
 */
export function inputFiles(params: Record<string, unknown>): { files: FileRecord[]; skipped: Skip[]; failed: FailedFile[] } {
  const skipped: Skip[] = [...((params.skipped as Skip[]) ?? [])];
  const failed: FailedFile[] = [...((params.failed as FailedFile[]) ?? [])];
  if (Array.isArray(params.files)) return { files: params.files as FileRecord[], skipped, failed };
  if (Array.isArray(params.events)) {
    const byPath = new Map<string, FileRecord>();
    for (const raw of params.events as IncomingEvent[]) {
      const path = typeof raw.subject === "string" ? raw.subject : typeof raw.data?.path === "string" ? raw.data.path : undefined;
      if (!path) continue;
      const mask = Array.isArray(raw.data?.mask) ? (raw.data!.mask as string[]) : [];
      const type = typeof raw.type === "string" ? raw.type : "";
      // events about a directory, or about something that is gone, name no file to process
      if (raw.data?.isDir === true || isDirectoryMask(mask)) {
        skipped.push({ path, reason: "a directory, not a file" });
        continue;
      }
      const kind = type.startsWith(STORAGE_EVENT_TYPE_PREFIX) ? type.slice(STORAGE_EVENT_TYPE_PREFIX.length) : "";
      if (isGoneMask([...mask, kind])) {
        skipped.push({ path, reason: `event ${type || mask.join("|")} says the file is gone` });
        continue;
      }
      const rec: FileRecord = { path, event: { id: String(raw.id ?? "") } };
      if (type) rec.event!.type = type;
      if (typeof raw.time === "string") rec.event!.time = raw.time;
      if (typeof raw.source === "string") rec.event!.source = raw.source;
      Object.assign(rec, enrichedFacts(raw.data));
      byPath.delete(path);
      byPath.set(path, rec);
    }
    return { files: [...byPath.values()], skipped, failed };
  }
  if (typeof params.path === "string") return { files: [{ path: params.path }], skipped, failed };
  return { files: [], skipped, failed };
}

/** The base name of a storage path. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** The directory of a storage path ("/" for top-level files). */
export function dirName(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}
