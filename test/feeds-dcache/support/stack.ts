// The dCache source end to end: the local dCache storage, the local OpenWhisk platform and the feed
// provider as real processes. The feed action is bundled and deployed like in production (package
// `dcache` with the provider's URL and credentials bound), a trigger is created with the feed through
// the openwhisk npm client, and a rule connects it to a no-op action so that OpenWhisk records every
// fire as a trigger activation, whose result is the fired batch: that is what the tests count.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import openwhisk from "openwhisk";
import { bundleAction } from "../../../scripts/build/bundle.ts";
import { FEED_ACTION } from "../../../scripts/build/entries.ts";
import { projectRoot, startService, type RunningService } from "../../support/service.ts";
import { GUEST_KEY } from "../../support/recording-openwhisk.ts";

export { GUEST_KEY };
export const PROVIDER_AUTH = "feedprovider:dcache-src-provider-pass-01";
export const PROVIDER_KEY = "1f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f1";
export const DCACHE_USER = { username: "demo", password: "demo" };

export function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 20000, everyMs = 100): Promise<T> {
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

let feedZip: Promise<string> | undefined;
/** The feed action bundle, built once per test run. */
function feedActionCode(): Promise<string> {
  feedZip ??= (async () => {
    const out = tmp("feed-action-");
    const built = await bundleAction({ name: FEED_ACTION, entry: join(projectRoot, "feeds/dcache/index.ts") }, out, {
      projectDir: projectRoot,
      storeDir: join(out, "store"),
      git: { commit: "test", dirty: false } as never,
    });
    const code = readFileSync(built.bundlePath, "utf8");
    rmSync(out, { recursive: true, force: true });
    return code;
  })();
  return feedZip;
}

export interface DcacheOpts {
  replayBuffer?: number;
  subscriptionQueue?: number;
}

export class Stack {
  readonly dir = tmp("feeds-dcache-");
  readonly root = join(this.dir, "storage");
  dcache!: RunningService;
  openwhisk!: RunningService;
  provider!: RunningService;
  private readonly outputs: string[] = [];

  get frontend(): string {
    return this.dcache.urls["dcache-frontend"]!;
  }

  ow() {
    return openwhisk({ apihost: this.openwhisk.urls.openwhisk!, api_key: GUEST_KEY, namespace: "guest" });
  }

  async startDcache(o: DcacheOpts = {}): Promise<void> {
    mkdirSync(this.root, { recursive: true });
    const args = ["--root", this.root, "--frontend-port", "0", "--webdav-port", "0", "--inotify", "auto"];
    if (o.replayBuffer) args.push("--replay-buffer", String(o.replayBuffer));
    if (o.subscriptionQueue) args.push("--subscription-queue", String(o.subscriptionQueue));
    // the same ports again after a restart: the provider's registrations name the frontend URL
    if (this.dcache) {
      const f = new URL(this.frontend).port;
      const w = new URL(this.dcache.urls["dcache-webdav"]!).port;
      args.splice(3, 1, f);
      args.splice(5, 1, w);
    }
    this.dcache = await startService("local/dcache/main.ts", args, { listeners: ["dcache-frontend", "dcache-webdav"] });
  }

  async startProvider(): Promise<void> {
    if (this.provider) this.outputs.push(this.provider.output());
    this.provider = await startService(
      "feeds/provider/main.ts",
      [
        "--port",
        "0",
        "--data-dir",
        join(this.dir, "provider"),
        "--openwhisk-url",
        this.openwhisk.urls.openwhisk!,
        "--retry-base-ms",
        "50",
        "--retry-max-ms",
        "500",
      ],
      { listeners: ["provider"], env: { PROVIDER_AUTH, PROVIDER_KEY, PROVIDER_LOG_LEVEL: "info" } },
    );
    await this.bindPackage();
  }

  async start(o: DcacheOpts = {}): Promise<void> {
    await this.startDcache(o);
    this.openwhisk = await startService(
      "local/openwhisk/main.ts",
      ["--port", "0", "--data-dir", join(this.dir, "openwhisk"), "--prewarm", "1"],
      { listeners: ["openwhisk"] },
    );
    await this.startProvider();
    const ow = this.ow();
    await ow.actions.create({
      name: "dcache/events",
      action: { exec: { kind: "nodejs:20", code: await feedActionCode() }, annotations: [{ key: "feed", value: true }] } as never,
      overwrite: true,
    });
    await ow.actions.create({
      name: "noop",
      action: "function main(p){return {events:(p.events||[]).length}}",
      kind: "nodejs:20",
      overwrite: true,
    } as never);
  }

  /** The package binds the provider's current URL (a restarted provider listens on a new port). */
  private async bindPackage(): Promise<void> {
    await this.ow().packages.update({
      name: "dcache",
      package: {
        parameters: [
          { key: "providerUrl", value: this.provider.urls.provider! },
          { key: "providerAuth", value: PROVIDER_AUTH },
        ],
      },
    } as never);
  }

  /** Creates trigger + feed + rule; `source` is merged over a recursive dCache source with demo/demo. */
  async createFeed(trigger: string, params: Record<string, unknown>): Promise<void> {
    const ow = this.ow();
    await ow.triggers.create({ name: trigger });
    await ow.feeds.create({ name: "/guest/dcache/events", trigger, params });
    await ow.rules.create({ name: `${trigger}-rule`, trigger, action: "noop" } as never);
  }

  async readFeed(trigger: string): Promise<any> {
    const a = (await (this.ow().feeds as unknown as { get(o: object): Promise<unknown> }).get({
      name: "/guest/dcache/events",
      trigger,
    })) as { response?: { result?: unknown } };
    return a.response?.result;
  }

  /** Every event OpenWhisk recorded for the trigger (trigger activation results are the fired batches). */
  async firedEvents(trigger: string): Promise<{ subject: string; type: string; data: Record<string, unknown> }[]> {
    const ow = this.ow();
    const out: { subject: string; type: string; data: Record<string, unknown> }[] = [];
    for (let skip = 0; ; skip += 200) {
      const page = (await ow.activations.list({ name: trigger, docs: true, limit: 200, skip } as never)) as {
        response?: { result?: { events?: unknown[] } };
      }[];
      for (const a of page) out.push(...((a.response?.result?.events ?? []) as never[]));
      if (page.length < 200) return out;
    }
  }

  writeFile(path: string, bytes = 64): void {
    const p = join(this.root, path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, Buffer.alloc(bytes, path));
  }

  output(): string {
    return [...this.outputs, this.provider?.output() ?? ""].join("\n");
  }

  async stop(): Promise<void> {
    await this.provider?.stop();
    await this.openwhisk?.stop();
    await this.dcache?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

let shared: Promise<Stack> | undefined;

/**
 * One stack (default options) for the test files that can share it: starting the three services and
 * deploying the feed costs more than most tests. Stopped by `stopSharedStack()` in a root hook.
 */
export function sharedStack(): Promise<Stack> {
  shared ??= (async () => {
    const s = new Stack();
    await s.start();
    return s;
  })();
  return shared;
}

export async function stopSharedStack(): Promise<void> {
  const s = await shared?.catch(() => undefined);
  shared = undefined;
  await s?.stop();
}

/** Files written vs. delivered: missing ones, and how many arrived more than once. */
export function tally(written: string[], delivered: string[]): { missing: string[]; duplicates: number; extra: string[] } {
  const count = new Map<string, number>();
  for (const p of delivered) count.set(p, (count.get(p) ?? 0) + 1);
  const want = new Set(written);
  return {
    missing: written.filter((p) => !count.has(p)),
    duplicates: [...count.values()].reduce((s, n) => s + (n > 1 ? n - 1 : 0), 0),
    extra: [...count.keys()].filter((p) => !want.has(p)),
  };
}
