// The subset of SciCat's API v3 the catalogue function uses: login, datasets, origdatablocks.
// Status codes and body shapes follow SciCat's backend (NestJS): 201 on create, 400 with a
// `message` list on validation errors, 401 without a valid token, 404 unknown, 409 duplicate pid.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { HttpError, readJson, sendJson } from "../../lib/http/server.ts";
import type { ScicatStore } from "./store.ts";

export interface ScicatUser {
  username: string;
  password: string;
  email?: string;
}

export interface ScicatOptions {
  users: ScicatUser[];
  /** Token lifetime in seconds (SciCat's default is 3600). */
  tokenTtl: number;
  /** Prefix of generated pids (SciCat's PID_PREFIX). */
  pidPrefix: string;
}

const REQUIRED = ["owner", "contactEmail", "sourceFolder", "creationTime", "ownerGroup", "type", "datasetName"];
// Raw datasets say where and by whom they were measured; derived ones what they were made from.
const REQUIRED_RAW = ["principalInvestigator", "creationLocation"];
const REQUIRED_DERIVED = ["investigator", "inputDatasets", "usedSoftware"];
const STRINGS = [
  ...REQUIRED,
  ...REQUIRED_RAW,
  "investigator",
  "pid",
  "instrumentGroup",
  "ownerEmail",
  "orcidOfOwner",
  "description",
  "startTime",
  "endTime",
  "dataFormat",
  "sampleId",
  "instrumentId",
  "proposalId",
  "runNumber",
  "license",
];

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function validateDataset(body: unknown, partial: boolean): Record<string, unknown> {
  if (!body || typeof body !== "object" || Array.isArray(body))
    throw new HttpError(400, "Bad Request", { body: { statusCode: 400, message: ["body must be a JSON object"], error: "Bad Request" } });
  const doc = body as Record<string, unknown>;
  const problems: string[] = [];
  if (!partial) {
    for (const k of [...REQUIRED, ...(doc.type === "derived" ? REQUIRED_DERIVED : REQUIRED_RAW)])
      if (doc[k] === undefined || doc[k] === "") problems.push(`${k} should not be empty`);
  }
  for (const k of STRINGS) if (doc[k] !== undefined && typeof doc[k] !== "string") problems.push(`${k} must be a string`);
  if (doc.type !== undefined && doc.type !== "raw" && doc.type !== "derived")
    problems.push("type must be one of the following values: raw, derived");
  for (const k of ["creationTime", "startTime", "endTime"])
    if (typeof doc[k] === "string" && Number.isNaN(Date.parse(doc[k] as string)))
      problems.push(`${k} must be a valid ISO 8601 date string`);
  for (const k of ["size", "packedSize", "numberOfFiles"])
    if (doc[k] !== undefined && typeof doc[k] !== "number") problems.push(`${k} must be a number`);
  if (doc.scientificMetadata !== undefined && (typeof doc.scientificMetadata !== "object" || Array.isArray(doc.scientificMetadata)))
    problems.push("scientificMetadata must be an object");
  for (const k of ["accessGroups", "keywords", "techniques", "inputDatasets", "usedSoftware"])
    if (doc[k] !== undefined && !Array.isArray(doc[k])) problems.push(`${k} must be an array`);
  if (problems.length) throw new HttpError(400, "Bad Request", { body: { statusCode: 400, message: problems, error: "Bad Request" } });
  return doc;
}

function validateOrigDatablock(body: unknown): Record<string, unknown> {
  const doc = (body && typeof body === "object" && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof doc.size !== "number") problems.push("size must be a number");
  if (!Array.isArray(doc.dataFileList)) problems.push("dataFileList must be an array");
  else
    (doc.dataFileList as Array<Record<string, unknown>>).forEach((f, i) => {
      if (!f || typeof f.path !== "string") problems.push(`dataFileList.${i}.path must be a string`);
      if (!f || typeof f.size !== "number") problems.push(`dataFileList.${i}.size must be a number`);
      if (!f || typeof f.time !== "string" || Number.isNaN(Date.parse(f.time)))
        problems.push(`dataFileList.${i}.time must be a valid ISO 8601 date string`);
    });
  if (problems.length) throw new HttpError(400, "Bad Request", { body: { statusCode: 400, message: problems, error: "Bad Request" } });
  return doc;
}

export function createScicatServer(store: ScicatStore, opts: ScicatOptions): Server {
  const authenticate = (req: IncomingMessage): { username: string } => {
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "");
    const t = m ? store.token(m[1]!.trim()) : undefined;
    if (!t || Date.parse(t.created) + t.ttl * 1000 <= Date.now())
      throw new HttpError(401, "Unauthorized", { body: { statusCode: 401, message: "Unauthorized" } });
    return { username: t.username };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://scicat");
    const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    if (parts[0] !== "api" || parts[1] !== "v3")
      throw new HttpError(404, "Not Found", {
        body: { statusCode: 404, message: `Cannot ${req.method} ${url.pathname}`, error: "Not Found" },
      });
    const route = parts.slice(2);
    const method = req.method ?? "GET";

    if (method === "POST" && route.join("/") === "auth/login") {
      const body = (await readJson(req)) as { username?: unknown; password?: unknown } | undefined;
      const user = opts.users.find((u) => u.username === body?.username);
      if (!user || typeof body?.password !== "string" || !sameSecret(body.password, user.password)) {
        throw new HttpError(401, "Unauthorized", { body: { statusCode: 401, message: "Unauthorized" } });
      }
      const token = {
        id: randomBytes(32).toString("base64url"),
        userId: `user-${user.username}`,
        username: user.username,
        created: new Date().toISOString(),
        ttl: opts.tokenTtl,
      };
      store.addToken(token);
      sendJson(res, 201, {
        access_token: token.id,
        id: token.id,
        expires_in: opts.tokenTtl,
        ttl: opts.tokenTtl,
        created: token.created,
        userId: token.userId,
        user: { _id: token.userId, username: user.username, email: user.email ?? `${user.username}@localhost` },
      });
      return;
    }

    // A pid contains "/": it arrives URL-encoded as one segment, or (decoded by a proxy) as several.
    if (route[0] === "datasets") {
      const who = authenticate(req);
      const obIndex = route.indexOf("origdatablocks", 1);
      const pid = route.slice(1, obIndex > 0 ? obIndex : undefined).join("/");
      if (method === "POST" && route.length === 1) {
        const doc = validateDataset(await readJson(req), false);
        const now = new Date().toISOString();
        const pidNew = typeof doc.pid === "string" && doc.pid ? doc.pid : `${opts.pidPrefix}/${randomUUID()}`;
        const stored = { ...doc, pid: pidNew, createdBy: who.username, updatedBy: who.username, createdAt: now, updatedAt: now };
        if (!store.insertDataset(stored))
          throw new HttpError(409, "Conflict", {
            body: { statusCode: 409, message: `Dataset with pid ${pidNew} already exists`, error: "Conflict" },
          });
        sendJson(res, 201, stored);
        return;
      }
      if (method === "GET" && route.length === 1) {
        sendJson(res, 200, store.datasets());
        return;
      }
      const existing = pid ? store.dataset(pid) : undefined;
      if (!existing)
        throw new HttpError(404, "Not Found", {
          body: { statusCode: 404, message: `Dataset with pid ${pid} not found`, error: "Not Found" },
        });
      if (obIndex < 0) {
        if (method === "GET") return sendJson(res, 200, existing);
        if (method === "PATCH") {
          const patch = validateDataset(await readJson(req), true);
          if (patch.pid !== undefined && patch.pid !== pid)
            throw new HttpError(400, "Bad Request", {
              body: { statusCode: 400, message: ["pid cannot be changed"], error: "Bad Request" },
            });
          const merged = { ...existing, ...patch, pid, updatedBy: who.username, updatedAt: new Date().toISOString() };
          store.updateDataset(merged);
          return sendJson(res, 200, merged);
        }
      } else if (route.length === obIndex + 1) {
        if (method === "GET") return sendJson(res, 200, store.origDatablocks(pid));
        if (method === "POST") {
          const doc = validateOrigDatablock(await readJson(req));
          const now = new Date().toISOString();
          const stored = {
            ...doc,
            _id: randomUUID(),
            id: "",
            datasetId: pid,
            ownerGroup: existing.ownerGroup,
            accessGroups: existing.accessGroups ?? [],
            createdBy: who.username,
            createdAt: now,
            updatedAt: now,
          };
          stored.id = stored._id;
          store.addOrigDatablock(stored as typeof stored & { id: string; datasetId: string });
          return sendJson(res, 201, stored);
        }
      }
    }
    if (route[0] === "origdatablocks" && route.length === 2 && method === "PATCH") {
      const who = authenticate(req);
      const existing = store.origDatablock(route[1]!);
      if (!existing)
        throw new HttpError(404, "Not Found", {
          body: { statusCode: 404, message: `OrigDatablock ${route[1]} not found`, error: "Not Found" },
        });
      const patch = (await readJson(req)) as Record<string, unknown>;
      const merged = {
        ...existing,
        ...validateOrigDatablock({ ...existing, ...patch }),
        id: route[1]!,
        updatedBy: who.username,
        updatedAt: new Date().toISOString(),
      };
      store.updateOrigDatablock(merged);
      return sendJson(res, 200, merged);
    }
    throw new HttpError(404, "Not Found", { body: { statusCode: 404, message: `Cannot ${method} ${url.pathname}`, error: "Not Found" } });
  };

  return createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (e instanceof HttpError) sendJson(res, e.status, e.body ?? { statusCode: e.status, message: e.message }, e.headers);
      else {
        console.error(`scicat: ${(e as Error).stack ?? e}`);
        sendJson(res, 500, { statusCode: 500, message: "Internal server error" });
      }
    });
  });
}
