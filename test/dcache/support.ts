// Shared by the dCache tests: a real local storage process over a temporary directory, and raw
// HTTP helpers (node:http, so that paths like "/../x" reach the server unnormalised).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "node:http";
import { startService, type RunningService } from "../support/service.ts";

export const BASIC = "Basic " + Buffer.from("demo:demo").toString("base64");

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
export function raw(base: string, method: string, path: string, opts: { headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<RawResponse> {
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
