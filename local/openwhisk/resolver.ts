// Finds the action behind a name as the caller sees it: in its own namespace, in a package, through
// a package binding, or in another namespace's public package; collects the parameters in
// OpenWhisk's precedence (package < binding < action) and checks the caller may use it.
import { ApiError, Messages } from "./errors.ts";
import type { Identity } from "./auth.ts";
import type { Doc, EntityStore } from "./store/entities.ts";
import type { KeyValue } from "./params.ts";
import { toObject } from "./params.ts";
import type { QualifiedName } from "./names.ts";

export interface ResolvedAction {
  doc: Doc;
  /** where the action really lives (after following a binding) */
  where: QualifiedName;
  /** package, binding and action parameters merged in precedence order */
  params: Record<string, unknown>;
  annotations: KeyValue[];
  /** the package binding the caller named, when the action was reached through one */
  binding?: PackageRef;
}

export interface PackageRef {
  namespace: string;
  name: string;
}

export function canRead(identity: Identity, ns: string, doc: Doc): boolean {
  return ns === identity.namespace || doc.publish === true;
}

export function getPackage(store: EntityStore, ns: string, name: string): Doc | undefined {
  const s = store.get(ns, name);
  return s && s.collection === "packages" ? s.doc : undefined;
}

/** The package a package name stands for: itself, or the package a binding points at. */
export function followBinding(store: EntityStore, identity: Identity, ns: string, name: string): { pkg: Doc; bound?: Doc; at: PackageRef } {
  const pkg = getPackage(store, ns, name);
  if (!pkg) throw new ApiError(404, Messages.notFound);
  if (!canRead(identity, ns, pkg)) throw new ApiError(403, Messages.forbidden);
  const b = pkg.binding as { namespace?: string; name?: string } | undefined;
  if (!b?.namespace || !b.name) return { pkg, at: { namespace: ns, name } };
  const target = getPackage(store, b.namespace, b.name);
  if (!target) throw new ApiError(404, Messages.notFound);
  if (!canRead(identity, b.namespace, target)) throw new ApiError(403, Messages.forbidden);
  return { pkg: target, bound: pkg, at: { namespace: b.namespace, name: b.name } };
}

export function resolveAction(store: EntityStore, identity: Identity, q: QualifiedName): ResolvedAction {
  if (!q.pkg) {
    if (q.namespace !== identity.namespace) throw new ApiError(403, Messages.forbidden);
    const s = store.get(q.namespace, q.name);
    if (s?.collection !== "actions") throw new ApiError(404, Messages.notFound);
    return {
      doc: s.doc,
      where: q,
      params: toObject(s.doc.parameters as KeyValue[]),
      annotations: (s.doc.annotations as KeyValue[]) ?? [],
    };
  }
  const { pkg, bound, at } = followBinding(store, identity, q.namespace, q.pkg);
  const s = store.get(at.namespace, `${at.name}/${q.name}`);
  if (s?.collection !== "actions") throw new ApiError(404, Messages.notFound);
  return {
    doc: s.doc,
    where: { namespace: at.namespace, pkg: at.name, name: q.name },
    params: {
      ...toObject(pkg.parameters as KeyValue[]),
      ...toObject(bound?.parameters as KeyValue[]),
      ...toObject(s.doc.parameters as KeyValue[]),
    },
    annotations: (s.doc.annotations as KeyValue[]) ?? [],
    ...(bound ? { binding: { namespace: q.namespace, name: q.pkg } } : {}),
  };
}
