// PROPFIND (RFC 4918 §9.1): which properties a request asks for, and the 207 multistatus answer.
import type { Stats } from "node:fs";
import { mimeTypeOf, fileTypeOf } from "../namespace.ts";

const DAV = "DAV:";
const LIVE = ["creationdate", "displayname", "getcontentlength", "getcontenttype", "getetag", "getlastmodified", "resourcetype"] as const;

export type PropRequest = { kind: "allprop" } | { kind: "propname" } | { kind: "prop"; props: { ns: string; name: string }[] };

export class PropfindBodyError extends Error {}

/**
 * Reads the request body. A full XML parser is not needed for the three shapes RFC 4918 allows;
 * namespace prefixes are resolved from the xmlns declarations in the body.
 */
export function parsePropfind(body: string): PropRequest {
  const text = body.trim();
  if (text === "") return { kind: "allprop" };
  if (!/<([\w.-]+:)?propfind[\s>]/.test(text)) throw new PropfindBodyError("the PROPFIND body is not a DAV:propfind element");
  const prefixes = new Map<string, string>();
  for (const m of text.matchAll(/xmlns(?::([\w.-]+))?\s*=\s*["']([^"']*)["']/g)) prefixes.set(m[1] ?? "", m[2]!);
  if (/<([\w.-]+:)?propname\s*\/?>/.test(text)) return { kind: "propname" };
  if (/<([\w.-]+:)?allprop\s*\/?>/.test(text)) return { kind: "allprop" };
  const block = /<([\w.-]+:)?prop>([\s\S]*?)<\/([\w.-]+:)?prop>/.exec(text);
  if (!block) throw new PropfindBodyError("the PROPFIND body has neither allprop, propname nor prop");
  const props: { ns: string; name: string }[] = [];
  for (const m of block[2]!.matchAll(/<(?:([\w.-]+):)?([\w.-]+)((?:\s+[^>]*?)?)\/?>/g)) {
    const local = /xmlns\s*=\s*["']([^"']*)["']/.exec(m[3] ?? "");
    const ns = local ? local[1]! : (prefixes.get(m[1] ?? "") ?? "");
    props.push({ ns, name: m[2]! });
  }
  return { kind: "prop", props };
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export function etagOf(st: Stats): string {
  return `"${st.ino.toString(16)}_${Math.floor(st.mtimeMs).toString(16)}_${st.size.toString(16)}"`;
}

function liveValue(prop: (typeof LIVE)[number], name: string, st: Stats): string | undefined {
  const dir = st.isDirectory();
  switch (prop) {
    case "creationdate":
      return new Date(st.birthtimeMs > 0 ? st.birthtimeMs : st.ctimeMs).toISOString();
    case "displayname":
      return esc(name);
    case "getcontentlength":
      return dir ? undefined : String(st.size);
    case "getcontenttype":
      return dir ? undefined : mimeTypeOf(name, fileTypeOf(st));
    case "getetag":
      return esc(etagOf(st));
    case "getlastmodified":
      return st.mtime.toUTCString();
    case "resourcetype":
      return dir ? "<d:collection/>" : "";
  }
}

export interface PropfindEntry {
  href: string;
  name: string;
  st: Stats;
}

export function multistatus(entries: PropfindEntry[], req: PropRequest): string {
  const out = ['<?xml version="1.0" encoding="utf-8"?>', '<d:multistatus xmlns:d="DAV:">'];
  for (const e of entries) {
    out.push(`<d:response><d:href>${esc(e.href)}</d:href>`);
    const found: string[] = [];
    const missing: string[] = [];
    if (req.kind === "propname") {
      for (const p of LIVE) if (liveValue(p, e.name, e.st) !== undefined) found.push(`<d:${p}/>`);
    } else {
      const wanted = req.kind === "allprop" ? LIVE.map((name) => ({ ns: DAV, name })) : req.props;
      for (const w of wanted) {
        const live =
          w.ns === DAV && (LIVE as readonly string[]).includes(w.name)
            ? liveValue(w.name as (typeof LIVE)[number], e.name, e.st)
            : undefined;
        if (live !== undefined) found.push(`<d:${w.name}>${live}</d:${w.name}>`);
        else if (req.kind === "prop") missing.push(w.ns === DAV ? `<d:${w.name}/>` : `<x:${w.name} xmlns:x="${esc(w.ns)}"/>`);
      }
    }
    if (found.length) out.push(`<d:propstat><d:prop>${found.join("")}</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>`);
    if (missing.length)
      out.push(`<d:propstat><d:prop>${missing.join("")}</d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>`);
    out.push("</d:response>");
  }
  out.push("</d:multistatus>");
  return out.join("\n");
}

export const FINITE_DEPTH_ERROR = '<?xml version="1.0" encoding="utf-8"?>\n<d:error xmlns:d="DAV:"><d:propfind-finite-depth/></d:error>';
