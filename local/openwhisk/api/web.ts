// Web actions: /api/v1/web/{ns}/{pkg|default}/{action}[.json|.html|.text|.svg|.http][/path], for
// actions annotated `web-export: true`. The HTTP request becomes parameters (`__ow_method`,
// `__ow_headers`, `__ow_path`, query and body), the result becomes the HTTP response, as in OpenWhisk.
// The API gateway's route listing is answered here too, like an OpenWhisk without routes.
import { ApiError, Messages } from "../errors.ts";
import type { Authenticator } from "../auth.ts";
import type { ApiReply, ApiRequest } from "../http/server.ts";
import { checkName } from "../names.ts";
import { annotation, checkFinal } from "../params.ts";
import { resolveAction } from "../resolver.ts";
import { checkNamespace } from "../names.ts";
import type { Services } from "./common.ts";

const EXTENSIONS = ["json", "html", "text", "svg", "http"] as const;
type Extension = (typeof EXTENSIONS)[number];

function splitExtension(last: string): { name: string; ext: Extension } {
  const m = /^(.*)\.(json|html|text|svg|http)$/.exec(last);
  return m ? { name: m[1]!, ext: m[2] as Extension } : { name: last, ext: "http" };
}

function requestParams(req: ApiRequest, path: string, raw: boolean): Record<string, unknown> {
  const query = Object.fromEntries(req.query);
  const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== "authorization"));
  const meta = { __ow_method: req.method.toLowerCase(), __ow_headers: headers, __ow_path: path };
  const body = req.rawBody ?? Buffer.alloc(0);
  const type = String(req.headers["content-type"] ?? "")
    .split(";")[0]!
    .trim()
    .toLowerCase();
  const text = /^(text\/|application\/(json|x-www-form-urlencoded|xml|javascript))/.test(type) || type === "";
  if (raw) {
    return {
      ...meta,
      __ow_query: new URLSearchParams(req.query).toString(),
      __ow_body: text ? body.toString("utf8") : body.toString("base64"),
    };
  }
  let fromBody: Record<string, unknown> = {};
  if (body.length > 0) {
    if (type === "application/json") {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString("utf8"));
      } catch (e) {
        throw new ApiError(400, `The request content was malformed:\n${(e as Error).message}`);
      }
      fromBody =
        parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : { __ow_body: parsed };
    } else if (type === "application/x-www-form-urlencoded") {
      fromBody = Object.fromEntries(new URLSearchParams(body.toString("utf8")));
    } else {
      fromBody = { __ow_body: text ? body.toString("utf8") : body.toString("base64") };
    }
  }
  return { ...query, ...fromBody, ...meta };
}

function httpResponse(result: Record<string, unknown>, tid: string): ApiReply {
  const headers = Object.fromEntries(Object.entries((result.headers as Record<string, unknown>) ?? {}).map(([k, v]) => [k, String(v)]));
  const status = typeof result.statusCode === "number" ? result.statusCode : result.body === undefined ? 204 : 200;
  const body = result.body;
  const type = Object.entries(headers).find(([k]) => k.toLowerCase() === "content-type")?.[1];
  if (body === undefined) return { status, headers, body: "", raw: true };
  if (typeof body === "string") {
    // A binary content type means the action gave its body base64-encoded.
    const binary = type !== undefined && !/^(text\/|application\/(json|xml|javascript)|image\/svg)/.test(type);
    return {
      status,
      headers: { "content-type": type ?? "text/html; charset=utf-8", ...headers },
      body: binary ? Buffer.from(body, "base64") : body,
      raw: true,
    };
  }
  if (typeof body === "object" || typeof body === "number" || typeof body === "boolean") {
    return { status, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body), raw: true };
  }
  return { status: 400, body: { error: "Response type in header did not match generated content type.", code: tid } };
}

export async function webAction(req: ApiRequest, seg: string[], auth: Authenticator, s: Services): Promise<ApiReply> {
  if (seg[0] === "whisk.system" && seg[1] === "apimgmt" && seg[2]?.startsWith("getApi")) return { status: 200, body: { apis: [] } };
  if (seg.length < 3) throw new ApiError(404, Messages.notFound);
  const ns = checkNamespace(seg[0]!);
  const owner = auth.ownerOf(ns);
  if (!owner) throw new ApiError(404, Messages.notFound);
  const { name, ext } = splitExtension(seg[2]!);
  const pkg = seg[1] === "default" ? undefined : checkName(seg[1]!);
  const action = resolveAction(s.store, owner, { namespace: ns, ...(pkg ? { pkg } : {}), name: checkName(name) });
  const web = annotation(action.annotations, "web-export");
  if (web !== true && web !== "true") throw new ApiError(404, Messages.notFound);
  const secret = annotation(action.annotations, "require-whisk-auth");
  if (secret === true) auth.authenticate(req.headers.authorization);
  else if (typeof secret === "string" || typeof secret === "number") {
    if (req.headers["x-require-whisk-auth"] !== String(secret)) throw new ApiError(401, Messages.unauthorized);
  }
  const path = seg.length > 3 ? `/${seg.slice(3).join("/")}` : "";
  const raw = annotation(action.annotations, "raw-http") === true;
  const payload = requestParams(req, path, raw);
  checkFinal(action.annotations, action.params, Object.fromEntries(Object.entries(payload).filter(([k]) => !k.startsWith("__ow_"))));
  const receivedAt = performance.now();
  const finished = s.throttles.startInvocation(ns);
  const run = s.invoker.invoke({ identity: owner, action, payload, receivedAt, topmost: true });
  const rec = await run.done.finally(finished);
  const response = rec.response as { status: string; result: Record<string, unknown> };
  const headers = { "x-openwhisk-activation-id": run.activationId };
  if (response.status === "action developer error" || response.status === "whisk internal error") {
    return {
      status: response.status === "whisk internal error" ? 500 : 502,
      body: { error: String(response.result?.error ?? "The action failed."), code: req.tid },
      headers,
    };
  }
  if (response.status === "application error") {
    const err = response.result.error;
    if (err && typeof err === "object" && ext === "http")
      return withHeaders(httpResponse(err as Record<string, unknown>, req.tid), headers);
    return { status: 400, body: { error: typeof err === "string" ? err : JSON.stringify(err), code: req.tid }, headers };
  }
  const result = response.result ?? {};
  switch (ext) {
    case "json":
      return { status: 200, body: result, headers };
    case "html":
    case "text":
    case "svg": {
      const field = result[ext];
      if (typeof field !== "string")
        throw new ApiError(400, `The action did not return a string '${ext}' property, which a .${ext} web action needs.`);
      const type = { html: "text/html; charset=utf-8", text: "text/plain; charset=utf-8", svg: "image/svg+xml" }[ext];
      return { status: 200, body: field, raw: true, headers: { ...headers, "content-type": type } };
    }
    default:
      return withHeaders(httpResponse(result, req.tid), headers);
  }
}

function withHeaders(r: ApiReply, h: Record<string, string>): ApiReply {
  return { ...r, headers: { ...r.headers, ...h } };
}
