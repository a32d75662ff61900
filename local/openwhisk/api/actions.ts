// /namespaces/{ns}/actions: list, get, create/update, delete and invoke actions (code, zip and
// sequence actions, in or out of packages).
import { ApiError, Messages } from "../errors.ts";
import { checkName, fullName, parseQualified, type QualifiedName } from "../names.ts";
import { checkFinal, withDefault, withEntry, type KeyValue } from "../params.ts";
import { followBinding, getPackage, resolveAction, type ResolvedAction } from "../resolver.ts";
import type { Doc } from "../store/entities.ts";
import { httpStatusOf } from "../invoker/invoker.ts";
import type { ApiReply } from "../http/server.ts";
import { presented } from "./activations.ts";
import { actionListItem } from "./list-views.ts";
import {
  checkBody,
  checkParametersSize,
  keyValueList,
  listOptions,
  nextVersion,
  overwrite,
  requireOwn,
  validator,
  type Call,
} from "./common.ts";

const KINDS = ["nodejs:18", "nodejs:20", "nodejs:22"];
const DEFAULT_KIND = "nodejs:20";
const LIMIT_RANGES = {
  timeout: { min: 100, max: 300_000, unit: "milliseconds" },
  memory: { min: 128, max: 512, unit: "MB" },
  logs: { min: 0, max: 10, unit: "MB" },
  // intra-container concurrency, on as deployments that enable it configure it (e.g. 1–500)
  concurrency: { min: 1, max: 500, unit: "activations" },
} as const;
export const DEFAULT_LIMITS = { timeout: 60_000, memory: 256, logs: 10, concurrency: 1 };
const MAX_SEQUENCE = 50;
const MAX_CODE_BYTES = 48 * 1024 * 1024;
const MAX_WAIT_MS = 60_000;

interface ActionBody {
  exec?: { kind: string; code?: string; main?: string; binary?: boolean; components?: string[] };
  parameters?: KeyValue[];
  annotations?: KeyValue[];
  limits?: Partial<typeof DEFAULT_LIMITS>;
  publish?: boolean;
}

const validateAction = validator<ActionBody>({
  type: "object",
  properties: {
    exec: {
      type: "object",
      required: ["kind"],
      properties: {
        kind: { type: "string" },
        code: { type: "string" },
        main: { type: "string" },
        binary: { type: "boolean" },
        components: { type: "array", items: { type: "string" } },
      },
    },
    parameters: keyValueList,
    annotations: keyValueList,
    limits: {
      type: "object",
      properties: Object.fromEntries(Object.keys(LIMIT_RANGES).map((k) => [k, { type: "integer" }])),
    },
    publish: { type: "boolean" },
  },
});

/** "guest/pkg/a" → {ns, pkg, name} from the path segments after `actions`. */
function actionName(call: Call, rest: string[]): QualifiedName {
  if (rest.length === 1) return { namespace: call.ns, name: checkName(rest[0]!) };
  if (rest.length === 2) return { namespace: call.ns, pkg: checkName(rest[0]!), name: checkName(rest[1]!) };
  throw new ApiError(400, "An action path is actions/name or actions/package/name.");
}

function docName(q: QualifiedName): string {
  return q.pkg ? `${q.pkg}/${q.name}` : q.name;
}

function isZip(code: string): boolean {
  // The controller decides `binary`: base64 text whose bytes start like a zip archive.
  if (code.length < 8 || !/^[A-Za-z0-9+/\r\n]+={0,2}\s*$/.test(code.slice(0, 4096))) return false;
  const head = Buffer.from(code.slice(0, 8), "base64");
  return head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

function checkLimits(given: ActionBody["limits"], base: typeof DEFAULT_LIMITS): typeof DEFAULT_LIMITS {
  const out = { ...base, ...given };
  for (const [k, r] of Object.entries(LIMIT_RANGES)) {
    const v = out[k as keyof typeof out];
    if (k === "concurrency" && (v < r.min || v > r.max)) {
      // OpenWhisk's own text (ConcurrencyLimit), which clients show as it is
      const why = v < r.min ? `below allowed threshold of ${r.min}` : `exceeds allowed threshold of ${r.max}`;
      throw new ApiError(400, `The request content was malformed:\nconcurrency ${v} ${why}`);
    }
    if (v < r.min || v > r.max) {
      throw new ApiError(400, `limits.${k} is ${v} but must be between ${r.min} and ${r.max} ${r.unit}.`);
    }
  }
  return out;
}

export function listActions(call: Call, pkg?: string): ApiReply {
  const { limit, skip, count } = listOptions(call, "actions");
  if (pkg !== undefined) {
    const { at } = followBinding(call.s.store, call.identity, call.ns, checkName(pkg));
    const docs = call.s.store.inPackage(at.namespace, at.name);
    if (count) return { status: 200, body: { actions: docs.length } };
    return { status: 200, body: docs.slice(skip, skip + limit).map(actionListItem) };
  }
  requireOwn(call);
  if (count) return { status: 200, body: { actions: call.s.store.count(call.ns, "actions") } };
  return { status: 200, body: call.s.store.list(call.ns, "actions", limit, skip).map(actionListItem) };
}

export function getAction(call: Call, rest: string[]): ApiReply {
  const q = actionName(call, rest);
  const { doc } = resolveAction(call.s.store, call.identity, q);
  if (call.req.query.get("code") === "false") {
    const { code: _, ...exec } = doc.exec as Record<string, unknown>;
    return { status: 200, body: { ...doc, exec } };
  }
  return { status: 200, body: doc };
}

function resolveComponents(call: Call, self: QualifiedName, components: string[]): string[] {
  if (components.length === 0) throw new ApiError(400, Messages.sequenceNoComponent);
  if (components.length > MAX_SEQUENCE) throw new ApiError(400, Messages.sequenceTooLong);
  const selfName = fullName(self);
  const out: string[] = [];
  for (const ref of components) {
    const q = parseQualified(ref, call.identity.namespace);
    let target: ResolvedAction;
    try {
      target = resolveAction(call.s.store, call.identity, q);
    } catch {
      throw new ApiError(400, Messages.sequenceComponentNotFound);
    }
    if (fullName(q) === selfName || reaches(call, target, selfName, 0)) throw new ApiError(400, Messages.sequenceCyclic);
    out.push(fullName(q));
  }
  return out;
}

/** Does a sequence (transitively) contain the action named `selfName`? */
function reaches(call: Call, a: ResolvedAction, selfName: string, depth: number): boolean {
  const exec = a.doc.exec as { kind: string; components?: string[] };
  if (exec.kind !== "sequence" || depth > MAX_SEQUENCE) return false;
  if (fullName(a.where) === selfName) return true;
  for (const ref of exec.components ?? []) {
    if (ref === selfName) return true;
    try {
      if (reaches(call, resolveAction(call.s.store, call.identity, parseQualified(ref, call.identity.namespace)), selfName, depth + 1))
        return true;
    } catch {
      // a dangling component cannot lead back to us
    }
  }
  return false;
}

function buildExec(call: Call, q: QualifiedName, exec: NonNullable<ActionBody["exec"]>): Record<string, unknown> {
  if (exec.kind === "sequence") {
    const components = resolveComponents(call, q, exec.components ?? []);
    return { kind: "sequence", components };
  }
  const kind = exec.kind === "nodejs:default" ? DEFAULT_KIND : exec.kind;
  if (!KINDS.includes(kind)) throw new ApiError(400, Messages.invalidRuntime(exec.kind, [...KINDS, "nodejs:default", "sequence"]));
  if (typeof exec.code !== "string") throw new ApiError(400, "exec.code is missing: give the action's JavaScript source, or a base64 zip.");
  if (Buffer.byteLength(exec.code) > MAX_CODE_BYTES) {
    throw new ApiError(413, `exec.code larger than allowed: ${Buffer.byteLength(exec.code)} > ${MAX_CODE_BYTES} bytes.`);
  }
  const binary = exec.binary === true || isZip(exec.code);
  return { kind, code: exec.code, binary, ...(exec.main ? { main: exec.main } : {}) };
}

export function putAction(call: Call, rest: string[]): ApiReply {
  requireOwn(call);
  const q = actionName(call, rest);
  const body = checkBody(validateAction, call.req.body, "action");
  checkParametersSize(body.parameters);
  if (q.pkg) {
    const pkg = getPackage(call.s.store, call.ns, q.pkg);
    if (!pkg) throw new ApiError(404, Messages.notFound);
    if ((pkg.binding as { name?: string })?.name) throw new ApiError(400, Messages.notAllowedOnBinding);
  }
  const name = docName(q);
  const existing = call.s.store.get(call.ns, name);
  if (existing && existing.collection !== "actions") throw new ApiError(409, Messages.conformance);
  if (existing && !overwrite(call)) throw new ApiError(409, Messages.exists);
  const old = existing?.doc;
  if (!old && !body.exec)
    throw new ApiError(400, 'exec undefined: a new action needs exec {kind, code} or {kind: "sequence", components}.');
  const exec = body.exec ? buildExec(call, q, body.exec) : (old!.exec as Record<string, unknown>);
  let parameters = (body.parameters ?? (old?.parameters as KeyValue[] | undefined) ?? []).map((p) => ({
    key: p.key,
    value: p.value,
    ...(p.init ? { init: true } : {}),
  }));
  if (exec.kind === "sequence")
    parameters = withEntry(
      parameters.filter((p) => p.key !== "_actions"),
      "_actions",
      exec.components,
    );
  let annotations = body.annotations ?? (old?.annotations as KeyValue[] | undefined) ?? [];
  annotations = withEntry(annotations, "exec", exec.kind);
  if (!old) annotations = withDefault(annotations, "provide-api-key", false);
  const doc: Doc = {
    namespace: q.pkg ? `${call.ns}/${q.pkg}` : call.ns,
    name: q.name,
    version: old ? nextVersion(old.version) : "0.0.1",
    publish: body.publish ?? (old?.publish as boolean | undefined) ?? false,
    exec,
    parameters,
    limits: checkLimits(body.limits, (old?.limits as typeof DEFAULT_LIMITS) ?? DEFAULT_LIMITS),
    annotations,
    updated: Date.now(),
  };
  call.s.store.put(call.ns, name, "actions", doc);
  call.s.pool.forget(`${fullName(q)}@`);
  return { status: 200, body: doc };
}

export function deleteAction(call: Call, rest: string[]): ApiReply {
  requireOwn(call);
  const q = actionName(call, rest);
  const existing = call.s.store.get(call.ns, docName(q));
  if (existing?.collection !== "actions") throw new ApiError(404, Messages.notFound);
  call.s.store.delete(call.ns, docName(q));
  call.s.pool.forget(`${fullName(q)}@`);
  return { status: 200, body: existing.doc };
}

export async function invokeAction(call: Call, rest: string[]): Promise<ApiReply> {
  const receivedAt = performance.now();
  const q = actionName(call, rest);
  const query = call.req.query;
  const blocking = query.get("blocking") === "true";
  const resultOnly = query.get("result") === "true";
  let waitMs = call.s.blockingWaitMs;
  const t = query.get("timeout");
  if (t !== null) {
    waitMs = Number(t);
    if (!/^\d+$/.test(t) || waitMs < 1 || waitMs > MAX_WAIT_MS) throw new ApiError(400, Messages.invalidTimeout(MAX_WAIT_MS));
  }
  const payload = call.req.body ?? {};
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    throw new ApiError(400, "The request content was malformed: the invoke payload must be a JSON object.");
  }
  const action = resolveAction(call.s.store, call.identity, q);
  checkFinal(action.annotations, action.params, payload as Record<string, unknown>);
  const finished = call.s.throttles.startInvocation(call.identity.namespace);
  const run = call.s.invoker.invoke({
    identity: call.identity,
    action,
    payload: payload as Record<string, unknown>,
    receivedAt,
    topmost: true,
  });
  void run.done.finally(finished);
  const headers = { "x-openwhisk-activation-id": run.activationId };
  if (!blocking) return { status: 202, body: { activationId: run.activationId }, headers };
  let timer: NodeJS.Timeout | undefined;
  const rec = await Promise.race([
    run.done,
    new Promise<undefined>((res) => {
      timer = setTimeout(() => res(undefined), waitMs);
    }),
  ]);
  clearTimeout(timer);
  if (!rec) return { status: 202, body: { activationId: run.activationId }, headers };
  const status = httpStatusOf(rec);
  return { status, body: resultOnly ? (rec.response as { result: unknown }).result : presented(rec), headers };
}
