// Pieces every resource handler uses: the request context, namespace access, list paging,
// JSON Schema checks of request bodies, and entity versions.
import { Ajv, type ValidateFunction } from "ajv";
import type { ApiRequest } from "../http/server.ts";
import type { Identity } from "../auth.ts";
import { ApiError, Messages } from "../errors.ts";
import type { EntityStore } from "../store/entities.ts";
import type { ActivationStore } from "../store/activations.ts";
import type { Invoker } from "../invoker/invoker.ts";
import type { RuleRuns } from "../invoker/rule-runs.ts";
import type { ContainerPool } from "../invoker/pool.ts";
import type { Throttles } from "../limits.ts";
import { checkNamespace } from "../names.ts";

export interface Services {
  store: EntityStore;
  activations: ActivationStore;
  invoker: Invoker;
  /** a fire's rule invocations: stored with the trigger activation, run again after a crash */
  ruleRuns: RuleRuns;
  pool: ContainerPool;
  throttles: Throttles;
  blockingWaitMs: number;
  log: (line: string) => void;
}

export interface Call {
  req: ApiRequest;
  identity: Identity;
  /** the namespace of the path, with "_" resolved to the caller's */
  ns: string;
  /** true when the path names the caller's own namespace */
  own: boolean;
  s: Services;
}

export function resolveNamespace(identity: Identity, ns: string): { ns: string; own: boolean } {
  checkNamespace(ns);
  const resolved = ns === "_" ? identity.namespace : ns;
  return { ns: resolved, own: resolved === identity.namespace };
}

export function requireOwn(call: Call): void {
  if (!call.own) throw new ApiError(403, Messages.forbidden);
}

const ajv = new Ajv({ allErrors: true, strict: false });

export function validator<T>(schema: object): ValidateFunction<T> {
  return ajv.compile<T>(schema);
}

export function checkBody<T>(validate: ValidateFunction<T>, body: unknown, what: string): T {
  const value = body === undefined ? {} : body;
  if (!validate(value)) {
    const why = (validate.errors ?? []).map((e) => `${e.instancePath || "the body"} ${e.message}`).join("; ");
    throw new ApiError(400, `The request content was malformed: ${what}: ${why}.`);
  }
  return value;
}

export const keyValueList = {
  type: "array",
  items: {
    type: "object",
    required: ["key"],
    properties: { key: { type: "string", minLength: 1 } },
  },
};

export function listOptions(call: Call, collection: string): { limit: number; skip: number; count: boolean } {
  const q = call.req.query;
  const int = (name: string, dflt: number): number => {
    const raw = q.get(name);
    if (raw === null || raw === "") return dflt;
    if (!/^-?\d+$/.test(raw)) throw new ApiError(400, Messages.argumentNotInteger(collection, raw));
    return Number(raw);
  };
  let limit = int("limit", 30);
  const skip = int("skip", 0);
  if (limit < 0 || limit > 200) throw new ApiError(400, Messages.listLimitOutOfRange(collection, limit, 200));
  if (limit === 0) limit = 200;
  if (skip < 0) throw new ApiError(400, Messages.listSkipOutOfRange(collection, skip));
  return { limit, skip, count: q.get("count") === "true" };
}

export function overwrite(call: Call): boolean {
  return call.req.query.get("overwrite") === "true";
}

export function nextVersion(v: unknown): string {
  const parts = String(v ?? "0.0.0")
    .split(".")
    .map((x) => Number(x) || 0);
  while (parts.length < 3) parts.push(0);
  parts[2]! += 1;
  return parts.slice(0, 3).join(".");
}

const MAX_PARAMETERS_BYTES = 1024 * 1024;

/** Parameters of an entity are limited to 1 MB in all, as in a stock deployment. */
export function checkParametersSize(list: unknown): void {
  if (list === undefined) return;
  const size = Buffer.byteLength(JSON.stringify(list));
  if (size > MAX_PARAMETERS_BYTES) {
    throw new ApiError(413, `Parameters larger than allowed: ${size} > ${MAX_PARAMETERS_BYTES} bytes.`);
  }
}
