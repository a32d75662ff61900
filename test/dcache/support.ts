// Shared by the dCache tests: a real local storage process over a temporary directory, and raw
// HTTP helpers (node:http, so that paths like "/../x" reach the server unnormalised).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "node:http";
import { startService, type RunningService } from "../support/service.ts";

export const BASIC = `Basic ${Buffer.from("demo:demo").toString("base64")}`;

export interface Storage {
  svc: RunningService;
  root: string;
  frontend: string;
  webdav: string;
  stop(): Promise<void>;
}

export async function startStorage(extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Storage> {
  const root = mkdtempSync(join(tmpdir(), "dcache-test-"));
  const svc = await startService("local/dcache/main.ts", ["--root", root, "--frontend-port", "0", "--webdav-port", "0", ...extraArgs], {
    listeners: ["dcache-frontend", "dcache-webdav"],
    env,
  }).catch((e) => {
    rmSync(root, { recursive: true, force: true });
    throw e;
  });
  return {
    svc,
    root,
    frontend: svc.urls["dcache-frontend"]!,
    webdav: svc.urls["dcache-webdav"]!,
    async stop() {
      await svc.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
}

/** One HTTP request with the path sent exactly as given. */
export function raw(
  base: string,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawResponse> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, body, text: body.toString("utf8") });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

export const auth = (extra: Record<string, string> = {}) => ({ Authorization: BASIC, ...extra });

import { createParser } from "eventsource-parser";

export interface SseMessage {
  event?: string;
  id?: string;
  data: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface SseReader {
  status: number;
  messages: SseMessage[];
  /** resolves when the server ends the stream */
  ended: Promise<void>;
  waitFor(pred: (m: SseMessage) => boolean, timeoutMs?: number, what?: string): Promise<SseMessage>;
  /** waits until `n` messages matching pred have arrived */
  waitForCount(pred: (m: SseMessage) => boolean, n: number, timeoutMs?: number): Promise<SseMessage[]>;
  close(): void;
}

/** Opens a channel's SSE stream with a plain HTTP request and parses it with eventsource-parser. */
export function openSse(channelUrl: string, headers: Record<string, string> = auth()): Promise<SseReader> {
  const u = new URL(channelUrl);
  return new Promise((resolve, reject) => {
    const messages: SseMessage[] = [];
    const waiters = new Set<() => void>();
    let endedResolve!: () => void;
    const ended = new Promise<void>((r) => (endedResolve = r));
    const req = request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, headers: { Accept: "text/event-stream", ...headers }, agent: false },
      (res) => {
        const parser = createParser({
          onEvent(e) {
            let json: unknown;
            try {
              json = JSON.parse(e.data);
            } catch {
              json = undefined;
            }
            messages.push({ event: e.event, id: e.id, data: e.data, json });
            for (const w of [...waiters]) w();
          },
        });
        res.setEncoding("utf8");
        res.on("data", (d: string) => parser.feed(d));
        res.on("end", () => endedResolve());
        res.on("close", () => endedResolve());
        res.on("error", () => endedResolve());
        const reader: SseReader = {
          status: res.statusCode!,
          messages,
          ended,
          waitForCount(pred, n, timeoutMs = 10_000) {
            return new Promise((ok, fail) => {
              // counted incrementally: replays can bring tens of thousands of messages
              const got: SseMessage[] = [];
              let seen = 0;
              const check = () => {
                for (; seen < messages.length; seen++) if (pred(messages[seen]!)) got.push(messages[seen]!);
                if (got.length >= n) {
                  waiters.delete(check);
                  clearTimeout(t);
                  ok(got);
                }
              };
              const t = setTimeout(() => {
                waiters.delete(check);
                fail(
                  new Error(
                    // the last messages only: a replay of thousands would push the run's summary out of a CI log's tail
                    `expected ${n} matching SSE messages within ${timeoutMs} ms; ${got.length} matched of ${messages.length} received, the last ones:\n${messages
                      .slice(-20)
                      .map((m) => `${m.event} ${m.id ?? "-"} ${m.data}`)
                      .join("\n")}`,
                  ),
                );
              }, timeoutMs);
              waiters.add(check);
              check();
            });
          },
          async waitFor(pred, timeoutMs = 10_000) {
            return (await reader.waitForCount(pred, 1, timeoutMs))[0]!;
          },
          close() {
            req.destroy();
          },
        };
        resolve(reader);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** Creates a channel and returns its URL. */
export async function createChannel(frontend: string, headers = auth(), body?: unknown): Promise<string> {
  const r = await raw(frontend, "POST", "/api/v1/events/channels", {
    headers: { ...headers, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status !== 201) throw new Error(`channel creation gave ${r.status}: ${r.text}`);
  return r.headers.location as string;
}

export async function subscribe(channelUrl: string, selector: unknown, headers = auth()): Promise<RawResponse> {
  const u = new URL(channelUrl);
  return raw(u.origin, "POST", `${u.pathname}/subscriptions/inotify`, {
    headers: { ...headers, "Content-Type": "application/json" },
    body: JSON.stringify(selector),
  });
}

export const isInotify = (name: string, type: string) => (m: SseMessage) =>
  m.event === "inotify" && m.json?.event?.name === name && m.json.event.mask.includes(type);
export const isSystem = (type: string) => (m: SseMessage) => m.event === "SYSTEM" && m.json?.type === type;
