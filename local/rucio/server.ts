// The subset of Rucio's REST API the placement and lifecycle functions use: userpass auth, replica
// registration (PFNs per RSE), replication rules (lifetimes, update, delete), and the read calls to
// inspect them. Behind it, RSEs are folders: a transfer daemon copies replicas with an ADLER32 check
// (conveyor.ts) and a reaper deletes replicas no rule protects any more (reaper.ts). Errors are
// Rucio-shaped: headers ExceptionClass/ExceptionMessage and a JSON body with the same two keys.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { HttpError, readJson, sendJson } from "../../lib/http/server.ts";
import { InvalidExpression, resolveExpression, type Rse } from "./expression.ts";
import { Conveyor } from "./conveyor.ts";
import { expireRules, lockReplicas, reap, removeRule } from "./reaper.ts";
import type { RseStorages } from "./storage.ts";
import type { RucioStore, RuleRow } from "./store.ts";

export interface RucioAccount {
  account: string;
  username: string;
  password: string;
}

export interface RucioOptions {
  accounts: RucioAccount[];
  rses: Rse[];
  scopes: string[];
  tokenLifetimeS: number;
  /** every RSE's folder and PFN prefix */
  storages: RseStorages;
  log?: (line: string) => void;
}

class RucioError extends HttpError {
  constructor(
    status: number,
    readonly exceptionClass: string,
    message: string,
  ) {
    super(status, message);
  }
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function ruleJson(r: RuleRow): Record<string, unknown> {
  return {
    id: r.id,
    scope: r.scope,
    name: r.name,
    did_type: "FILE",
    account: r.account,
    rse_expression: r.rse_expression,
    copies: r.copies,
    state: r.state,
    error: r.error ?? null,
    expires_at: r.expires_at,
    created_at: r.created_at,
    activity: r.activity ?? "User Subscriptions",
    comments: r.comment,
    grouping: r.grouping,
  };
}

export function createRucioServer(store: RucioStore, opts: RucioOptions): Server & { daemons(): Promise<void> } {
  const rseNames = new Set(opts.rses.map((r) => r.name));

  const defaultScope = opts.scopes[0] ?? "raw";
  const conveyor = new Conveyor({ store, rses: opts.rses, storages: opts.storages, defaultScope, log: opts.log });
  /** Rule lifetimes end on every request (Rucio's judge-cleaner, so that reads are never stale). */
  const sweep = () => expireRules(store, opts.rses);
  /** The daemons' round: expire rules, copy what REPLICATING rules need, delete unprotected replicas. */
  const daemons = async () => {
    sweep();
    await conveyor.pass();
    reap(store, opts.storages, defaultScope, opts.log);
  };

  const authenticate = (req: IncomingMessage): string => {
    const token = req.headers["x-rucio-auth-token"];
    const account = typeof token === "string" ? store.tokenAccount(token) : undefined;
    if (!account) throw new RucioError(401, "CannotAuthenticate", "Cannot authenticate with given credentials");
    return account;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://rucio");
    const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    const method = req.method ?? "GET";
    sweep();

    if (method === "GET" && parts[0] === "auth" && parts[1] === "userpass") {
      const h = (n: string) => (typeof req.headers[n] === "string" ? (req.headers[n] as string) : undefined);
      const acct = opts.accounts.find((a) => a.account === h("x-rucio-account") && a.username === h("x-rucio-username"));
      if (!acct || !sameSecret(h("x-rucio-password") ?? "", acct.password)) {
        throw new RucioError(
          401,
          "CannotAuthenticate",
          `Cannot authenticate to account ${h("x-rucio-account") ?? ""} with given credentials`,
        );
      }
      const token = `${acct.account}-${acct.username}-unknown-${randomBytes(16).toString("hex")}`;
      const expires = Date.now() + opts.tokenLifetimeS * 1000;
      store.addToken(token, acct.account, expires);
      res.writeHead(200, {
        "X-Rucio-Auth-Token": token,
        "X-Rucio-Auth-Token-Expires": new Date(expires).toUTCString(),
        "Content-Length": 0,
      });
      res.end();
      return;
    }
    if (method === "GET" && parts[0] === "ping") return sendJson(res, 200, { version: "35.0.0-local" });

    const account = authenticate(req);

    if (method === "POST" && parts.length === 1 && parts[0] === "replicas") {
      const body = (await readJson(req)) as { rse?: unknown; files?: unknown } | undefined;
      if (!body || typeof body.rse !== "string" || !Array.isArray(body.files))
        throw new RucioError(400, "InvalidObject", "Provided object does not match schema: rse and files are required");
      if (!rseNames.has(body.rse)) throw new RucioError(404, "RSENotFound", `RSE '${body.rse}' cannot be found`);
      const files = body.files as Array<{ scope?: unknown; name?: unknown; bytes?: unknown; adler32?: unknown; pfn?: unknown }>;
      for (const f of files) {
        if (f.pfn !== undefined && (typeof f.pfn !== "string" || !opts.storages.pathOf(body.rse, f.pfn))) {
          throw new RucioError(
            400,
            "InvalidPath",
            `PFN ${String(f.pfn)} is not a path of RSE ${body.rse} (its PFNs start with ${opts.storages.of(body.rse)?.pfn ?? "?"}/)`,
          );
        }
        if (typeof f.scope !== "string" || typeof f.name !== "string" || typeof f.bytes !== "number")
          throw new RucioError(400, "InvalidObject", "Provided object does not match schema: each file needs scope, name, bytes");
        if (f.adler32 !== undefined && (typeof f.adler32 !== "string" || !/^[0-9a-fA-F]{1,8}$/.test(f.adler32)))
          throw new RucioError(400, "InvalidObject", `Invalid adler32 for ${f.scope}:${f.name}`);
        if (!opts.scopes.includes(f.scope)) throw new RucioError(404, "ScopeNotFound", `Scope '${f.scope}' does not exist`);
      }
      // All or nothing, as Rucio's add_replicas runs in one transaction.
      const tx = store.db.transaction(() => {
        for (const f of files as Array<{ scope: string; name: string; bytes: number; adler32?: string; pfn?: string }>) {
          const did = store.did(f.scope, f.name);
          if (
            did &&
            ((did.bytes !== null && did.bytes !== f.bytes) || (did.adler32 && f.adler32 && did.adler32 !== f.adler32.toLowerCase()))
          ) {
            throw new RucioError(
              409,
              "FileConsistencyMismatch",
              `(bytes, adler32) of ${f.scope}:${f.name} differ from the registered file`,
            );
          }
          if (store.replica(body.rse as string, f.scope, f.name))
            throw new RucioError(409, "Duplicate", `File replica already exists: ${f.scope}:${f.name} at ${body.rse as string}`);
          store.addDid(f.scope, f.name, f.bytes, f.adler32?.toLowerCase());
          store.addReplica(
            body.rse as string,
            f.scope,
            f.name,
            f.pfn ?? opts.storages.pfnFor(body.rse as string, f.scope, f.name, defaultScope),
          );
        }
      });
      tx();
      res.writeHead(201, { "Content-Type": "text/html; charset=utf-8", "Content-Length": 7 });
      res.end("Created");
      return;
    }

    if (method === "GET" && parts[0] === "replicas" && parts.length === 3) {
      const [, scope, name] = parts as [string, string, string];
      const did = store.did(scope, name);
      if (!did) throw new RucioError(404, "DataIdentifierNotFound", `Data identifier '${scope}:${name}' not found`);
      // as Rucio's list_replicas: AVAILABLE replicas, every state with all_states=True
      const all = /^(true|1)$/i.test(url.searchParams.get("all_states") ?? "");
      const reps = store.replicas(scope, name).filter((r) => all || r.state === "AVAILABLE");
      const line = {
        scope,
        name,
        bytes: did.bytes,
        adler32: did.adler32,
        rses: Object.fromEntries(reps.map((r) => [r.rse, r.pfn ? [r.pfn] : []])),
        pfns: Object.fromEntries(reps.filter((r) => r.pfn).map((r) => [r.pfn!, { rse: r.rse, type: "DISK", volatile: false }])),
        states: Object.fromEntries(reps.map((r) => [r.rse, r.state])),
      };
      res.writeHead(200, { "Content-Type": "application/x-json-stream" });
      res.end(`${JSON.stringify(line)}\n`);
      return;
    }

    if (method === "POST" && parts.length === 1 && parts[0] === "rules") {
      const body = (await readJson(req)) as Record<string, unknown> | undefined;
      const dids = body?.dids;
      if (
        !body ||
        !Array.isArray(dids) ||
        !dids.length ||
        typeof body.rse_expression !== "string" ||
        typeof body.copies !== "number" ||
        typeof body.account !== "string"
      ) {
        throw new RucioError(
          400,
          "InvalidObject",
          "Provided object does not match schema: dids, account, copies, rse_expression are required",
        );
      }
      if (body.account !== account)
        throw new RucioError(401, "AccessDenied", `Account ${account} can not add rule for account ${body.account as string}`);
      if (body.lifetime !== undefined && body.lifetime !== null && (typeof body.lifetime !== "number" || body.lifetime <= 0))
        throw new RucioError(400, "InvalidObject", "lifetime must be a positive number of seconds");
      let targets: string[];
      try {
        targets = resolveExpression(body.rse_expression, opts.rses);
      } catch (e) {
        if (e instanceof InvalidExpression) throw new RucioError(409, "InvalidRSEExpression", e.message);
        throw e;
      }
      if (body.copies < 1 || body.copies > targets.length)
        throw new RucioError(
          409,
          "InsufficientTargetRSEs",
          `Not enough RSEs (${targets.length}) in ${body.rse_expression} for ${body.copies} copies`,
        );
      const ids: string[] = [];
      const tx = store.db.transaction(() => {
        for (const d of dids as Array<{ scope?: unknown; name?: unknown }>) {
          if (typeof d.scope !== "string" || typeof d.name !== "string" || !store.did(d.scope, d.name))
            throw new RucioError(404, "DataIdentifierNotFound", `Data identifier '${String(d.scope)}:${String(d.name)}' not found`);
          const dup = store
            .rulesOf(d.scope, d.name)
            .find((r) => r.account === body.account && r.rse_expression === body.rse_expression && r.copies === body.copies);
          if (dup)
            throw new RucioError(
              409,
              "DuplicateRule",
              `A duplicate rule for this account, did, rse_expression, copies already exists (${dup.id})`,
            );
          const have = targets.filter((t) => store.replica(t, d.scope as string, d.name as string)?.state === "AVAILABLE").length;
          const now = Date.now();
          const rule: RuleRow = {
            id: randomUUID().replace(/-/g, ""),
            scope: d.scope,
            name: d.name,
            account,
            rse_expression: body.rse_expression as string,
            copies: body.copies as number,
            state: have >= (body.copies as number) ? "OK" : "REPLICATING",
            created_at: new Date(now).toISOString(),
            expires_at: typeof body.lifetime === "number" ? new Date(now + body.lifetime * 1000).toISOString() : null,
            activity: typeof body.activity === "string" ? body.activity : null,
            comment: typeof body.comment === "string" ? body.comment : null,
            grouping: typeof body.grouping === "string" ? body.grouping : "DATASET",
          };
          store.addRule(rule);
          lockReplicas(store, opts.rses, rule);
          ids.push(rule.id);
        }
      });
      tx();
      return sendJson(res, 201, ids);
    }

    if (parts[0] === "rules" && parts.length === 2 && (method === "GET" || method === "PUT" || method === "DELETE")) {
      const r = store.rule(parts[1]!);
      if (!r) throw new RucioError(404, "RuleNotFound", `No replication rule found with id ${parts[1]}`);
      if (method === "GET") return sendJson(res, 200, ruleJson(r));
      if (r.account !== account)
        throw new RucioError(
          401,
          "AccessDenied",
          `Account ${account} can not ${method === "PUT" ? "update" : "remove"} rule ${r.id} of account ${r.account}`,
        );
      const body = ((await readJson(req)) ?? {}) as { options?: unknown; purge_replicas?: unknown };
      if (method === "DELETE") {
        // Rucio: delete_replication_rule(rule_id, purge_replicas) → 200
        removeRule(store, opts.rses, r, body.purge_replicas === true);
        res.writeHead(200, { "Content-Length": 0 });
        res.end();
        return;
      }
      // Rucio: update_replication_rule(rule_id, options) → 200; of the options, the lifetime here
      const options = body.options;
      if (!options || typeof options !== "object" || Array.isArray(options))
        throw new RucioError(400, "InvalidObject", "Provided object does not match schema: options is required");
      for (const [k, v] of Object.entries(options)) {
        if (k !== "lifetime")
          throw new RucioError(409, "UnsupportedOperation", `The option ${k} cannot be updated in this Rucio subset (only lifetime)`);
        if (v !== null && (typeof v !== "number" || !(v > 0)))
          throw new RucioError(400, "InvalidValueForKey", `lifetime must be a positive number of seconds or null, got ${String(v)}`);
      }
      const lifetime = (options as { lifetime?: number | null }).lifetime;
      if (lifetime !== undefined)
        store.setRuleExpiry(r.id, lifetime === null ? null : new Date(Date.now() + lifetime * 1000).toISOString());
      res.writeHead(200, { "Content-Length": 0 });
      res.end();
      return;
    }

    // DID metadata (Rucio's DID column plugin): bytes and adler32 of a file DID may be set, and
    // setting them updates its replicas too, as Rucio's set_metadata does.
    if (parts[0] === "dids" && parts.length === 4 && parts[3] === "meta" && (method === "GET" || method === "POST")) {
      const [, scope, name] = parts as [string, string, string];
      const did = store.did(scope, name);
      if (!did) throw new RucioError(404, "DataIdentifierNotFound", `Data identifier '${scope}:${name}' not found`);
      if (method === "GET") return sendJson(res, 200, { scope, name, did_type: "FILE", bytes: did.bytes, adler32: did.adler32, account });
      const body = (await readJson(req)) as { meta?: Record<string, unknown> } | undefined;
      const meta = body?.meta;
      if (!meta || typeof meta !== "object")
        throw new RucioError(400, "InvalidObject", "Provided object does not match schema: meta is required");
      for (const [k, v] of Object.entries(meta)) {
        if (k === "bytes" && (typeof v !== "number" || !Number.isInteger(v) || v < 0))
          throw new RucioError(400, "InvalidValueForKey", `Invalid value for key bytes: ${String(v)}`);
        else if (k === "adler32" && (typeof v !== "string" || !/^[0-9a-fA-F]{1,8}$/.test(v)))
          throw new RucioError(400, "InvalidValueForKey", `Invalid value for key adler32: ${String(v)}`);
        else if (k !== "bytes" && k !== "adler32")
          throw new RucioError(409, "UnsupportedOperation", `The key ${k} cannot be set on ${scope}:${name} in this Rucio subset`);
      }
      store.setDidContent(
        scope,
        name,
        typeof meta.bytes === "number" ? meta.bytes : did.bytes,
        typeof meta.adler32 === "string" ? meta.adler32.toLowerCase() : did.adler32,
      );
      res.writeHead(201, { "Content-Type": "text/html; charset=utf-8", "Content-Length": 7 });
      res.end("Created");
      return;
    }

    if (method === "GET" && parts[0] === "dids" && parts.length === 4 && parts[3] === "rules") {
      const [, scope, name] = parts as [string, string, string];
      if (!store.did(scope, name)) throw new RucioError(404, "DataIdentifierNotFound", `Data identifier '${scope}:${name}' not found`);
      res.writeHead(200, { "Content-Type": "application/x-json-stream" });
      res.end(
        store
          .rulesOf(scope, name)
          .map((r) => `${JSON.stringify(ruleJson(r))}\n`)
          .join(""),
      );
      return;
    }
    throw new RucioError(404, "MethodNotAllowed", `No route for ${method} ${url.pathname}`);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (e instanceof RucioError || e instanceof HttpError) {
        const cls = e instanceof RucioError ? e.exceptionClass : e.status === 400 ? "InvalidObject" : "RucioException";
        sendJson(
          res,
          e.status,
          { ExceptionClass: cls, ExceptionMessage: e.message },
          { ...e.headers, ExceptionClass: cls, ExceptionMessage: e.message.replace(/[^\x20-\x7e]/g, "?") },
        );
      } else {
        console.error(`rucio: ${(e as Error).stack ?? e}`);
        sendJson(res, 500, { ExceptionClass: "RucioException", ExceptionMessage: "An unknown exception occurred." });
      }
    });
  }) as Server & { daemons(): Promise<void> };
  server.daemons = daemons;
  return server;
}
