// ajv validation at the action boundary: parameters in, result out. Error messages name the
// offending parameter and what it must be, never its value (values may be secrets). The check
// functions come from schema-compile.ts: compiled by ajv at run time, or precompiled in bundles.
import type { ErrorObject, Schema } from "ajv";
import { compileSchema } from "./schema-compile.ts";

function explain(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .map((e) => {
      const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, ".") : "params";
      if (e.keyword === "required")
        return `${where === "params" ? "" : `${where}.`}${(e.params as { missingProperty: string }).missingProperty} is required`;
      if (e.keyword === "anyOf" || e.keyword === "oneOf") return `${where}: ${e.message}`;
      return `${where} ${e.message}`;
    })
    .join("; ");
}

/**
 * A check that throws `invalid <what>: …` naming what is wrong. Make validators when the module
 * loads (at top level): the build precompiles exactly the schemas made then.
 */
export function validator<T>(schema: Schema, what: string): (value: unknown) => T {
  const check = compileSchema(schema);
  return (value: unknown) => {
    if (!check(value)) throw new Error(`invalid ${what}: ${explain(check.errors)}`);
    return value as T;
  };
}

/** JSON Schema of the storage parameters every function that reads files takes. */
export const storageParamsSchema = {
  webdavUrl: {
    type: "string",
    format: "uri",
    pattern: "^https?://",
    description: "dCache WebDAV door, e.g. https://dcache.example.org:2880",
  },
  frontendUrl: {
    type: "string",
    format: "uri",
    pattern: "^https?://",
    description: "dCache frontend (namespace API), e.g. https://dcache.example.org:3880",
  },
  dcacheUser: { type: "string", minLength: 1 },
  dcachePassword: { type: "string" },
  dcacheToken: { type: "string", minLength: 1, description: "bearer token (macaroon, OIDC, SciToken); used instead of user/password" },
  timeoutMs: { type: "integer", minimum: 100, maximum: 600000, description: "per request; the action's own deadline still applies" },
} as const;

/** A file that left the batch (functions/_shared/files.ts FailedFile). */
/** How placement and lifecycle reach Rucio (userpass login, or a token). */
export const rucioParamsSchema = {
  rucioUrl: { type: "string", format: "uri", pattern: "^https?://" },
  rucioAccount: { type: "string", minLength: 1 },
  rucioUsername: { type: "string", minLength: 1 },
  rucioPassword: { type: "string" },
  rucioToken: { type: "string", minLength: 1 },
  dmp: { type: "object", description: "the facility's data management plan, for files no dmp.json covers (docs/lifecycle.md)" },
} as const;

export const failedFileSchema = {
  type: "object",
  required: ["path", "step", "reason", "permanent"],
  properties: {
    path: { type: "string", pattern: "^/" },
    step: { type: "string" },
    reason: { type: "string" },
    permanent: { type: "boolean" },
  },
} as const;

/** Inputs every function accepts: the trigger's batch, a single path, or the previous step's result. */
export const inputSchema = {
  events: {
    type: "array",
    items: {
      type: "object",
      required: ["subject"],
      properties: {
        id: { type: ["string", "number"] },
        type: { type: "string" },
        time: { type: "string" },
        source: { type: "string" },
        subject: { type: "string", pattern: "^/" },
        data: { type: ["object", "null"] },
      },
    },
  },
  path: { type: "string", pattern: "^/", description: "one file, for direct invocation" },
  files: { type: "array", items: { type: "object", required: ["path"], properties: { path: { type: "string", pattern: "^/" } } } },
  skipped: { type: "array", items: { type: "object", required: ["path", "reason"] } },
  failed: { type: "array", items: failedFileSchema },
  steps: { type: "array", items: { type: "object" } },
} as const;

export const anyInput = { anyOf: [{ required: ["events"] }, { required: ["path"] }, { required: ["files"] }] } as const;

/** Schema of the result every function passes on. */
export const resultSchema = {
  type: "object",
  required: ["files"],
  properties: {
    files: {
      type: "array",
      items: {
        type: "object",
        required: ["path"],
        properties: {
          path: { type: "string" },
          size: { type: "integer", minimum: 0 },
          adler32: { type: "string", pattern: "^[0-9a-f]{8}$" },
        },
      },
    },
    skipped: { type: "array" },
    failed: { type: "array", items: failedFileSchema },
    steps: { type: "array", items: { type: "object", required: ["function", "durationMs", "outcome"] } },
  },
} as const;
