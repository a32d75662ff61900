// Helpers for the end-to-end tests: the whole local stack (as `npm start` runs it) on ephemeral ports,
// and ways to wait for what the pipeline made of a file.
import { mkdtempSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import openwhisk, { type Activation, type Dict } from "openwhisk";
import type { StackOptions } from "../../scripts/stack/options.ts";
import { LocalStack, GUEST_AUTH } from "../../scripts/stack/stack.ts";

export type Rec = Activation<Dict> & { cause?: string };

export async function startStack(
  more: Partial<StackOptions> = {},
  beforeDeploy?: (stack: LocalStack) => Promise<void>,
): Promise<{ stack: LocalStack; ow: ReturnType<typeof openwhisk> }> {
  const root = mkdtempSync(join(tmpdir(), "e2e-"));
  const stack = LocalStack.onFreePorts(root, more);
  await stack.start();
  await beforeDeploy?.(stack);
  await stack.serverless(["deploy"]);
  return { stack, ow: openwhisk({ apihost: stack.endpoints.OW_APIHOST, api_key: GUEST_AUTH }) };
}

export const pathOf = (a: Rec) => String(a.annotations?.find((x) => x.key === "path")?.value ?? "");

/** Every activation since `since` (epoch ms), following pages. */
export async function activationsSince(ow: ReturnType<typeof openwhisk>, since: number): Promise<Rec[]> {
  const all: Rec[] = [];
  for (let skip = 0; ; skip += 200) {
    const page = (await ow.activations.list({ docs: true, since, limit: 200, skip } as never)) as unknown as Rec[];
    all.push(...page);
    if (page.length < 200) return all;
  }
}

export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, stack?: LocalStack): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${stack ? `; logs in ${stack.state}/logs` : ""}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Files (paths) whose ingest sequence succeeded, with their result record. */
export function ingested(recs: Rec[]): Map<string, Dict> {
  const out = new Map<string, Dict>();
  for (const a of recs) {
    if (!pathOf(a).endsWith("/facility-dev-ingest") || !a.response?.success) continue;
    for (const f of ((a.response.result as Dict).files ?? []) as Dict[]) out.set(f.path, f);
  }
  return out;
}

/** The provider's API for the stack's raw-files registration, with the provider's and the owner's keys. */
export function rawFilesApi(stack: LocalStack, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${stack.endpoints.PROVIDER_URL}/api/v1/registrations/guest/raw-files${path}`, {
    ...init,
    headers: {
      authorization: `Basic ${Buffer.from(stack.endpoints.PROVIDER_AUTH).toString("base64")}`,
      "x-owner-key": GUEST_AUTH,
      "content-type": "application/json",
    },
  });
}

export async function scicatToken(url: string): Promise<string> {
  const r = await fetch(`${url}/api/v3/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "ingestor", password: "ingestor" }),
  });
  return ((await r.json()) as { access_token: string }).access_token;
}

/**
 * A loopback proxy in front of a service: passes every request through, except while `failing`,
 * when it answers 500 as a broken server does (the functions are deployed with its URL).
 */
export async function faultyProxy(target: string): Promise<{ url: string; failing: boolean; failed: number; close(): void }> {
  const state = { url: "", failing: false, failed: 0, close: () => server.close() };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (state.failing) {
        state.failed++;
        res.writeHead(500, { "content-type": "application/json" });
        return res.end('{"statusCode":500,"message":"Internal server error"}');
      }
      const headers = { ...req.headers };
      delete headers.host;
      fetch(target + (req.url ?? "/"), {
        method: req.method,
        headers: headers as Record<string, string>,
        body: chunks.length ? Buffer.concat(chunks) : undefined,
      })
        .then(async (r) => {
          const body = Buffer.from(await r.arrayBuffer());
          const out: Record<string, string> = {};
          r.headers.forEach((v, k) => {
            if (!["content-length", "transfer-encoding", "connection", "content-encoding"].includes(k)) out[k] = v;
          });
          res.writeHead(r.status, out);
          res.end(body);
        })
        .catch(() => {
          res.writeHead(502);
          res.end();
        });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}
