// The local stack as a value: the local OpenWhisk platform, the local dCache storage over a folder,
// the local SciCat and Rucio, an MQTT broker and the feed provider, each its own process; the
// service deployed into the platform with the real serverless CLI. `npm start` and the end-to-end
// tests both use it; a service can be killed and restarted on the same port.
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync, type WriteStream } from "node:fs";
import { join, resolve } from "node:path";
import { findOrStartBroker, type Broker } from "./broker.ts";
import type { StackOptions } from "./options.ts";
import { projectRoot, startService, type RunningService } from "./service.ts";

export const GUEST_AUTH = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP";

export type ServiceName = "openwhisk" | "dcache" | "scicat" | "rucio" | "provider";

interface ServiceSpec {
  script: string;
  args: (ports: Record<string, number>) => string[];
  listeners: string[];
  env?: NodeJS.ProcessEnv;
}

export interface Endpoints {
  OW_APIHOST: string;
  OW_AUTH: string;
  DCACHE_FRONTEND_URL: string;
  DCACHE_WEBDAV_URL: string;
  SCICAT_URL: string;
  RUCIO_URL: string;
  MQTT_URL: string;
  /** where accounting publishes: records retained under <prefix>/files/<path> */
  MQTT_TOPIC_PREFIX: string;
  PROVIDER_URL: string;
  PROVIDER_AUTH: string;
  DATA_DIR: string;
}

const portOf = (url: string) => Number(new URL(url).port);

/**
 * The accounting topic prefix of the stack whose state is in `stateDir`: stacks sharing a broker
 * (several developers, CI jobs, test runs) each get their own, and a stack restarted on the same
 * state folder keeps its own (so its retained records, and totals, carry on).
 */
export function stackTopicPrefix(stateDir: string): string {
  return `storage-events/stack-${createHash("sha256").update(resolve(stateDir)).digest("hex").slice(0, 10)}/accounting`;
}

/** A broker URL fit for a banner or a log: without user:password@. */
export function withoutCredentials(url: string): string {
  const u = new URL(url);
  u.username = "";
  u.password = "";
  return u.toString().replace(/\/$/, "");
}

/** The mosquitto_sub command that shows the stack's accounting records (retained ones first). */
export function watchCommand(mqttUrl: string, prefix: string): string {
  const u = new URL(mqttUrl);
  return `mosquitto_sub -h ${u.hostname} -p ${u.port || 1883} -t '${prefix}/#' -v`;
}

export class LocalStack {
  readonly services = new Map<ServiceName, RunningService>();
  private readonly specs = new Map<ServiceName, ServiceSpec>();
  private readonly logs: WriteStream[] = [];
  private broker?: Broker;
  private stopping = false;
  endpoints!: Endpoints;
  readonly data: string;
  readonly state: string;

  /** A stack in `root` (data/ and state/) on free ports, deploying: for tests and benchmarks. */
  static onFreePorts(root: string, more: Partial<StackOptions> = {}): LocalStack {
    return new LocalStack({
      dataDir: join(root, "data"),
      stateDir: join(root, "state"),
      ports: { openwhisk: 0, frontend: 0, webdav: 0, provider: 0, scicat: 0, rucio: 0 },
      follow: false,
      deploy: true,
      ...more,
    });
  }

  constructor(
    private readonly opts: StackOptions,
    private readonly say: (line: string) => void = () => {},
  ) {
    this.data = resolve(opts.dataDir);
    this.state = resolve(opts.stateDir);
  }

  /** where the local Rucio keeps its archive RSEs: <state>/rucio-rses/<RSE> */
  get rseRoot(): string {
    return join(this.state, "rucio-rses");
  }

  logFile(name: string): string {
    return join(this.state, "logs", `${name}.log`);
  }

  /** The provider's own credentials, made once per state folder and kept there (mode 600). */
  private providerAuth(): string {
    const file = join(this.state, "provider-auth");
    if (!existsSync(file)) writeFileSync(file, `feed:${randomBytes(18).toString("base64url")}\n`, { mode: 0o600 });
    return readFileSync(file, "utf8").trim();
  }

  private async launch(name: ServiceName, ports: Record<string, number>): Promise<RunningService> {
    const spec = this.specs.get(name)!;
    const log = createWriteStream(this.logFile(name), { flags: "a" });
    this.logs.push(log);
    const t0 = Date.now();
    const svc = await startService(spec.script, spec.args(ports), {
      listeners: spec.listeners,
      env: spec.env,
      timeoutMs: 60_000,
      onOutput: (chunk) => log.write(chunk),
    }).catch((e: Error) => {
      throw new Error(`${name} did not start: ${e.message.split("\n")[0]} — see ${this.logFile(name)}`);
    });
    this.services.set(name, svc);
    this.say(`  ${name.padEnd(10)} ${spec.listeners.map((l) => svc.urls[l]).join("  ")}  (${Date.now() - t0} ms)`);
    svc.proc.once("exit", (code, signal) => {
      if (!this.stopping && this.services.get(name) === svc)
        this.say(`!! ${name} stopped (${code ?? signal}); its log: ${this.logFile(name)}`);
    });
    return svc;
  }

  async start(): Promise<Endpoints> {
    mkdirSync(this.data, { recursive: true });
    mkdirSync(join(this.state, "logs"), { recursive: true });
    const p = this.opts.ports;
    this.broker = await findOrStartBroker(this.opts.mqttUrl);
    this.say(`  ${"mqtt".padEnd(10)} ${this.broker.url}${this.broker.proc ? " (mosquitto started for the stack)" : ""}`);
    this.specs.set("openwhisk", {
      script: "local/openwhisk/main.ts",
      args: (x) => [
        "--port",
        String(x.openwhisk),
        "--data-dir",
        join(this.state, "openwhisk"),
        ...(this.opts.openwhiskConfig ? ["--config", this.opts.openwhiskConfig] : []),
      ],
      listeners: ["openwhisk"],
    });
    this.specs.set("dcache", {
      script: "local/dcache/main.ts",
      args: (x) => [
        "--root",
        this.data,
        "--frontend-port",
        String(x.frontend),
        "--webdav-port",
        String(x.webdav),
        "--checksum-db",
        join(this.state, "dcache-checksums.sqlite"),
      ],
      listeners: ["dcache-frontend", "dcache-webdav"],
    });
    this.specs.set("scicat", {
      script: "local/scicat/main.ts",
      args: (x) => ["--port", String(x.scicat), "--db", join(this.state, "scicat.sqlite")],
      listeners: ["scicat"],
    });
    const [ow, dcache, scicat] = await Promise.all([this.launch("openwhisk", p), this.launch("dcache", p), this.launch("scicat", p)]);
    // Rucio's RSEs are folders: the buffer is the folder dCache serves (PFNs: its WebDAV door), the
    // archives are folders of their own under the state folder
    const storage = { "DCACHE-BUFFER": { dir: this.data, pfn: dcache.urls["dcache-webdav"]! } };
    this.specs.set("rucio", {
      script: "local/rucio/main.ts",
      args: (x) => [
        "--port",
        String(x.rucio),
        "--db",
        join(this.state, "rucio.sqlite"),
        "--storage",
        JSON.stringify(storage),
        "--storage-root",
        this.rseRoot,
      ],
      listeners: ["rucio"],
    });
    const rucio = await this.launch("rucio", p);
    const auth = this.providerAuth();
    this.specs.set("provider", {
      script: "feeds/provider/main.ts",
      args: (x) => ["--port", String(x.provider), "--data-dir", join(this.state, "provider"), "--openwhisk-url", ow.urls.openwhisk!],
      listeners: ["provider"],
      env: { PROVIDER_AUTH: auth },
    });
    const provider = await this.launch("provider", p);
    this.endpoints = {
      OW_APIHOST: ow.urls.openwhisk!,
      OW_AUTH: GUEST_AUTH,
      DCACHE_FRONTEND_URL: dcache.urls["dcache-frontend"]!,
      DCACHE_WEBDAV_URL: dcache.urls["dcache-webdav"]!,
      SCICAT_URL: scicat.urls.scicat!,
      RUCIO_URL: rucio.urls.rucio!,
      MQTT_URL: this.broker.url,
      MQTT_TOPIC_PREFIX: this.opts.mqttTopicPrefix ?? stackTopicPrefix(this.state),
      PROVIDER_URL: provider.urls.provider!,
      PROVIDER_AUTH: auth,
      DATA_DIR: this.data,
    };
    const { OW_AUTH: _a, PROVIDER_AUTH: _p, ...shown } = this.endpoints;
    writeFileSync(
      join(this.state, "endpoints.json"),
      `${JSON.stringify({ ...shown, wskprops: join(this.state, "openwhisk", "wskprops") }, null, 2)}\n`,
    );
    return this.endpoints;
  }

  /**
   * Stops a service (SIGKILL to simulate a crash) and starts it again on the same ports, `downMs`
   * later (an outage); `whileDown` runs while it is stopped (e.g. to lose some of its state).
   */
  async restart(name: ServiceName, signal: NodeJS.Signals = "SIGTERM", downMs = 0, whileDown?: () => void): Promise<void> {
    const svc = this.services.get(name)!;
    this.services.delete(name);
    await svc.stop(signal);
    whileDown?.();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    const ports: Record<string, number> = { ...this.opts.ports };
    if (name === "openwhisk") ports.openwhisk = portOf(svc.urls.openwhisk!);
    if (name === "dcache")
      Object.assign(ports, { frontend: portOf(svc.urls["dcache-frontend"]!), webdav: portOf(svc.urls["dcache-webdav"]!) });
    if (name === "scicat") ports.scicat = portOf(svc.urls.scicat!);
    if (name === "rucio") ports.rucio = portOf(svc.urls.rucio!);
    if (name === "provider") ports.provider = portOf(svc.urls.provider!);
    await this.launch(name, ports);
  }

  /** `serverless deploy` (or another serverless command) of serverless.yml into the local platform. */
  serverless(args: string[] = ["deploy"], logName = "deploy"): Promise<void> {
    return new Promise((res, rej) => {
      const log = createWriteStream(this.logFile(logName));
      const child = spawn(process.execPath, [join(projectRoot, "node_modules/serverless/bin/serverless.js"), ...args], {
        cwd: projectRoot,
        env: { ...process.env, ...this.endpoints, SLS_TELEMETRY_DISABLED: "1", SLS_NOTIFICATIONS_MODE: "off" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      const take = (d: Buffer) => {
        out += d;
        log.write(d);
      };
      child.stdout.on("data", take);
      child.stderr.on("data", take);
      child.on("close", (code) => {
        log.end();
        if (code === 0) return res();
        // serverless prints "Error:" then the message, then a stack: keep the message
        const after = out.slice(out.lastIndexOf("Error:\n") + 7).split("\n");
        const why = after
          .filter((l) => !/^\s+at /.test(l))
          .join("\n")
          .replace(/^Error: /, "")
          .split(/\n\s*\n/)[0]!
          .trim();
        rej(new Error(`serverless ${args.join(" ")} failed: ${why}\n   full output: ${this.logFile(logName)}`));
      });
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // the provider first (it flushes its batches to the platform), the platform last
    for (const name of ["provider", "dcache", "scicat", "rucio", "openwhisk"] as ServiceName[]) await this.services.get(name)?.stop();
    this.broker?.proc?.kill();
    for (const l of this.logs) l.end();
  }
}
