// The frame every function runs in: validate parameters (ajv), find the input files, run, record
// one `steps` entry, validate the result, and turn failures into `{error}` (which stops a sequence).
import { ActionError } from "./errors.ts";
import { inputFiles, type FileRecord, type SequenceResult, type StepRecord } from "./files.ts";
import { resultSchema, validator } from "./schema.ts";
import { functionVersion } from "../../lib/provenance.ts";

export interface RunContext {
  files: FileRecord[];
  skipped: Array<{ path: string; reason: string }>;
  /** Adds to the bytes this step read or wrote (reported in `steps`). */
  count(read: number, written?: number): void;
}

export type Handler<P> = (params: P, ctx: RunContext) => Promise<{ files: FileRecord[]; skipped?: Array<{ path: string; reason: string }>; error?: string; [extra: string]: unknown }>;

const checkResult = validator<SequenceResult>(resultSchema, "result");

/** Builds an OpenWhisk `main` for function `name` from its params schema and handler. */
export function defineAction<P extends Record<string, unknown>>(name: string, paramsSchema: object, handler: Handler<P>) {
  const checkParams = validator<P>(paramsSchema, `parameters for ${name}`);
  return async function main(params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const started = Date.now();
    let bytesRead = 0;
    let bytesWritten = 0;
    const steps = Array.isArray(params?.steps) ? [...(params.steps as StepRecord[])] : [];
    const step = (outcome: "ok" | "error", files: number): StepRecord => {
      const s: StepRecord = {
        function: name,
        version: process.env.__OW_ACTION_VERSION || "0.1.0",
        startedAt: new Date(started).toISOString(),
        durationMs: Date.now() - started,
        files,
        bytesRead,
        outcome,
      };
      if (bytesWritten) s.bytesWritten = bytesWritten;
      // which code ran: the deployed action and its bundle's SHA-256 (as its provenance annotation says)
      const v = functionVersion();
      if (v.activationId) s.activationId = v.activationId;
      if (v.action) s.action = v.action;
      if (v.bundleSha256) s.bundleSha256 = v.bundleSha256;
      return s;
    };
    let nFiles = 0;
    try {
      const p = checkParams(params ?? {});
      const { files, skipped } = inputFiles(p);
      nFiles = files.length;
      const out = await handler(p, { files, skipped, count: (r, w = 0) => { bytesRead += r; bytesWritten += w; } });
      if (out.error) {
        console.log(`${name}: ${out.error}`);
        return { ...out, steps: [...steps, step("error", nFiles)] };
      }
      // Only the results flow on: parameters (URLs, credentials) come to each action from its own package.
      const result = { ...out, steps: [...steps, step("ok", nFiles)] };
      checkResult(result);
      console.log(`${name}: ${out.files.length} file(s) done${out.skipped?.length ? `, ${out.skipped.length} skipped` : ""} in ${Date.now() - started} ms`);
      return result;
    } catch (e) {
      const message = e instanceof ActionError || (e instanceof Error && e.message.startsWith("invalid ")) ? e.message : `${name} failed: ${(e as Error)?.message ?? String(e)}`;
      console.log(`${name}: ${message}`);
      return { error: message, steps: [...steps, step("error", nFiles)] };
    }
  };
}
