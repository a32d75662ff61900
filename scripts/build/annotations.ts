// The function catalogue on the actions themselves: at build each action gets the annotations
// `description`, `parameters` (name, description, required, type, default), `sampleInput` and
// `sampleOutput` — the shape the openwhisk-catalog packages carry — generated from the action's
// leading comment, its functions/<name>/schema.ts (paramsSchema and the *ResultSchema) and a sample
// instance made from those schemas, so `wsk action get` and any OpenWhisk UI show them.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { createRequire } from "node:module";
import type { ActionEntry } from "./entries.ts";
import { isSecretName } from "./secrets.ts";

export interface CatalogueParameter {
  name: string;
  description: string;
  required: boolean;
  type?: string;
  default?: unknown;
  /** a credential: never shown with a value */
  secret?: boolean;
}

export interface Annotation {
  key: string;
  value: unknown;
}

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: readonly string[];
  items?: JsonSchema;
  description?: string;
  default?: unknown;
  const?: unknown;
  enum?: readonly unknown[];
  format?: string;
  pattern?: string;
  minimum?: number;
  anyOf?: readonly JsonSchema[];
};

/** The comment block an entry file opens with, as one paragraph. */
export function leadingComment(source: string): string {
  const lines: string[] = [];
  for (const line of source.split("\n")) {
    const m = /^\/\/ ?(.*)$/.exec(line);
    if (!m) break;
    if (m[1] === "") break;
    lines.push(m[1]!);
  }
  return lines.join(" ").trim();
}

/** The default a schema states, or the one its description names ("… (default 4)"). */
function defaultOf(s: JsonSchema): unknown {
  if (s.default !== undefined) return s.default;
  const m = /\(default ([^):;,]+)/.exec(s.description ?? "");
  if (!m) return undefined;
  const raw = m[1]!.trim();
  if (raw === "true" || raw === "false") return raw === "true";
  return /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
}

const typeOf = (s: JsonSchema) =>
  Array.isArray(s.type) ? s.type.join(" | ") : (s.type ?? (s.const !== undefined ? typeof s.const : s.enum ? "enum" : "any"));

export function catalogueParameters(schema: JsonSchema): CatalogueParameter[] {
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {}).map(([name, s]) => {
    const p: CatalogueParameter = { name, description: s.description ?? "", required: required.has(name), type: typeOf(s) };
    const d = defaultOf(s);
    if (d !== undefined) p.default = d;
    if (isSecretName(name)) p.secret = true;
    return p;
  });
}

const SAMPLE_PATH = "/beamtime/raw/scan_0001.nxs";
const KNOWN: Record<string, unknown> = { path: SAMPLE_PATH, size: 1048576, bytes: 1048576, adler32: "1a2b03c4" };

/** A small instance of a schema: required properties only, one item per array, secrets as placeholders. */
export function sampleOf(s: JsonSchema, name = ""): unknown {
  if (s.const !== undefined) return s.const;
  if (s.enum) return s.enum[0];
  if (s.default !== undefined) return s.default;
  const type = Array.isArray(s.type) ? s.type[0] : (s.type ?? (s.properties ? "object" : s.items ? "array" : "string"));
  if (isSecretName(name)) return `<${name}>`;
  // a required property the schema lists without describing it (shared record fields)
  if (!s.type && !s.properties && !s.items && name in KNOWN) return KNOWN[name];
  switch (type) {
    case "object": {
      const out: Record<string, unknown> = {};
      for (const k of s.required ?? []) out[k] = sampleOf(s.properties?.[k] ?? {}, k);
      return out;
    }
    case "array":
      return s.items ? [sampleOf(s.items, name)] : [];
    case "integer":
    case "number":
      return name === "size" ? 1048576 : (s.minimum ?? 1);
    case "boolean":
      return name === "verified";
    case "string": {
      if (s.pattern === "^[0-9a-f]{8}$") return "1a2b03c4";
      if (s.pattern === "^/" || name === "path") return SAMPLE_PATH;
      const eg = /e\.g\. (\S+?)[,;)]?$/.exec(s.description ?? "");
      if (eg) return eg[1];
      if (s.format === "uri" || /^\^https\?/.test(s.pattern ?? "")) return `https://${name.replace(/Url$/, "").toLowerCase()}.example.org`;
      if (s.format === "date-time") return "2026-01-01T00:00:00.000Z";
      return name || "text";
    }
    default:
      return null;
  }
}

/** The sample a user would invoke the action with: one path plus every required parameter. */
function sampleInput(params: JsonSchema): Record<string, unknown> {
  const input: Record<string, unknown> = { path: SAMPLE_PATH };
  for (const k of params.required ?? []) input[k] = sampleOf(params.properties?.[k] ?? {}, k);
  return input;
}

/** The catalogue annotations of one action (only `description` when it has no schema.ts). */
export async function catalogueAnnotations(entry: ActionEntry): Promise<Annotation[]> {
  const out: Annotation[] = [];
  const description = leadingComment(readFileSync(entry.entry, "utf8"));
  if (description) out.push({ key: "description", value: description });
  const schemaFile = join(dirname(entry.entry), "schema.ts");
  if (!existsSync(schemaFile)) return out;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(schemaFile).href)) as Record<string, unknown>;
  } catch (e) {
    // the serverless plugin runs as CommonJS under tsx's require hook, where import() knows no .ts
    if ((e as { code?: string }).code !== "ERR_UNKNOWN_FILE_EXTENSION") throw e;
    mod = createRequire(entry.entry)(schemaFile) as Record<string, unknown>;
  }
  const params = mod.paramsSchema as JsonSchema | undefined;
  const resultKey = Object.keys(mod).find((k) => /ResultSchema$/.test(k));
  if (params) {
    out.push({ key: "parameters", value: catalogueParameters(params) });
    out.push({ key: "sampleInput", value: sampleInput(params) });
  }
  if (resultKey) out.push({ key: "sampleOutput", value: sampleOf(mod[resultKey] as JsonSchema) });
  return out;
}
