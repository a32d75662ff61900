// Which parameters hold credentials: the build marks them in the catalogue annotations and the view
// server masks their values everywhere (actions, packages, triggers, activations), by name.
export const SECRET_NAME = /(pass(word)?|secret|token|auth(?!or)|api[_-]?key|^key$|Key$|credential|macaroon)/i;

export const MASK = "••••••";

export const isSecretName = (name: string): boolean => SECRET_NAME.test(name);

/** A deep copy with every value under a secret-looking key replaced by MASK (and URL userinfo removed). */
export function maskSecrets<T>(value: T): T {
  return walk(value) as T;
}

function walk(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(walk);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    // OpenWhisk's {key, value} lists (parameters, annotations)
    if (
      typeof o.key === "string" &&
      "value" in o &&
      Object.keys(o).every((k) => k === "key" || k === "value" || k === "init" || k === "encryption")
    ) {
      return { ...o, value: isSecretName(o.key) && o.value !== undefined && o.value !== "" ? MASK : walk(o.value) };
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o))
      out[k] = isSecretName(k) && x !== undefined && x !== null && x !== "" && typeof x !== "boolean" ? MASK : walk(x);
    return out;
  }
  if (typeof v === "string" && /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]+:[^/@\s]*@/i.test(v)) return v.replace(/\/\/[^/@\s]+@/, "//");
  return v;
}
