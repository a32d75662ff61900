// Entity names and fully qualified names ("/ns/[pkg/]name"), validated the way OpenWhisk does.
import { ApiError, Messages } from "./errors.ts";

const NAME = /^(\w|\w[\w@ .-]*[\w@.-]+)$/;
const MAX_NAME = 256;

export function checkName(name: string): string {
  if (!name || name.length > MAX_NAME || !NAME.test(name)) throw new ApiError(400, Messages.entityNameIllegal);
  return name;
}

export function checkNamespace(ns: string): string {
  if (ns !== "_" && (!ns || ns.length > MAX_NAME || !NAME.test(ns))) throw new ApiError(400, Messages.namespaceIllegal);
  return ns;
}

export interface QualifiedName {
  namespace: string;
  /** undefined for an entity outside a package */
  pkg?: string;
  name: string;
}

/**
 * Parses "/ns/name", "/ns/pkg/name", "name" or "pkg/name" (the last two in the caller's namespace);
 * "_" stands for the caller's namespace.
 */
export function parseQualified(ref: string, callerNs: string): QualifiedName {
  if (typeof ref !== "string" || ref.length === 0)
    throw new ApiError(400, "An entity name must be a non-empty string like /namespace/name.");
  const absolute = ref.startsWith("/");
  const parts = (absolute ? ref.slice(1) : ref).split("/");
  let ns: string;
  let rest: string[];
  if (absolute) {
    if (parts.length < 2 || parts.length > 3) {
      throw new ApiError(400, `'${ref}' is not a fully qualified name: use /namespace/name or /namespace/package/name.`);
    }
    ns = parts[0] === "_" ? callerNs : checkNamespace(parts[0]!);
    rest = parts.slice(1);
  } else {
    if (parts.length > 2) throw new ApiError(400, `'${ref}' has too many parts: use name, package/name or /namespace/package/name.`);
    ns = callerNs;
    rest = parts;
  }
  rest.forEach(checkName);
  return rest.length === 2 ? { namespace: ns, pkg: rest[0]!, name: rest[1]! } : { namespace: ns, name: rest[0]! };
}

export function fullName(q: QualifiedName): string {
  return q.pkg ? `/${q.namespace}/${q.pkg}/${q.name}` : `/${q.namespace}/${q.name}`;
}
