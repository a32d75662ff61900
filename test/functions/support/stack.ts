// The real services the function tests talk to, each started as its own process on ephemeral
// ports: the local dCache (frontend + WebDAV), local SciCat, local Rucio. Mosquitto must run on
// 127.0.0.1:1883 (CI starts it).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { startService, type RunningService } from "../../support/service.ts";

export const DCACHE_AUTH = { dcacheUser: "demo", dcachePassword: "demo" };
export const SCICAT_AUTH = { scicatUsername: "ingestor", scicatPassword: "ingestor" };
export const RUCIO_AUTH = { rucioAccount: "demo", rucioUsername: "demo", rucioPassword: "demo" };
export const MQTT_URL = "mqtt://127.0.0.1:1883";
/** the facility's data management plan the tests give placement and lifecycle (docs/lifecycle.md) */
export const FACILITY_DMP = {
  version: 1,
  id: "test facility plan",
  owner: { ownerGroup: "p00000" },
  archive: { rseExpression: "type=archive", copies: 1 },
};

export interface Stack {
  dir: string;
  root: string;
  dcache: RunningService;
  scicat: RunningService;
  rucio: RunningService;
  webdavUrl: string;
  frontendUrl: string;
  scicatUrl: string;
  rucioUrl: string;
  /** where the local Rucio keeps its archive RSEs: <rseRoot>/<RSE> */
  rseRoot: string;
  stop(): Promise<void>;
}

export async function startStack(): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), "fn-stack-"));
  const root = join(dir, "storage");
  const { mkdirSync } = await import("node:fs");
  mkdirSync(root);
  const started: RunningService[] = [];
  try {
    const dcache = await startService(
      "local/dcache/main.ts",
      ["--root", root, "--frontend-port", "0", "--webdav-port", "0", "--inotify", "off"],
      { listeners: ["dcache-frontend", "dcache-webdav"] },
    );
    started.push(dcache);
    const scicat = await startService("local/scicat/main.ts", ["--port", "0", "--db", join(dir, "scicat.sqlite")], {
      listeners: ["scicat"],
    });
    started.push(scicat);
    // the buffer RSE is the folder dCache serves, its PFNs the WebDAV door's URLs
    const storage = { "DCACHE-BUFFER": { dir: root, pfn: dcache.urls["dcache-webdav"]! } };
    const rseRoot = join(dir, "rses");
    const rucio = await startService(
      "local/rucio/main.ts",
      [
        "--port",
        "0",
        "--db",
        join(dir, "rucio.sqlite"),
        "--storage",
        JSON.stringify(storage),
        "--storage-root",
        rseRoot,
        "--daemon-interval-ms",
        "50",
      ],
      { listeners: ["rucio"] },
    );
    started.push(rucio);
    return {
      dir,
      root,
      dcache,
      scicat,
      rucio,
      rseRoot,
      webdavUrl: dcache.urls["dcache-webdav"]!,
      frontendUrl: dcache.urls["dcache-frontend"]!,
      scicatUrl: scicat.urls.scicat!,
      rucioUrl: rucio.urls.rucio!,
      async stop() {
        await Promise.all(started.map((s) => s.stop()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await Promise.all(started.map((s) => s.stop()));
    throw e;
  }
}

export async function requireMosquitto(): Promise<void> {
  try {
    const c = await mqtt.connectAsync(MQTT_URL, { connectTimeout: 3000, reconnectPeriod: 0 });
    await c.endAsync();
  } catch (e) {
    throw new Error(`these tests need Mosquitto on 127.0.0.1:1883 (apt-get install mosquitto; CI starts it): ${(e as Error).message}`);
  }
}

/** Removes the retained accounting records under `prefix` (an empty retained message clears one). */
export async function clearRetained(prefix: string): Promise<void> {
  const c = await mqtt.connectAsync(MQTT_URL);
  const topics = new Set<string>();
  c.on("message", (t, m) => m.length && topics.add(t));
  await c.subscribeAsync(`${prefix}/files/#`, { qos: 1 });
  await new Promise((r) => setTimeout(r, 200));
  await Promise.all([...topics].map((t) => c.publishAsync(t, "", { qos: 1, retain: true })));
  await c.endAsync();
}

const basic = `Basic ${Buffer.from("demo:demo").toString("base64")}`;

/** Uploads through the WebDAV door, as an instrument would (dCache records size and ADLER32). */
export async function upload(webdavUrl: string, path: string, body: Uint8Array): Promise<void> {
  const dirs = path.split("/").slice(1, -1);
  let at = "";
  for (const d of dirs) {
    at += `/${d}`;
    const r = await fetch(webdavUrl + at, { method: "MKCOL", headers: { Authorization: basic } });
    await r.body?.cancel();
  }
  const r = await fetch(webdavUrl + path, { method: "PUT", body, headers: { Authorization: basic } });
  await r.body?.cancel();
  if (!r.ok) throw new Error(`PUT ${path}: ${r.status}`);
}

export async function download(webdavUrl: string, path: string): Promise<{ status: number; body: Buffer; type: string | null }> {
  const r = await fetch(webdavUrl + path, { headers: { Authorization: basic } });
  return { status: r.status, body: Buffer.from(await r.arrayBuffer()), type: r.headers.get("content-type") };
}

export function cloudEvent(path: string, id: string, mask = "IN_CLOSE_WRITE"): Record<string, unknown> {
  return {
    specversion: "1.0",
    id,
    source: "/local-dcache",
    type: `org.dcache.storage.${mask}`,
    time: new Date().toISOString(),
    subject: path,
    datacontenttype: "application/json",
    data: { path, mask: [mask], isDir: false },
  };
}
