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

/** A list entry without docs=true: the record without logs and result, as OpenWhisk lists them. */
function summary(a: Activation): Record<string, unknown> {
  const { logs: _l, response, ...rest } = a;
  return { ...rest, statusCode: (response as { statusCode?: number }).statusCode ?? 0 };
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
  const list = call.s.activations.list(call.ns, { ...filter, limit, skip });
  return { status: 200, body: docs ? list : list.map(summary) };
}

export function getActivation(call: Call, id: string, part?: string): ApiReply {
  requireOwn(call);
  if (!/^[0-9a-f]{32}$/.test(id)) throw new ApiError(400, Messages.activationIdIllegal);
  const a = call.s.activations.get(call.ns, id);
  if (!a) throw new ApiError(404, Messages.notFound);
  if (part === undefined) return { status: 200, body: a };
  if (part === "logs") return { status: 200, body: { logs: a.logs } };
  if (part === "result") return { status: 200, body: a.response };
  throw new ApiError(404, Messages.notFound);
}
