// /namespaces/{ns}/activations: list (with name/since/upto filters), get, logs and result.
import { ApiError, Messages } from "../errors.ts";
import type { Activation } from "../store/activations.ts";
import type { ApiReply } from "../http/server.ts";
import { listOptions, requireOwn, type Call } from "./common.ts";

const NAME_FILTER = /^(\w[\w@ .-]*)(\/\w[\w@ .-]*)?$/;

function epoch(call: Call, name: string): number | undefined {
  const raw = call.req.query.get(name);
  if (raw === null || raw === "") return undefined;
  if (!/^\d+$/.test(raw)) throw new ApiError(400, Messages.badEpoch(raw));
  return Number(raw);
}

/**
 * A record as the API shows it: OpenWhisk keeps the numeric `statusCode` of the response to itself
 * (it is stored, and it is what the list view reports) and answers with `status` and `success`.
 */
export function presented(a: Activation): Activation {
  const { statusCode: _, ...response } = a.response as Record<string, unknown>;
  return { ...a, response };
}

/**
 * A list entry without docs=true, field by field as OpenWhisk's activations view summarises a
 * record: no subject, logs or response; `end`, `duration` and `statusCode` only for records that
 * ended — a trigger activation never does.
 */
function summary(a: Activation): Record<string, unknown> {
  const ended = typeof a.end === "number" && a.end !== 0;
  return {
    namespace: a.namespace,
    name: a.name,
    version: a.version,
    publish: a.publish,
    annotations: a.annotations,
    activationId: a.activationId,
    start: a.start,
    ...(ended ? { end: a.end, duration: a.duration ?? (a.end as number) - a.start } : {}),
    ...(a.cause !== undefined ? { cause: a.cause } : {}),
    ...(ended ? { statusCode: (a.response as { statusCode?: number }).statusCode ?? 0 } : {}),
  };
}

export function listActivations(call: Call): ApiReply {
  requireOwn(call);
  const { limit, skip, count } = listOptions(call, "activations");
  const docs = call.req.query.get("docs") === "true";
  if (docs && count) throw new ApiError(400, Messages.docsNotAllowedWithCount);
  const name = call.req.query.get("name") ?? undefined;
  if (name !== undefined && !NAME_FILTER.test(name)) throw new ApiError(400, Messages.badNameFilter(name));
  const filter = { name, since: epoch(call, "since"), upto: epoch(call, "upto") };
  if (count) return { status: 200, body: { activations: call.s.activations.count(call.ns, filter) } };
  const list = call.s.activations.list(call.ns, { ...filter, limit, skip }, !docs);
  return { status: 200, body: docs ? list.map(presented) : list.map(summary) };
}

export function getActivation(call: Call, id: string, part?: string): ApiReply {
  requireOwn(call);
  if (!/^[0-9a-f]{32}$/.test(id)) throw new ApiError(400, Messages.activationIdIllegal);
  const a = call.s.activations.get(call.ns, id);
  if (!a) throw new ApiError(404, Messages.notFound);
  if (part === undefined) return { status: 200, body: presented(a) };
  if (part === "logs") return { status: 200, body: { logs: a.logs } };
  if (part === "result") return { status: 200, body: presented(a).response };
  throw new ApiError(404, Messages.notFound);
}
