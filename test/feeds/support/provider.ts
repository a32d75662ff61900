// Starts the feed provider as a real process and talks to its HTTP API like the feed action does.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { startService, type RunningService } from "../../support/service.ts";

export const PROVIDER_AUTH = "feedprovider:s3cret-provider-pass-0123";
export const PROVIDER_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
export const MQTT_URL = process.env.FEED_TEST_MQTT ?? "mqtt://127.0.0.1:1883";

export function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startProvider(opts: { dataDir: string; apihost?: string; extra?: string[] }): Promise<RunningService> {
  return startService(
    "feeds/provider/main.ts",
    [
      "--port",
      "0",
      "--data-dir",
      opts.dataDir,
      "--retry-base-ms",
      "40",
      "--retry-max-ms",
      "300",
      "--mqtt-reconnect-ms",
      "200",
      ...(opts.apihost ? ["--openwhisk-url", opts.apihost] : []),
      ...(opts.extra ?? []),
    ],
    { listeners: ["provider"], env: { PROVIDER_AUTH, PROVIDER_KEY, PROVIDER_LOG_LEVEL: "debug" } },
  );
}

export class ProviderClient {
  constructor(
    readonly url: string,
    readonly ownerKey?: string,
  ) {}

  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        authorization: `Basic ${Buffer.from(PROVIDER_AUTH).toString("base64")}`,
        ...(this.ownerKey ? { "x-owner-key": this.ownerKey } : {}),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text && res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text };
  }

  create(trigger: string, authKey: string, config: unknown) {
    return this.call("POST", "/api/v1/registrations", { triggerName: `/guest/${trigger}`, authKey, config });
  }
  read(trigger: string) {
    return this.call("GET", `/api/v1/registrations/guest/${trigger}`);
  }
  async metric(name: string, trigger: string): Promise<number> {
    const text = (await this.call("GET", "/metrics")).body as string;
    const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(`trigger="/guest/${trigger}"`));
    return line ? Number(line.split(" ").pop()) : 0;
  }
}

export async function publisher(url = MQTT_URL) {
  try {
    return await mqtt.connectAsync(url, { protocolVersion: 5, connectTimeout: 3000, reconnectPeriod: 0 });
  } catch (e) {
    throw new Error(`these tests need an MQTT broker (Mosquitto) at ${url}; start it (CI does: .ci/run) — ${(e as Error).message}`);
  }
}

/** A dCache SSE envelope as an SSE→MQTT bridge publishes it: the file /data/<dir>/run-<i>.nxs closed. */
export function envelope(i: number, dir = "beamline"): string {
  return JSON.stringify({
    event: { name: `run-${String(i).padStart(5, "0")}.nxs`, mask: ["IN_CLOSE_WRITE"] },
    subscription: `https://dcache.example:3880/api/v1/events/channels/CH${dir}/subscriptions/inotify/S1`,
    path: `/data/${dir}`,
    id: i,
  });
}

export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 15000, everyMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function uniqueTopic(name: string): string {
  return `feedtest/${process.pid}/${Date.now().toString(36)}/${name}`;
}
