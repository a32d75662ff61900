// Starts the local OpenWhisk platform as a real process on an ephemeral port with a temporary data
// directory, and gives tests an `openwhisk` npm client and raw HTTP helpers against it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import openwhisk from "openwhisk";
import { startService, type RunningService } from "../support/service.ts";

export const GUEST_AUTH = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP";

export interface Platform {
  service: RunningService;
  url: string;
  dataDir: string;
  // The client's bundled typings describe only part of what OpenWhisk answers (e.g. list items'
  // exec, activation annotations); the tests check the real answers field by field.
  ow: any;
  /** raw request with the guest key (or `auth`) against /api/v1/...; a body that is not JSON comes as text */
  http(method: string, path: string, body?: unknown, auth?: string | null): Promise<{ status: number; body: any; headers: Headers }>;
  stop(): Promise<void>;
}

export async function startPlatform(opts: { dataDir?: string; args?: string[] } = {}): Promise<Platform> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "ow-test-"));
  const service = await startService("local/openwhisk/main.ts", ["--port", "0", "--data-dir", dataDir, ...(opts.args ?? [])], {
    listeners: ["openwhisk"],
  });
  const url = service.urls.openwhisk!;
  return {
    service,
    url,
    dataDir,
    ow: openwhisk({ apihost: url, api_key: GUEST_AUTH, namespace: "guest" }),
    async http(method, path, body, auth = GUEST_AUTH) {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (auth) headers.authorization = `Basic ${Buffer.from(auth).toString("base64")}`;
      const res = await fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      const json = (res.headers.get("content-type") ?? "").startsWith("application/json");
      return { status: res.status, body: text ? (json ? JSON.parse(text) : text) : undefined, headers: res.headers };
    },
    async stop() {
      await service.stop();
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Polls until `fn` returns a value (not undefined) or the time is up. */
export async function eventually<T>(fn: () => Promise<T | undefined>, what: string, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}
