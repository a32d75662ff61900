// /namespaces/{ns}/rules: rules connect a trigger to an action (or sequence); POST sets their state.
import { ApiError, Messages } from "../errors.ts";
import { checkName, parseQualified } from "../names.ts";
import type { KeyValue } from "../params.ts";
import { resolveAction } from "../resolver.ts";
import type { Doc } from "../store/entities.ts";
import type { ApiReply } from "../http/server.ts";
import { checkBody, keyValueList, listOptions, nextVersion, overwrite, requireOwn, validator, type Call } from "./common.ts";

interface RuleBody {
  trigger?: string;
  action?: string;
  annotations?: KeyValue[];
  status?: string;
  publish?: boolean;
}

const validateRule = validator<RuleBody>({
  type: "object",
  properties: {
    trigger: { type: "string" },
    action: { type: "string" },
    annotations: keyValueList,
    status: { type: "string" },
    publish: { type: "boolean" },
  },
});

const validateState = validator<{ status: "active" | "inactive" }>({
  type: "object",
  required: ["status"],
  properties: { status: { enum: ["active", "inactive"] } },
});

/** Rules of namespace `call.ns` whose trigger is `trigger`. */
export function rulesOf(call: Call, trigger: string): Doc[] {
  return call.s.store
    .list(call.ns, "rules", 1_000_000, 0)
    .filter((r) => (r.trigger as { path: string; name: string }).name === trigger && (r.trigger as { path: string }).path === call.ns);
}

function getRule(call: Call, name: string): Doc {
  requireOwn(call);
  const s = call.s.store.get(call.ns, checkName(name));
  if (s?.collection !== "rules") throw new ApiError(404, Messages.notFound);
  return s.doc;
}

export function listRules(call: Call): ApiReply {
  requireOwn(call);
  const { limit, skip, count } = listOptions(call, "rules");
  if (count) return { status: 200, body: { rules: call.s.store.count(call.ns, "rules") } };
  return { status: 200, body: call.s.store.list(call.ns, "rules", limit, skip) };
}

export function getRuleDoc(call: Call, name: string): ApiReply {
  return { status: 200, body: getRule(call, name) };
}

export function putRule(call: Call, name: string): ApiReply {
  requireOwn(call);
  checkName(name);
  const body = checkBody(validateRule, call.req.body, "rule");
  const existing = call.s.store.get(call.ns, name);
  if (existing && existing.collection !== "rules") throw new ApiError(409, Messages.conformance);
  if (existing && !overwrite(call)) throw new ApiError(409, Messages.exists);
  const old = existing?.doc;
  if (!old && (!body.trigger || !body.action)) {
    throw new ApiError(
      400,
      'The request content was malformed: a rule needs both trigger and action, e.g. {"trigger":"/_/t","action":"/_/a"}.',
    );
  }
  let trigger = old?.trigger as { path: string; name: string } | undefined;
  if (body.trigger) {
    const t = parseQualified(body.trigger, call.identity.namespace);
    if (t.pkg || t.namespace !== call.ns)
      throw new ApiError(400, `The trigger of a rule must be a trigger of namespace ${call.ns}, not ${body.trigger}.`);
    const s = call.s.store.get(t.namespace, t.name);
    if (s?.collection !== "triggers") throw new ApiError(404, Messages.notFound);
    trigger = { path: t.namespace, name: t.name };
  }
  let action = old?.action as { path: string; name: string } | undefined;
  if (body.action) {
    const a = parseQualified(body.action, call.identity.namespace);
    resolveAction(call.s.store, call.identity, a);
    action = { path: a.pkg ? `${a.namespace}/${a.pkg}` : a.namespace, name: a.name };
  }
  const status = body.status === "inactive" ? "inactive" : body.status === "active" ? "active" : ((old?.status as string) ?? "active");
  const doc: Doc = {
    namespace: call.ns,
    name,
    version: old ? nextVersion(old.version) : "0.0.1",
    publish: body.publish ?? (old?.publish as boolean | undefined) ?? false,
    annotations: body.annotations ?? old?.annotations ?? [],
    status,
    trigger,
    action,
    updated: Date.now(),
  };
  call.s.store.put(call.ns, name, "rules", doc);
  return { status: 200, body: doc };
}

export function deleteRule(call: Call, name: string): ApiReply {
  const doc = getRule(call, name);
  call.s.store.delete(call.ns, name);
  return { status: 200, body: doc };
}

export function setRuleState(call: Call, name: string): ApiReply {
  const doc = getRule(call, name);
  const { status } = checkBody(validateState, call.req.body, 'rule state (give {"status":"active"} or {"status":"inactive"})');
  const t = doc.trigger as { path: string; name: string };
  const trigger = call.s.store.get(t.path, t.name);
  if (trigger?.collection !== "triggers") throw new ApiError(404, Messages.ruleWithoutTrigger);
  if (doc.status !== status) call.s.store.put(call.ns, name, "rules", { ...doc, status, updated: doc.updated });
  // OpenWhisk completes a state change with a bare 200, whose body akka-http fills with the status
  // text; the rule with its new status is a GET away.
  return { status: 200, body: "OK", raw: true, headers: { "content-type": "text/plain; charset=UTF-8" } };
}
