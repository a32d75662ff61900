// The frame every function runs in: validate parameters (ajv), find the input files, run the step
// file by file, record one `steps` entry and validate the result. One file's failure never sinks
// the batch: it moves into `failed` (with step, reason, permanent) and the rest goes on. Only what
// concerns every file (bad parameters, refused credentials, an unreachable service) fails the step
// as a whole: `{error, step, transient, paths}`, which stops the sequence and names its files.
import { activation, asActivation } from "../../lib/activation.ts";
import { ActionError, FileFailure, StepFailure, transientStatus } from "./errors.ts";
import { mapLimit } from "./concurrency.ts";
import { inputFiles, type FailedFile, type FileRecord, type SequenceResult, type Skip, type StepRecord } from "./files.ts";
import { resultSchema, validator } from "./schema.ts";
import { NotFound } from "./storage.ts";
import { functionVersion } from "../../lib/provenance.ts";

/** Thrown for a file this step has nothing to do with (a directory, gone, already derived): it leaves the batch as skipped. */
export class SkipFile extends Error {}

export interface RunContext {
  files: FileRecord[];
  skipped: Skip[];
  failed: FailedFile[];
  /** Adds to the bytes this step read or wrote (reported in `steps`). */
  count(read: number, written?: number): void;
  /**
   * Runs `fn` for each file (at most `limit` at a time, results in input order) and returns the
   * records of the files that went on. A file whose `fn` throws SkipFile or NotFound is skipped, a
   * FileFailure or another error puts it into `failed`; a StepFailure stops the whole step.
   */
  each(files: FileRecord[], limit: number, fn: (file: FileRecord) => Promise<FileRecord>): Promise<FileRecord[]>;
}

export type Handler<P> = (params: P, ctx: RunContext) => Promise<{ files: FileRecord[]; [extra: string]: unknown }>;

const checkResult = validator<SequenceResult>(resultSchema, "result");

/** How a per-file error is reported: permanent when the same bytes would fail again. */
function failure(step: string, file: FileRecord, e: unknown): FailedFile {
  const message = (e as Error)?.message ?? String(e);
  const permanent = e instanceof FileFailure ? e.permanent : e instanceof ActionError ? !transientStatus(e.status) : false;
  const f: FailedFile = { path: file.path, step, reason: message.includes(file.path) ? message : `${file.path}: ${message}`, permanent };
  const known = { size: file.size, mtime: file.mtime, adler32: file.adler32, ...(e instanceof FileFailure ? e.known : {}) };
  if (known.size !== undefined) f.size = known.size;
  if (known.mtime) f.mtime = known.mtime;
  if (known.adler32) f.adler32 = known.adler32;
  if (file.event) f.event = file.event;
  return f;
}

/** Builds an OpenWhisk `main` for function `name` from its params schema and handler. */
export function defineAction<P extends Record<string, unknown>>(name: string, paramsSchema: object, handler: Handler<P>) {
  const checkParams = validator<P>(paramsSchema, `parameters for ${name}`);
  // each run keeps its own activation's id and deadline, also when several share the process
  return (params: Record<string, unknown>) => asActivation(() => run(params));
  async function run(params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const started = Date.now();
    let bytesRead = 0;
    let bytesWritten = 0;
    const steps = Array.isArray(params?.steps) ? [...(params.steps as StepRecord[])] : [];
    const step = (outcome: "ok" | "error", files: number, failed = 0): StepRecord => {
      const s: StepRecord = {
        function: name,
        version: activation().actionVersion || "0.1.0",
        startedAt: new Date(started).toISOString(),
        durationMs: Date.now() - started,
        files,
        bytesRead,
        outcome,
      };
      if (failed) s.failed = failed;
      if (bytesWritten) s.bytesWritten = bytesWritten;
      // which code ran: the deployed action and its bundle's SHA-256 (as its provenance annotation says)
      const v = functionVersion();
      if (v.activationId) s.activationId = v.activationId;
      if (v.action) s.action = v.action;
      if (v.bundleSha256) s.bundleSha256 = v.bundleSha256;
      return s;
    };
    let input: FileRecord[] = [];
    let carried: { skipped: Skip[]; failed: FailedFile[] } = { skipped: [], failed: [] };
    try {
      const p = checkParams(params ?? {});
      const { files, skipped, failed } = inputFiles(p);
      input = files;
      carried = { skipped, failed };
      const failedBefore = failed.length;
      const ctx: RunContext = {
        files,
        skipped,
        failed,
        count: (r, w = 0) => {
          bytesRead += r;
          bytesWritten += w;
        },
        each: async (batch, limit, fn) => {
          const outcomes = await mapLimit(batch, limit, async (file) => {
            try {
              return await fn(file);
            } catch (e) {
              if (e instanceof StepFailure) throw e;
              if (e instanceof NotFound) skipped.push({ path: file.path, reason: "not found in storage (deleted after the event?)" });
              else if (e instanceof SkipFile) skipped.push({ path: file.path, reason: e.message });
              else failed.push(failure(name, file, e));
              return undefined;
            }
          });
          return outcomes.filter((f): f is FileRecord => f !== undefined);
        },
      };
      const out = await handler(p, ctx);
      const newlyFailed = failed.length - failedBefore;
      // Only the results flow on: parameters (URLs, credentials) come to each action from its own package.
      const result: Record<string, unknown> = { ...out, skipped, steps: [...steps, step("ok", files.length, newlyFailed)] };
      if (failed.length) result.failed = failed;
      checkResult(result);
      for (const f of failed.slice(failedBefore)) console.log(`${name}: failed ${f.permanent ? "(permanent)" : "(transient)"} ${f.reason}`);
      console.log(
        `${name}: ${out.files.length} file(s) done${skipped.length ? `, ${skipped.length} skipped` : ""}${newlyFailed ? `, ${newlyFailed} failed` : ""} in ${Date.now() - started} ms`,
      );
      return result;
    } catch (e) {
      const message =
        e instanceof ActionError || (e instanceof Error && e.message.startsWith("invalid "))
          ? e.message
          : `${name} failed: ${(e as Error)?.message ?? String(e)}`;
      // Bad parameters or refused credentials stay bad until someone changes them; an unreachable
      // service or an unexpected fault may pass.
      const transient =
        e instanceof StepFailure
          ? e.transient
          : e instanceof ActionError
            ? transientStatus(e.status) && e.status !== undefined
            : !(e instanceof Error && e.message.startsWith("invalid "));
      console.log(`${name}: ${transient ? "(transient) " : ""}${message}`);
      // the files that left the batch earlier still say why (the feed provider's ledger reads them)
      const out: Record<string, unknown> = {
        error: message,
        step: name,
        transient,
        paths: input.map((f) => f.path),
        steps: [...steps, step("error", input.length)],
      };
      if (carried.failed.length) out.failed = carried.failed;
      if (carried.skipped.length) out.skipped = carried.skipped;
      return out;
    }
  }
}
