// The provider's HTTP API: the feed action's lifecycle calls, dead letters, health and metrics.
//
//   GET    /health                                             liveness/readiness, store and source states
//   GET    /metrics                                            Prometheus text
//   GET    /api/v1/registrations                               operator: all registrations
//   POST   /api/v1/registrations                               CREATE  {triggerName, authKey, config, apihost?}
//   GET    /api/v1/registrations/{ns}/{trigger}                READ
//   PATCH  /api/v1/registrations/{ns}/{trigger}                UPDATE  {config, apihost?}
//   DELETE /api/v1/registrations/{ns}/{trigger}                DELETE
//   POST   /api/v1/registrations/{ns}/{trigger}/pause          PAUSE
//   POST   /api/v1/registrations/{ns}/{trigger}/unpause        UNPAUSE
//   GET    /api/v1/registrations/{ns}/{trigger}/dead-letters   ?limit=&after=
//   POST   /api/v1/registrations/{ns}/{trigger}/dead-letters/replay   {seqs?: number[]}
//   GET    /api/v1/registrations/{ns}/{trigger}/files          ?state=&prefix=&limit=&after=  the file ledger
//   POST   /api/v1/registrations/{ns}/{trigger}/files/retry    {paths?: string[], prefix?: string} (neither: every failed file)
//   POST   /api/v1/registrations/{ns}/{trigger}/files/reconcile {prefix?: string}  run rules that were inactive for files;
//                                                                without a prefix also list the watched tree (files the ledger lacks fire)
//
// /api/v1 needs the provider's credentials (HTTP Basic); calls about one registration also carry the
// trigger owner's key in `X-Owner-Key` (optional for the dead-letter and file routes, which operators use).
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Ajv } from "ajv";
import type { Logger } from "./log.ts";
import type { ProviderMetrics } from "./metrics.ts";
import { FILE_STATES, type FileEntry, type FileState } from "./ledger/types.ts";
import type { Registrations } from "./registrations/registrations.ts";
import type { Runner } from "./registrations/runner.ts";
import { ApiError } from "./registrations/types.ts";
import { HttpError, readJson, sendJson } from "../../lib/http/server.ts";
import type { Store } from "./store/types.ts";

const MAX_BODY = 1_000_000;

const ajv = new Ajv({ allErrors: true, strict: false });
const createBody = ajv.compile({
  type: "object",
  required: ["triggerName", "authKey", "config"],
  properties: { triggerName: { type: "string" }, authKey: { type: "string" }, config: { type: "object" }, apihost: { type: "string" } },
});
const updateBody = ajv.compile({
  type: "object",
  required: ["config"],
  properties: { config: { type: "object" }, apihost: { type: "string" } },
});
const replayBody = ajv.compile({
  type: "object",
  additionalProperties: false,
  properties: { seqs: { type: "array", items: { type: "integer", minimum: 1 }, maxItems: 100_000 } },
});

const retryBody = ajv.compile({
  type: "object",
  additionalProperties: false,
  properties: {
    paths: { type: "array", items: { type: "string", pattern: "^/" }, minItems: 1, maxItems: 100_000 },
    prefix: { type: "string", pattern: "^/" },
  },
});

const reconcileBody = ajv.compile({
  type: "object",
  additionalProperties: false,
  properties: { prefix: { type: "string", pattern: "^/" } },
});

/** A ledger entry as the API shows it: what a user needs to act, times as ISO strings. */
function fileView(e: FileEntry): Record<string, unknown> {
  const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());
  return {
    path: e.path,
    state: e.state,
    ...(e.step ? { step: e.step, reason: e.reason, permanent: e.permanent } : {}),
    size: e.size,
    adler32: e.adler32,
    mtime: iso(e.mtime),
    arrived: iso(e.arrivedAt),
    updated: iso(e.updatedAt),
    nextRetry: iso(e.nextAt),
    events: e.eventIds,
    triggerActivationId: e.triggerActivationId,
    rules: e.rules,
  };
}

export interface ApiOptions {
  registrations: Registrations;
  /** what runs on this replica, for /health */
  runner: Runner;
  store: Store;
  metrics: ProviderMetrics;
  log: Logger;
  /** "user:password" the feed action presents */
  providerAuth: string;
  isReady: () => boolean;
  /** which units this replica holds, when replicas share a PostgreSQL store */
  ha?: () => unknown;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendJson(res, status, body, headers);
}

/** A request body as JSON; an empty one is `{}`. */
async function readBody(req: IncomingMessage): Promise<unknown> {
  return (await readJson(req, { limit: MAX_BODY })) ?? {};
}

function checkBody(v: ReturnType<typeof ajv.compile>, body: unknown, what: string): void {
  if (!v(body))
    throw new ApiError(400, `bad ${what} request: ${(v.errors ?? []).map((e) => `${e.instancePath || "(body)"} ${e.message}`).join("; ")}`);
}

export function createApi(o: ApiOptions): Server {
  const expected = createHash("sha256")
    .update(`Basic ${Buffer.from(o.providerAuth).toString("base64")}`)
    .digest();
  const authorised = (req: IncomingMessage) =>
    timingSafeEqual(
      createHash("sha256")
        .update(req.headers.authorization ?? "")
        .digest(),
      expected,
    );
  const regs = o.registrations;

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://provider");
    const path = url.pathname;
    const method = req.method ?? "GET";

    if (path === "/health" && method === "GET") {
      let storeOk = true;
      let storeError: string | undefined;
      try {
        await o.store.ping();
      } catch (e) {
        storeOk = false;
        storeError = (e as Error).message;
      }
      const ready = o.isReady() && storeOk;
      return send(res, ready ? 200 : 503, {
        status: ready ? "ok" : "unavailable",
        live: true,
        ready,
        store: { kind: o.store.kind, ok: storeOk, ...(storeError ? { error: storeError } : {}) },
        registrations: o.runner.size,
        sources: o.runner.sourceStates(),
        ...(o.ha ? { ha: o.ha() } : {}),
      });
    }
    if (path === "/metrics" && method === "GET") {
      const text = o.metrics.registry.render();
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      res.end(text);
      return;
    }
    if (!path.startsWith("/api/v1/")) throw new ApiError(404, `no route ${method} ${path}; the API lives under /api/v1/registrations`);
    if (!authorised(req)) {
      res.setHeader("www-authenticate", 'Basic realm="feed-provider"');
      throw new ApiError(401, "the provider's credentials are missing or wrong (package parameter providerAuth)");
    }
    const ownerKey = (req.headers["x-owner-key"] as string | undefined) || undefined;
    if (path === "/api/v1/registrations") {
      if (method === "GET") return send(res, 200, { registrations: await regs.list() });
      if (method === "POST") {
        const body = (await readBody(req)) as Record<string, unknown>;
        checkBody(createBody, body, "CREATE");
        const view = await regs.create({
          triggerName: body.triggerName,
          authKey: body.authKey,
          config: body.config,
          apihost: body.apihost as string | undefined,
        });
        return send(res, 201, { status: "success", registration: view });
      }
    }
    const m =
      /^\/api\/v1\/registrations\/([^/]+)\/([^/]+)(\/pause|\/unpause|\/dead-letters|\/dead-letters\/replay|\/files|\/files\/retry|\/files\/reconcile)?$/.exec(
        path,
      );
    if (!m) throw new ApiError(404, `no route ${method} ${path}`);
    const triggerName = `/${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`;
    const sub = m[3] ?? "";
    if (sub === "" && method === "GET") return send(res, 200, await regs.read(triggerName, ownerKey));
    if (sub === "" && method === "PATCH") {
      const body = (await readBody(req)) as Record<string, unknown>;
      checkBody(updateBody, body, "UPDATE");
      return send(res, 200, {
        status: "success",
        registration: await regs.update(triggerName, ownerKey, body.config, body.apihost as string | undefined),
      });
    }
    if (sub === "" && method === "DELETE") {
      await regs.remove(triggerName, ownerKey);
      return send(res, 200, { status: "success" });
    }
    if (sub === "/pause" && method === "POST")
      return send(res, 200, { status: "success", registration: await regs.pause(triggerName, ownerKey) });
    if (sub === "/unpause" && method === "POST")
      return send(res, 200, { status: "success", registration: await regs.unpause(triggerName, ownerKey) });
    if (sub === "/dead-letters" && method === "GET") {
      const limit = Math.min(1000, Math.max(1, Number(url.searchParams.get("limit") ?? 100) || 100));
      const after = Number(url.searchParams.get("after") ?? 0) || 0;
      const list = await regs.deadLetters(triggerName, ownerKey, { limit, after });
      return send(res, 200, {
        deadLetters: list.map((d) => ({
          seq: d.seq,
          id: d.eventId,
          reason: d.reason,
          statusCode: d.statusCode,
          deadAt: new Date(d.deadAt).toISOString(),
          event: JSON.parse(d.body),
        })),
        next: list.length === limit ? list[list.length - 1]!.seq : null,
      });
    }
    if (sub === "/dead-letters/replay" && method === "POST") {
      const body = await readBody(req);
      checkBody(replayBody, body, "replay");
      return send(res, 200, { status: "success", replayed: await regs.replay(triggerName, ownerKey, (body as { seqs?: number[] }).seqs) });
    }
    if (sub === "/files" && method === "GET") {
      const state = url.searchParams.get("state") ?? undefined;
      if (state !== undefined && !FILE_STATES.includes(state as FileState))
        throw new ApiError(400, `state must be one of ${FILE_STATES.join(", ")}`);
      const prefix = url.searchParams.get("prefix") ?? undefined;
      const limit = Math.min(1000, Math.max(1, Number(url.searchParams.get("limit") ?? 100) || 100));
      const after = url.searchParams.get("after") ?? undefined;
      const list = await regs.files(triggerName, ownerKey, {
        limit,
        ...(state ? { state: state as FileState } : {}),
        ...(prefix ? { prefix } : {}),
        ...(after ? { after } : {}),
      });
      return send(res, 200, { files: list.map(fileView), next: list.length === limit ? list[list.length - 1]!.path : null });
    }
    if (sub === "/files/retry" && method === "POST") {
      const body = await readBody(req);
      checkBody(retryBody, body, "retry");
      return send(res, 200, {
        status: "success",
        retried: await regs.retryFiles(triggerName, ownerKey, body as { paths?: string[]; prefix?: string }),
      });
    }
    if (sub === "/files/reconcile" && method === "POST") {
      const body = await readBody(req);
      checkBody(reconcileBody, body, "reconcile");
      const r = await regs.reconcileFiles(triggerName, ownerKey, (body as { prefix?: string }).prefix);
      return send(res, 200, { status: "success", reconciled: r.rules, listed: r.listed });
    }
    throw new ApiError(405, `method ${method} is not allowed on ${path}`);
  }

  return createServer((req, res) => {
    route(req, res).catch((e) => {
      if (e instanceof HttpError) return send(res, e.status, { error: e.message, code: e.code }, e.headers);
      o.log.error("request failed", { method: req.method, path: (req.url ?? "").split("?")[0], err: e as Error });
      send(res, 500, { error: "internal error in the feed provider; see its logs", code: "INTERNAL" });
    });
  });
}
