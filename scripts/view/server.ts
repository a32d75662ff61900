// The view server: serves the page (bundled with esbuild, no CDN) and a small JSON API the page
// reads. It holds the credentials and talks to the public APIs — OpenWhisk REST, the feed
// provider, SciCat, Rucio and the dCache WebDAV door (for derived previews) — and masks every
// credential before anything reaches the browser. Binds 127.0.0.1 unless told otherwise; on any
// other address it requires HTTP Basic authentication (`login`).
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import openwhisk, { type Client } from "openwhisk";
import { RucioClient } from "../../functions/_shared/rucio-client.ts";
import { ScicatClient } from "../../functions/catalogue/scicat-client.ts";
import { Storage } from "../../functions/_shared/storage.ts";
import { maskSecrets } from "../build/secrets.ts";
import type { Provenance } from "../build/provenance.ts";
import { readCitationInfo } from "../cite/citation.ts";
import { codemeta } from "../cite/codemeta.ts";
import { datacite } from "../cite/datacite.ts";
import { ActivationFeed } from "./activations.ts";
import { boundParams, catalogue, wiring } from "./catalogue.ts";
import { ProviderApi, type ProviderConn, type Sample } from "./provider.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export interface ViewOptions {
  host: string;
  port: number;
  openwhisk: { apihost: string; auth: string };
  provider?: ProviderConn;
  /** "user:password" the browser must present (HTTP Basic); required off loopback */
  login?: string;
  /** activations from this time on (epoch ms) */
  since: number;
  pollMs?: number;
}

export interface ViewServer {
  url: string;
  feed: ActivationFeed;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const isLoopback = (host: string) => host === "127.0.0.1" || host === "::1" || host === "localhost";

/** The page's script and style, bundled once at start. */
async function bundleApp(): Promise<{ js: string; css: string }> {
  const r = await build({
    absWorkingDir: root,
    entryPoints: [join(root, "view", "main.ts")],
    bundle: true,
    write: false,
    outdir: "/view-out",
    format: "esm",
    target: "es2022",
    minify: true,
    legalComments: "none",
    logLevel: "silent",
  });
  const js = r.outputFiles.find((f) => f.path.endsWith(".js"))!.text;
  const css = r.outputFiles.find((f) => f.path.endsWith(".css"))?.text ?? "";
  return { js, css };
}

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Storage events pipeline</title><link rel="stylesheet" href="/app.css"></head>
<body><div id="app">Loading…</div><script type="module" src="/app.js"></script></body></html>`;

interface HealthPoint {
  t: number;
  [series: string]: number | null;
}

const sum = (samples: Sample[], name: string) => samples.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);
/** null when the provider does not export the metric at all (e.g. replica gauges without HA) */
const sumOrNull = (samples: Sample[], name: string) => (samples.some((s) => s.name === name) ? sum(samples, name) : null);

export async function startViewServer(o: ViewOptions): Promise<ViewServer> {
  if (!isLoopback(o.host) && !o.login)
    throw new Error(`the view on ${o.host} (not loopback) needs a login: give --login USER:PASSWORD (HTTP Basic), or bind 127.0.0.1`);
  if (o.login && !/^[^:]+:.+$/.test(o.login)) throw new Error("--login must be USER:PASSWORD");
  const app = await bundleApp();
  const ow: Client = openwhisk({ apihost: o.openwhisk.apihost, api_key: o.openwhisk.auth });
  const provider = o.provider ? new ProviderApi(o.provider) : undefined;
  const feed = new ActivationFeed(ow, o.since);
  feed.start(o.pollMs ?? 1000);

  // provider metrics sampled over time: the Health view's charts
  const health: HealthPoint[] = [];
  let healthError: string | undefined;
  const sampleHealth = async () => {
    if (!provider) return;
    try {
      const m = await provider.metrics();
      health.push({
        t: Date.now(),
        received: sum(m, "feed_events_received_total"),
        fired: sum(m, "feed_events_fired_total"),
        fires: sum(m, "feed_fires_total"),
        retries: sum(m, "feed_fire_retries_total"),
        deadLettered: sum(m, "feed_events_dead_lettered_total"),
        outbox: sum(m, "feed_outbox_depth"),
        succeeded: sum(m, "feed_files_succeeded_total"),
        failed: sum(m, "feed_files_failed_total"),
        replicas: sumOrNull(m, "feed_live_replicas"),
        leases: sumOrNull(m, "feed_units_held"),
      });
      if (health.length > 5000) health.splice(0, health.length - 5000);
      healthError = undefined;
    } catch (e) {
      healthError = (e as Error).message;
    }
  };
  void sampleHealth();
  const healthTimer = setInterval(() => void sampleHealth(), 5000);

  const expected = o.login
    ? createHash("sha256")
        .update(`Basic ${Buffer.from(o.login).toString("base64")}`)
        .digest()
    : undefined;
  const authorised = (req: IncomingMessage) =>
    !expected ||
    timingSafeEqual(
      createHash("sha256")
        .update(req.headers.authorization ?? "")
        .digest(),
      expected,
    );

  // credentials of the services, from the parameters the pipeline's actions are bound to
  const paramsWith = async (key: string): Promise<Record<string, unknown>> => {
    const list = (await ow.actions.list({ limit: 200 } as never)) as unknown as Array<{ namespace: string; name: string }>;
    for (const a of list) {
      const p = await boundParams(ow, `/${a.namespace}/${a.name}`).catch(() => ({}) as Record<string, unknown>);
      if (p[key]) return p;
    }
    throw new HttpError(502, `no deployed action is bound to a ${key}; deploy the pipeline first`);
  };

  const needProvider = () => {
    if (!provider)
      throw new HttpError(503, "no feed provider configured: start the view with --provider URL --provider-auth USER:PASSWORD");
    return provider;
  };

  const send = (res: ServerResponse, status: number, body: unknown) => {
    // the last guard: whatever a route returns is masked
    const text = JSON.stringify(maskSecrets(body));
    res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", "content-length": Buffer.byteLength(text) });
    res.end(text);
  };

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://view");
    const p = url.pathname;
    const method = req.method ?? "GET";
    if (!authorised(req)) {
      res.setHeader("www-authenticate", 'Basic realm="pipeline view"');
      throw new HttpError(401, "log in with the view's user and password (--login)");
    }
    const secure = {
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
    };
    if (method === "GET" && (p === "/" || p === "/index.html")) {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", ...secure });
      return void res.end(PAGE);
    }
    if (method === "GET" && p === "/app.js") {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8", ...secure });
      return void res.end(app.js);
    }
    if (method === "GET" && p === "/app.css") {
      res.writeHead(200, { "content-type": "text/css; charset=utf-8", ...secure });
      return void res.end(app.css);
    }
    if (!p.startsWith("/api/")) throw new HttpError(404, `no page ${p}`);
    if (method === "POST") {
      // a cross-site form cannot set this header, so a POST from another site is refused (CSRF)
      if (req.headers["x-view-request"] !== "1") throw new HttpError(403, "POST needs the header X-View-Request: 1");
    }
    if (method === "GET" && p === "/api/activations") {
      const after = Number(url.searchParams.get("after") ?? 0) || 0;
      const limit = Math.min(20_000, Number(url.searchParams.get("limit") ?? 5000) || 5000);
      const records = feed.after(after, limit);
      return send(res, 200, { since: feed.since, total: feed.total, polls: feed.polls, records, error: feed.lastError ?? null });
    }
    if (method === "GET" && p === "/api/functions") {
      let triggersError: string | null = null;
      const [functions, triggers] = await Promise.all([
        catalogue(ow, feed.records),
        wiring(ow).catch((e: Error) => {
          triggersError = `cannot list triggers and rules: ${e.message}`;
          return [];
        }),
      ]);
      return send(res, 200, { functions, triggers, triggersError, since: feed.since });
    }
    if (method === "GET" && p === "/api/files") {
      const state = url.searchParams.get("state") || undefined;
      const prefix = url.searchParams.get("prefix") || undefined;
      if (prefix && !prefix.startsWith("/")) throw new HttpError(400, "a prefix starts with / (a path in the storage)");
      const max = 100_000;
      const files = await needProvider().files({ ...(state ? { state } : {}), ...(prefix ? { prefix } : {}) }, max);
      return send(res, 200, { files: files.slice(0, max), truncated: files.length >= max });
    }
    if (method === "GET" && p === "/api/file") {
      const path = url.searchParams.get("path") ?? "";
      if (!path.startsWith("/")) throw new HttpError(400, "give ?path=/the/file");
      const ledger = provider ? (await provider.files({ prefix: path })).filter((f) => f.path === path) : [];
      const history = feed.records.filter(
        (r) =>
          r.files.some((f) => f.path === path) ||
          r.failed.some((f) => f.path === path) ||
          r.skipped.some((f) => f.path === path) ||
          r.error?.paths.includes(path),
      );
      const refs = history.flatMap((r) => r.files.filter((f) => f.path === path));
      return send(res, 200, {
        path,
        ledger,
        history,
        pid: refs.find((f) => f.pid)?.pid ?? null,
        did: refs.find((f) => f.did)?.did ?? null,
        derived: [...new Map(refs.flatMap((f) => f.derived ?? []).map((d) => [d.path, d])).values()],
      });
    }
    if (method === "POST" && p === "/api/files/retry") {
      const body = await readJson(req);
      const paths = (body as { paths?: unknown }).paths;
      if (
        !Array.isArray(paths) ||
        paths.length === 0 ||
        paths.length > 100_000 ||
        !paths.every((x) => typeof x === "string" && x.startsWith("/"))
      ) {
        throw new HttpError(400, "give {paths: ['/path/of/a/failed/file', …]} (1 to 100000 paths)");
      }
      return send(res, 200, { retried: await needProvider().retry(paths as string[]) });
    }
    if (method === "GET" && p === "/api/scicat") {
      const pid = url.searchParams.get("pid") ?? "";
      if (!pid) throw new HttpError(400, "give ?pid=");
      const params = await paramsWith("scicatUrl");
      const r = await new ScicatClient(params as never).call("GET", `/datasets/${encodeURIComponent(pid)}`);
      return send(
        res,
        r.status === 200 ? 200 : 404,
        r.status === 200 ? { dataset: r.json } : { error: `SciCat has no dataset ${pid} (HTTP ${r.status})` },
      );
    }
    if (method === "GET" && p === "/api/rucio") {
      const scope = url.searchParams.get("scope") ?? "";
      const name = url.searchParams.get("name") ?? "";
      if (!scope || !name) throw new HttpError(400, "give ?scope=&name=");
      const params = await paramsWith("rucioUrl");
      const r = await new RucioClient(params as never).call("GET", `/dids/${encodeURIComponent(scope)}/${encodeURIComponent(name)}/rules`);
      if (r.status !== 200)
        return send(res, 404, { error: `Rucio: no rules for ${scope}:${name} (HTTP ${r.status}${r.message ? `: ${r.message}` : ""})` });
      return send(res, 200, {
        rules: r.text
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l)),
      });
    }
    if (method === "GET" && p === "/api/preview") {
      const path = url.searchParams.get("path") ?? "";
      if (!/^\/.*\.png$/.test(path) || path.includes("/../")) throw new HttpError(400, "a preview is a derived .png path");
      const params = await paramsWith("webdavUrl");
      const storage = new Storage(params as never);
      const r = await fetch(String(params.webdavUrl).replace(/\/+$/, "") + path.split("/").map(encodeURIComponent).join("/"), {
        headers: storage.authHeaders,
        signal: AbortSignal.timeout(30_000),
      });
      if (!r.ok) throw new HttpError(r.status === 404 ? 404 : 502, `dCache answered ${r.status} for ${path}`);
      const png = Buffer.from(await r.arrayBuffer());
      res.writeHead(200, { "content-type": "image/png", "content-length": png.length, "cache-control": "max-age=60", ...secure });
      return void res.end(png);
    }
    if (method === "GET" && p === "/api/cite") {
      const name = url.searchParams.get("action") ?? "";
      const format = url.searchParams.get("format") ?? "codemeta";
      const a = (await ow.actions.get({ name: `/${name}` } as never).catch(() => {
        throw new HttpError(404, `no action ${name}`);
      })) as unknown as { annotations?: Array<{ key: string; value: unknown }> };
      const prov = a.annotations?.find((x) => x.key === "provenance")?.value as Provenance | undefined;
      if (!prov) throw new HttpError(404, `action ${name} carries no provenance annotation (deployed without scripts/build?)`);
      const info = readCitationInfo(root);
      const fn = name.split("/").pop()!;
      const doc =
        format === "datacite"
          ? datacite(info, prov, fn, {
              prefix: process.env.DATACITE_PREFIX ?? "10.5072",
              publisher: process.env.DATACITE_PUBLISHER ?? info.title,
              year: new Date().getFullYear(),
            })
          : codemeta(info, prov, fn);
      return send(res, 200, doc);
    }
    if (method === "GET" && p === "/api/health") {
      const status = provider
        ? await provider.health().catch((e: Error) => ({ error: e.message }))
        : { error: "no feed provider configured" };
      return send(res, 200, { provider: status, series: health, error: healthError ?? null, activationsError: feed.lastError ?? null });
    }
    throw new HttpError(404, `no route ${method} ${p}`);
  }

  const server: Server = createServer((req, res) => {
    route(req, res).catch((e: Error) => {
      const status = e instanceof HttpError ? e.status : 502;
      if (!res.headersSent) send(res, status, { error: e.message });
      else res.end();
    });
  });
  await new Promise<void>((r, j) => {
    server.once("error", j);
    server.listen(o.port, o.host, () => r());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}/`,
    feed,
    close: async () => {
      feed.stop();
      clearInterval(healthTimer);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 5_000_000) throw new HttpError(413, "request body too large");
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
  } catch {
    throw new HttpError(400, "the request body is not JSON");
  }
}
