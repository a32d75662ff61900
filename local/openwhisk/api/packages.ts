// /namespaces/{ns}/packages: packages and package bindings. Another namespace's packages are
// visible only when published.
import { ApiError, Messages } from "../errors.ts";
import { checkName } from "../names.ts";
import type { KeyValue } from "../params.ts";
import { canRead, getPackage } from "../resolver.ts";
import type { Doc } from "../store/entities.ts";
import type { ApiReply } from "../http/server.ts";
import { packageListItem } from "./list-views.ts";
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

const RESERVED = ["default"];

interface PackageBody {
  parameters?: KeyValue[];
  annotations?: KeyValue[];
  publish?: boolean;
  binding?: { namespace?: string; name?: string };
}

const validatePackage = validator<PackageBody>({
  type: "object",
  properties: {
    parameters: keyValueList,
    annotations: keyValueList,
    publish: { type: "boolean" },
    binding: { type: "object", properties: { namespace: { type: "string" }, name: { type: "string" } } },
  },
});

/** `over` wins over `under` key by key; keys keep the order of their first appearance. */
function mergeParameters(under: KeyValue[] = [], over: KeyValue[] = []): KeyValue[] {
  const own = new Map(over.map((p) => [p.key, p]));
  return [...under.map((p) => own.get(p.key) ?? p), ...over.filter((p) => !under.some((u) => u.key === p.key))];
}

function isBinding(doc: Doc): boolean {
  return Boolean((doc.binding as { name?: string } | undefined)?.name);
}

export function listPackages(call: Call): ApiReply {
  const { limit, skip, count } = listOptions(call, "packages");
  // Another namespace shows only what it published (e.g. /whisk.system's utils).
  const all = call.s.store.list(call.ns, "packages", call.own ? limit : 10_000, call.own ? skip : 0);
  const visible = call.own ? all : all.filter((d) => d.publish === true && !isBinding(d)).slice(skip, skip + limit);
  if (count) return { status: 200, body: { packages: call.own ? call.s.store.count(call.ns, "packages") : visible.length } };
  return { status: 200, body: visible.map(packageListItem) };
}

export function getPackageDoc(call: Call, name: string): ApiReply {
  checkName(name);
  const doc = getPackage(call.s.store, call.ns, name);
  if (!doc) throw new ApiError(404, Messages.notFound);
  if (!canRead(call.identity, call.ns, doc)) throw new ApiError(403, Messages.forbidden);
  let at = { namespace: call.ns, name };
  let shown = doc;
  if (isBinding(doc)) {
    at = doc.binding as { namespace: string; name: string };
    // A binding shows what an invoke through it gets: the bound package's parameters under its own.
    const bound = getPackage(call.s.store, at.namespace, at.name);
    if (bound) shown = { ...doc, parameters: mergeParameters(bound.parameters as KeyValue[], doc.parameters as KeyValue[]) };
  }
  const members = call.s.store.inPackage(at.namespace, at.name);
  const summary = (d: Doc) => ({ name: d.name, version: d.version, annotations: d.annotations });
  const isFeed = (d: Doc) => ((d.annotations as KeyValue[]) ?? []).some((a) => a.key === "feed");
  return {
    status: 200,
    body: { ...shown, actions: members.filter((d) => !isFeed(d)).map(summary), feeds: members.filter(isFeed).map(summary) },
  };
}

export function putPackage(call: Call, name: string): ApiReply {
  requireOwn(call);
  checkName(name);
  if (RESERVED.includes(name)) throw new ApiError(403, Messages.packageNameIsReserved(name));
  const body = checkBody(validatePackage, call.req.body, "package");
  checkParametersSize(body.parameters);
  const existing = call.s.store.get(call.ns, name);
  if (existing && existing.collection !== "packages") throw new ApiError(409, Messages.conformance);
  if (existing && !overwrite(call)) throw new ApiError(409, Messages.exists);
  const old = existing?.doc;
  let binding: Record<string, string> = (old?.binding as Record<string, string>) ?? {};
  if (body.binding?.name) {
    if (old && !isBinding(old)) throw new ApiError(409, Messages.packageCannotBecomeBinding);
    const bns = !body.binding.namespace || body.binding.namespace === "_" ? call.identity.namespace : body.binding.namespace;
    const target = getPackage(call.s.store, bns, checkName(body.binding.name));
    if (!target) throw new ApiError(400, Messages.bindingDoesNotExist);
    if (!canRead(call.identity, bns, target)) throw new ApiError(403, Messages.forbidden);
    if (isBinding(target)) throw new ApiError(400, Messages.bindingCannotReferenceBinding);
    binding = { namespace: bns, name: body.binding.name };
  }
  const doc: Doc = {
    namespace: call.ns,
    name,
    version: old ? nextVersion(old.version) : "0.0.1",
    publish: body.publish ?? (old?.publish as boolean | undefined) ?? false,
    binding,
    parameters: body.parameters ?? old?.parameters ?? [],
    annotations: body.annotations ?? old?.annotations ?? [],
    updated: Date.now(),
  };
  call.s.store.put(call.ns, name, "packages", doc);
  return { status: 200, body: doc };
}

export function deletePackage(call: Call, name: string): ApiReply {
  requireOwn(call);
  checkName(name);
  const doc = getPackage(call.s.store, call.ns, name);
  if (!doc) throw new ApiError(404, Messages.notFound);
  const members = isBinding(doc) ? [] : call.s.store.inPackage(call.ns, name);
  if (members.length > 0 && call.req.query.get("force") !== "true") throw new ApiError(409, Messages.packageNotEmpty(members.length));
  call.s.store.transaction(() => {
    for (const m of members) call.s.store.delete(call.ns, `${name}/${m.name as string}`);
    call.s.store.delete(call.ns, name);
  });
  for (const m of members) call.s.pool.forget(`/${call.ns}/${name}/${m.name as string}@`);
  return { status: 200, body: doc };
}
