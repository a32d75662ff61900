// The storage-events REST API under /api/v1/events, with dCache's status codes: 201 + Location,
// 303 See Other for an already-watched path, 400 with a JSON message, 403 for another user's
// channel, 404 for unknown (or expired) channels, 429 beyond the per-user channel limit.
import type { IncomingMessage, ServerResponse } from "node:http";
import { lstat } from "node:fs/promises";
import { Ajv, type ValidateFunction } from "ajv";
import type { Account } from "../accounts.ts";
import { HttpError, readJson, sendJson } from "../../../lib/http/server.ts";
import { baseUrlOf, sendJsonError } from "../http.ts";
import { PathError, segmentsOfPlainPath, type StorageRoot } from "../paths.ts";
import type { Channel } from "./channel.ts";
import { INOTIFY_EVENT_SCHEMA, INOTIFY_SELECTOR_SCHEMA, METRONOME_EVENT_SCHEMA, METRONOME_SELECTOR_SCHEMA } from "./schemas.ts";
import { selectedTypes } from "../../../lib/events/inotify.ts";
import { LIFETIME, MAX_CLIENT_ID_LENGTH, type Registrar, TooManyChannels } from "./registrar.ts";
import { InotifySubscription, MetronomeSubscription, type InotifySelector, type MetronomeSelector } from "./subscription.ts";
import type { WatchTable } from "./watches.ts";

const EVENT_TYPES = {
  inotify: {
    description: "notification of namespace activity, modelled after inotify(7)",
    selector: INOTIFY_SELECTOR_SCHEMA,
    event: INOTIFY_EVENT_SCHEMA,
  },
  metronome: {
    description: "a configurable stream of messages, for testing clients",
    selector: METRONOME_SELECTOR_SCHEMA,
    event: METRONOME_EVENT_SCHEMA,
  },
} as const;
type EventTypeName = keyof typeof EVENT_TYPES;

const ajv = new Ajv({ allErrors: true });
const validInotify: ValidateFunction<InotifySelector> = ajv.compile(INOTIFY_SELECTOR_SCHEMA);
const validMetronome: ValidateFunction<MetronomeSelector> = ajv.compile(METRONOME_SELECTOR_SCHEMA);
const validChannelRequest = ajv.compile({
  type: "object",
  additionalProperties: false,
  properties: { "client-id": { type: "string" } },
});
const validModification = ajv.compile<{ timeout: number }>({
  type: "object",
  required: ["timeout"],
  additionalProperties: false,
  properties: { timeout: { type: "integer" } },
});

function why(v: ValidateFunction): string {
  return (v.errors ?? [])
    .map(
      (e) =>
        `${e.instancePath || "selector"} ${e.message}${e.params && "allowedValues" in e.params ? ` (${(e.params.allowedValues as string[]).join(", ")})` : ""}`,
    )
    .join("; ");
}

/** selectors and channel settings are small */
const BODY = { limit: 64 * 1024 };

export function createEventsHandler(deps: { registrar: Registrar; watches: WatchTable; root: StorageRoot; fallbackBase: string }) {
  const { registrar, watches, root } = deps;

  function channelsBase(req: IncomingMessage): string {
    return `${baseUrlOf(req, deps.fallbackBase)}/api/v1/events/channels`;
  }

  function channelFor(id: string, account: Account): Channel {
    const c = registrar.get(id);
    if (!c || c.isClosed)
      throw new HttpError(
        404,
        "No such channel: it was deleted, expired after its timeout without a client, or the frontend restarted; create a new channel",
      );
    if (c.uid !== account.uid) throw new HttpError(403, "Access denied: the channel belongs to another user");
    return c;
  }

  async function subscribe(req: IncomingMessage, res: ServerResponse, channel: Channel, type: string, account: Account): Promise<void> {
    if (!(type in EVENT_TYPES))
      throw new HttpError(400, `Unknown event type: ${type}; known types are ${Object.keys(EVENT_TYPES).join(", ")}`);
    const body = await readJson(req, BODY);
    if (body === undefined) throw new HttpError(400, "Missing JSON entity in POST request: send the selector as the body");
    const cap = registrar.settings.subscriptionQueue;
    if (type === "metronome") {
      if (!validMetronome(body)) throw new HttpError(400, `Bad selector: ${why(validMetronome)}`);
      if ((body.frequency === undefined) === (body.delay === undefined))
        throw new HttpError(400, 'Bad selector: give exactly one of "frequency" and "delay"');
      const sub = new MetronomeSubscription(channel, cap, body, account.username);
      channel.add(sub);
      return created(res, channel.subscriptionUrl(sub));
    }
    if (!validInotify(body)) throw new HttpError(400, `Bad selector: ${why(validInotify)}`);
    let target;
    try {
      target = await root.resolve(segmentsOfPlainPath(body.path), account.home);
    } catch (e) {
      if (e instanceof PathError)
        throw new HttpError(400, e.status === 403 ? `Permission denied: ${e.message}` : `Bad selector: ${e.message}`);
      throw e;
    }
    const st = await lstat(target.fsPath).catch(() => undefined);
    if (!st) throw new HttpError(400, `Not found: ${body.path} does not exist`);
    if (body.flags?.includes("IN_ONLYDIR") && !st.isDirectory())
      throw new HttpError(400, `Failed condition: ${body.path} is not a directory (IN_ONLYDIR)`);

    const existing = channel
      .subscriptions()
      .find((s): s is InotifySubscription => s instanceof InotifySubscription && !s.isClosed && s.fsPath === target.fsPath);
    if (existing) {
      const merged: InotifySelector = body.flags?.includes("IN_MASK_ADD")
        ? { path: body.path, flags: [...new Set([...(existing.selector().flags ?? []), ...body.flags])].filter((f) => f !== "IN_MASK_ADD") }
        : body;
      existing.reselect(merged, selectedTypes(merged.flags));
      res.writeHead(303, { Location: channel.subscriptionUrl(existing), "Content-Length": "0" });
      res.end();
      return;
    }
    const sub = new InotifySubscription(channel, cap, body, selectedTypes(body.flags), target.fsPath, watches);
    watches.watch(sub);
    channel.add(sub);
    created(res, channel.subscriptionUrl(sub));
  }

  function created(res: ServerResponse, location: string): void {
    res.writeHead(201, { Location: location, "Content-Length": "0" });
    res.end();
  }

  function noContent(res: ServerResponse): void {
    res.writeHead(204);
    res.end();
  }

  async function route(req: IncomingMessage, res: ServerResponse, url: URL, rest: string, account: Account): Promise<void> {
    const parts = rest
      .split("/")
      .filter((p) => p !== "")
      .map((p) => decodeURIComponent(p));
    const method = req.method ?? "GET";
    const only = (...allowed: string[]) => {
      if (!allowed.includes(method))
        throw new HttpError(405, `method ${method} is not allowed here; allowed: ${allowed.join(", ")}`, {
          headers: { Allow: allowed.join(", ") },
        });
    };

    if (parts.length === 0) {
      only("GET");
      return sendJson(res, 200, { channels: { lifetimeWhenDisconnected: LIFETIME, maximumPerUser: registrar.maximumPerUser } });
    }
    if (parts[0] === "eventTypes") {
      only("GET");
      if (parts.length === 1) return sendJson(res, 200, Object.keys(EVENT_TYPES));
      const t = EVENT_TYPES[parts[1] as EventTypeName];
      if (!t || parts.length > 3) throw new HttpError(404, `No such event type: ${parts[1]}`);
      if (parts.length === 2) return sendJson(res, 200, { description: t.description });
      if (parts[2] === "selector") return sendJson(res, 200, t.selector);
      if (parts[2] === "event") return sendJson(res, 200, t.event);
      throw new HttpError(404, `no such resource: ${rest}`);
    }
    if (parts[0] !== "channels") throw new HttpError(404, `no such resource: /api/v1/events${rest}`);

    if (parts.length === 1) {
      only("GET", "POST");
      if (method === "GET") {
        const raw = url.searchParams.get("client-id");
        const clientId = raw === null ? undefined : raw.slice(0, MAX_CLIENT_ID_LENGTH);
        const base = channelsBase(req);
        return sendJson(
          res,
          200,
          registrar.list(account.uid, clientId).map((c) => `${base}/${c.id}`),
        );
      }
      const body = await readJson(req, BODY);
      if (body !== undefined && !validChannelRequest(body))
        throw new HttpError(400, `Bad request: ${why(validChannelRequest)}; the body is optional, {"client-id":"…"}`);
      const raw = (body as { "client-id"?: string } | undefined)?.["client-id"];
      const clientId = raw ? raw.slice(0, MAX_CLIENT_ID_LENGTH) : undefined;
      const base = channelsBase(req);
      try {
        const channel = registrar.create(account.uid, account.username, clientId, (id) => `${base}/${id}`);
        return created(res, channel.url);
      } catch (e) {
        if (e instanceof TooManyChannels) throw new HttpError(429, `Too many channels: ${e.message}`);
        throw e;
      }
    }

    const channel = channelFor(parts[1]!, account);
    if (parts.length === 2) {
      only("GET", "PATCH", "DELETE");
      if (method === "GET") {
        if ((req.headers.accept ?? "").includes("text/event-stream")) {
          const last = req.headers["last-event-id"];
          return channel.connect(res, Array.isArray(last) ? last[0] : last);
        }
        return sendJson(res, 200, { timeout: channel.timeoutSeconds });
      }
      if (method === "DELETE") {
        channel.close();
        return noContent(res);
      }
      const body = await readJson(req, BODY);
      if (!validModification(body))
        throw new HttpError(400, `Bad request: ${body === undefined ? "missing body" : why(validModification)}; send {"timeout": seconds}`);
      if (body.timeout < LIFETIME.minimum) throw new HttpError(400, `Timeout shorter than minimum allowed (${LIFETIME.minimum} s)`);
      if (body.timeout > LIFETIME.maximum) throw new HttpError(400, `Timeout longer than maximum allowed (${LIFETIME.maximum} s)`);
      channel.setTimeout(body.timeout);
      return noContent(res);
    }
    if (parts[2] !== "subscriptions") throw new HttpError(404, `no such resource: ${rest}`);
    if (parts.length === 3) {
      only("GET");
      return sendJson(
        res,
        200,
        channel
          .subscriptions()
          .filter((s) => !s.isClosed)
          .map((s) => channel.subscriptionUrl(s)),
      );
    }
    if (parts.length === 4) {
      only("POST");
      return subscribe(req, res, channel, parts[3]!, account);
    }
    if (parts.length === 5) {
      only("GET", "DELETE");
      const sub = channel.subscription(parts[3]!, parts[4]!);
      if (!sub) throw new HttpError(404, "No such subscription");
      if (method === "GET") return sendJson(res, 200, sub.selector());
      sub.close(sub instanceof InotifySubscription ? { mask: ["IN_IGNORED"] } : undefined);
      return noContent(res);
    }
    throw new HttpError(404, `no such resource: ${rest}`);
  }

  return async function handle(req: IncomingMessage, res: ServerResponse, url: URL, rest: string, account: Account): Promise<void> {
    try {
      await route(req, res, url, rest, account);
    } catch (e) {
      if (e instanceof HttpError) {
        if (!req.readableEnded) req.resume();
        return sendJsonError(res, e.status, e.message, e.headers);
      }
      if (e instanceof URIError) return sendJsonError(res, 400, "the URL path is not valid percent-encoding");
      throw e;
    }
  };
}
