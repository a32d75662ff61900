// Maps method + path to the resource handlers, after authenticating the caller.
import { ApiError, Messages } from "../errors.ts";
import type { Authenticator } from "../auth.ts";
import type { ApiReply, ApiRequest, BodyLimit, Router } from "../http/server.ts";
import { resolveNamespace, requireOwn, type Call, type Services } from "./common.ts";
import { deleteAction, getAction, invokeAction, listActions, putAction } from "./actions.ts";
import { deletePackage, getPackageDoc, listPackages, putPackage } from "./packages.ts";
import { deleteTrigger, fireTrigger, getTriggerDoc, listTriggers, putTrigger } from "./triggers.ts";
import { deleteRule, getRuleDoc, listRules, putRule, setRuleState } from "./rules.ts";
import { getActivation, listActivations } from "./activations.ts";
import { webAction } from "./web.ts";
import { actionListItem, packageListItem, triggerListItem } from "./list-views.ts";

const notFound = (): never => {
  throw new ApiError(404, Messages.notFound);
};
const notAllowed = (method: string): never => {
  throw new ApiError(405, `HTTP method ${method} is not allowed on this resource.`);
};

/** Bodies of invokes, fires and rule state changes: the activation entity limit of a stock deployment. */
export const MAX_ACTIVATION_BODY_BYTES = 1024 * 1024;

/**
 * The body limit of a request, known from its path before the body is read. As in OpenWhisk the
 * caller is authenticated first (401 beats 413), and the size is checked before the entity is
 * looked up (413 beats 404).
 */
export function createBodyLimit(auth: Authenticator): BodyLimit {
  return ({ method, segments, headers }) => {
    const activates =
      method === "POST" &&
      segments[0] === "api" &&
      segments[1] === "v1" &&
      segments[2] === "namespaces" &&
      ["actions", "triggers", "rules"].includes(segments[4]!) &&
      segments.length > 5;
    if (!activates) return undefined;
    auth.authenticate(headers.authorization);
    return MAX_ACTIVATION_BODY_BYTES;
  };
}

export function createRouter(auth: Authenticator, s: Services, apiHost: () => string): Router {
  return (req: ApiRequest): ApiReply | Promise<ApiReply> => {
    const seg = req.segments;
    if (seg[0] !== "api" || seg[1] !== "v1") {
      if (seg.length === 0 && req.method === "GET") return { status: 200, body: { api_paths: ["/api/v1"], description: "OpenWhisk" } };
      return notFound();
    }
    if (seg.length === 2 && req.method === "GET") {
      return {
        status: 200,
        body: {
          api_paths: ["/api/v1"],
          description: "OpenWhisk API",
          api_version: "1.0.0",
          api_version_path: "v1",
          build: "local",
          buildno: "local",
          runtimes: { nodejs: [{ kind: "nodejs:20", default: true, deprecated: false }] },
          limits: { ...s.throttles.limits, max_action_duration: 300000, max_action_memory: 536870912, max_action_logs: 10485760 },
          host: apiHost(),
        },
      };
    }
    if (seg[2] === "web") return webAction(req, seg.slice(3), auth, s);
    const identity = auth.authenticate(req.headers.authorization);
    if (seg[2] !== "namespaces") return notFound();
    if (seg.length === 3) {
      if (req.method !== "GET") return notAllowed(req.method);
      return { status: 200, body: [identity.namespace] };
    }
    const { ns, own } = resolveNamespace(identity, seg[3]!);
    const call: Call = { req, identity, ns, own, s };
    const collection = seg[4];
    const rest = seg.slice(5);
    const m = req.method;
    switch (collection) {
      case undefined:
        requireOwn(call);
        if (m !== "GET") return notAllowed(m);
        return {
          status: 200,
          body: {
            actions: s.store.list(ns, "actions", 200, 0).map(actionListItem),
            packages: s.store.list(ns, "packages", 200, 0).map(packageListItem),
            triggers: s.store.list(ns, "triggers", 200, 0).map(triggerListItem),
            rules: s.store.list(ns, "rules", 200, 0),
          },
        };
      case "actions":
        if (rest.length === 0) return m === "GET" ? listActions(call) : notAllowed(m);
        if (rest.length === 1 && req.trailingSlash && m === "GET") return listActions(call, rest[0]);
        if (m === "GET") return getAction(call, rest);
        if (m === "PUT") return putAction(call, rest);
        if (m === "DELETE") return deleteAction(call, rest);
        if (m === "POST") return invokeAction(call, rest);
        return notAllowed(m);
      case "packages":
        if (rest.length === 0) return m === "GET" ? listPackages(call) : notAllowed(m);
        if (rest.length !== 1) return notFound();
        if (m === "GET") return getPackageDoc(call, rest[0]!);
        if (m === "PUT") return putPackage(call, rest[0]!);
        if (m === "DELETE") return deletePackage(call, rest[0]!);
        return notAllowed(m);
      case "triggers":
        if (rest.length === 0) return m === "GET" ? listTriggers(call) : notAllowed(m);
        if (rest.length !== 1) return notFound();
        if (m === "GET") return getTriggerDoc(call, rest[0]!);
        if (m === "PUT") return putTrigger(call, rest[0]!);
        if (m === "DELETE") return deleteTrigger(call, rest[0]!);
        if (m === "POST") return fireTrigger(call, rest[0]!);
        return notAllowed(m);
      case "rules":
        if (rest.length === 0) return m === "GET" ? listRules(call) : notAllowed(m);
        if (rest.length !== 1) return notFound();
        if (m === "GET") return getRuleDoc(call, rest[0]!);
        if (m === "PUT") return putRule(call, rest[0]!);
        if (m === "DELETE") return deleteRule(call, rest[0]!);
        if (m === "POST") return setRuleState(call, rest[0]!);
        return notAllowed(m);
      case "activations":
        if (m !== "GET") return notAllowed(m);
        if (rest.length === 0) return listActivations(call);
        if (rest.length > 2) return notFound();
        return getActivation(call, rest[0]!, rest[1]);
      case "limits":
        requireOwn(call);
        if (m !== "GET") return notAllowed(m);
        return { status: 200, body: { ...s.throttles.limits } };
      default:
        return notFound();
    }
  };
}
