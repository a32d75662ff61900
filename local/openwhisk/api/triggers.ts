// /namespaces/{ns}/triggers: triggers, and firing them through their active rules.
import { ApiError, Messages } from "../errors.ts";
import { checkName, parseQualified } from "../names.ts";
import type { KeyValue } from "../params.ts";
import { toObject } from "../params.ts";
import { resolveAction } from "../resolver.ts";
import type { Doc } from "../store/entities.ts";
import type { ApiReply } from "../http/server.ts";
import { newActivationId } from "../invoker/invoker.ts";
import type { Activation } from "../store/activations.ts";
import type { PlannedRun } from "../invoker/rule-runs.ts";
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
import { rulesOf } from "./rules.ts";
import { triggerListItem } from "./list-views.ts";

interface TriggerBody {
  parameters?: KeyValue[];
  annotations?: KeyValue[];
  publish?: boolean;
  limits?: object;
}

const validateTrigger = validator<TriggerBody>({
  type: "object",
  properties: { parameters: keyValueList, annotations: keyValueList, publish: { type: "boolean" }, limits: { type: "object" } },
});

function getTrigger(call: Call, name: string): Doc {
  requireOwn(call);
  const s = call.s.store.get(call.ns, checkName(name));
  if (s?.collection !== "triggers") throw new ApiError(404, Messages.notFound);
  return s.doc;
}

export function listTriggers(call: Call): ApiReply {
  requireOwn(call);
  const { limit, skip, count } = listOptions(call, "triggers");
  if (count) return { status: 200, body: { triggers: call.s.store.count(call.ns, "triggers") } };
  return { status: 200, body: call.s.store.list(call.ns, "triggers", limit, skip).map(triggerListItem) };
}

export function getTriggerDoc(call: Call, name: string): ApiReply {
  const doc = getTrigger(call, name);
  const rules: Record<string, unknown> = {};
  for (const r of rulesOf(call, name)) rules[`${call.ns}/${r.name as string}`] = { action: r.action, status: r.status };
  return { status: 200, body: Object.keys(rules).length ? { ...doc, rules } : doc };
}

export function putTrigger(call: Call, name: string): ApiReply {
  requireOwn(call);
  checkName(name);
  const body = checkBody(validateTrigger, call.req.body, "trigger");
  checkParametersSize(body.parameters);
  const existing = call.s.store.get(call.ns, name);
  if (existing && existing.collection !== "triggers") throw new ApiError(409, Messages.conformance);
  if (existing && !overwrite(call)) throw new ApiError(409, Messages.exists);
  const old = existing?.doc;
  const doc: Doc = {
    namespace: call.ns,
    name,
    version: old ? nextVersion(old.version) : "0.0.1",
    publish: body.publish ?? (old?.publish as boolean | undefined) ?? false,
    parameters: body.parameters ?? old?.parameters ?? [],
    limits: {},
    annotations: body.annotations ?? old?.annotations ?? [],
    updated: Date.now(),
  };
  call.s.store.put(call.ns, name, "triggers", doc);
  return { status: 200, body: doc };
}

export function deleteTrigger(call: Call, name: string): ApiReply {
  const doc = getTrigger(call, name);
  call.s.store.delete(call.ns, name);
  return { status: 200, body: doc };
}

export function fireTrigger(call: Call, name: string): ApiReply {
  const trigger = getTrigger(call, name);
  const payload = call.req.body ?? {};
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    throw new ApiError(400, "The request content was malformed: a trigger payload must be a JSON object.");
  }
  call.s.throttles.countFire(call.ns);
  const rules = rulesOf(call, name);
  const active = rules.filter((r) => r.status === "active");
  if (active.length === 0) return { status: 204 };
  const args = { ...toObject(trigger.parameters as KeyValue[]), ...(payload as Record<string, unknown>) };
  const activationId = newActivationId();
  const start = Date.now();
  const logs: string[] = [];
  const runs: PlannedRun[] = [];
  for (const rule of active) {
    const ruleName = `${call.ns}/${rule.name as string}`;
    const target = rule.action as { path: string; name: string };
    const actionPath = `${target.path}/${target.name}`;
    try {
      const action = resolveAction(call.s.store, call.identity, parseQualified(`/${actionPath}`, call.ns));
      const finished = call.s.throttles.startInvocation(call.ns);
      const runId = newActivationId();
      runs.push({
        invocation: {
          activationId: runId,
          triggerActivationId: activationId,
          rule: ruleName,
          action: `/${actionPath}`,
          payload: args,
          namespace: call.identity.namespace,
          uuid: call.identity.uuid,
          created: start,
        },
        action,
        identity: call.identity,
        finished,
      });
      logs.push(JSON.stringify({ statusCode: 0, success: true, activationId: runId, rule: ruleName, action: actionPath }));
    } catch (e) {
      const status = e instanceof ApiError ? e.status : 500;
      const error = e instanceof ApiError ? e.message : "The action could not be invoked.";
      // OpenWhisk writes its activation response code here, not the HTTP status: 1 (application
      // error) for a refused 4xx such as 429, 3 (whisk error) for a 5xx.
      logs.push(JSON.stringify({ statusCode: status >= 500 ? 3 : 1, success: false, error, rule: ruleName, action: actionPath }));
    }
  }
  // As OpenWhisk does once one rule is active: each inactive rule gets an entry too.
  for (const rule of rules.filter((r) => r.status !== "active")) {
    const ruleName = `${call.ns}/${rule.name as string}`;
    const target = rule.action as { path: string; name: string };
    const actionPath = `${target.path}/${target.name}`;
    logs.push(
      JSON.stringify({
        statusCode: 1,
        success: false,
        error: `Rule '${ruleName}' is inactive, action '${actionPath}' was not activated.`,
        rule: ruleName,
        action: actionPath,
      }),
    );
  }
  // As in OpenWhisk: the record keeps the payload as fired (the trigger's parameters went only to
  // the rules' actions), and a trigger activation has a start but no end, duration, size or
  // annotations — clients tell trigger rows apart by exactly that.
  const rec: Activation = {
    namespace: call.ns,
    name,
    subject: call.identity.namespace,
    activationId,
    start,
    version: trigger.version as string,
    publish: false,
    logs,
    response: { result: payload, status: "success", statusCode: 0, success: true },
    annotations: [],
  };
  try {
    // Durable before the 202: the provider will not fire these events again.
    call.s.ruleRuns.fire(rec, name, runs);
  } catch (e) {
    call.s.log(`trigger ${call.ns}/${name} not fired: its activation could not be stored: ${(e as Error).message}`);
    throw new ApiError(
      503,
      "The trigger was not fired: the platform could not store its activation. Fire it again later; the platform log says why.",
    );
  }
  return { status: 202, body: { activationId }, headers: { "x-openwhisk-activation-id": activationId } };
}
