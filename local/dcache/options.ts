// Command-line options of local/dcache/main.ts, each with an environment equivalent.
import { parseArgs } from "node:util";

export interface DcacheOptions {
  root: string;
  frontendPort: number;
  webdavPort: number;
  host: string;
  accountsFile: string | undefined;
  /** "auto": use inotifywait when installed; "off": only changes made through WebDAV produce events */
  inotify: "auto" | "off";
  /** events a channel keeps for Last-Event-ID replay (dCache: 16383) */
  replayBuffer: number;
  /** events a subscription may queue before IN_Q_OVERFLOW (dCache: 1000) */
  subscriptionQueue: number;
  /** SQLite file keeping ADLER32 checksums across restarts; undefined = in memory only */
  checksumDb: string | undefined;
}

export const USAGE = `usage: npm run local:dcache -- [options]
  --root DIR             directory served as the storage (env DCACHE_ROOT, default ./data)
  --frontend-port N      frontend REST API port, 0 = ephemeral (env DCACHE_FRONTEND_PORT, default 3880)
  --webdav-port N        WebDAV door port, 0 = ephemeral (env DCACHE_WEBDAV_PORT, default 2880)
  --host ADDR            address to listen on (env DCACHE_HOST, default 127.0.0.1)
  --accounts FILE        JSON accounts file (env DCACHE_ACCOUNTS; default: user demo / password demo, token demo-token)
  --inotify auto|off     take events from the kernel through inotifywait (env DCACHE_INOTIFY, default auto)
  --replay-buffer N      events kept per channel for Last-Event-ID (env DCACHE_REPLAY_BUFFER, default 16383)
  --subscription-queue N events queued per subscription before IN_Q_OVERFLOW (env DCACHE_SUBSCRIPTION_QUEUE, default 1000)
  --checksum-db FILE     keep ADLER32 checksums in this SQLite file across restarts (env DCACHE_CHECKSUM_DB; default: in memory)`;

function port(value: string, name: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535)
    throw new Error(`${name} must be a port number 0…65535 (0 = ephemeral), got "${value}"`);
  return Number(value);
}

function positive(value: string, name: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new Error(`${name} must be a positive integer, got "${value}"`);
  return Number(value);
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): DcacheOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      root: { type: "string" },
      "frontend-port": { type: "string" },
      "webdav-port": { type: "string" },
      host: { type: "string" },
      accounts: { type: "string" },
      inotify: { type: "string" },
      "replay-buffer": { type: "string" },
      "subscription-queue": { type: "string" },
      "checksum-db": { type: "string" },
      help: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help) throw new Error(USAGE);
  const inotify = values.inotify ?? env.DCACHE_INOTIFY ?? "auto";
  if (inotify !== "auto" && inotify !== "off") throw new Error(`--inotify must be "auto" or "off", got "${inotify}"`);
  return {
    root: values.root ?? env.DCACHE_ROOT ?? "./data",
    frontendPort: port(values["frontend-port"] ?? env.DCACHE_FRONTEND_PORT ?? "3880", "--frontend-port"),
    webdavPort: port(values["webdav-port"] ?? env.DCACHE_WEBDAV_PORT ?? "2880", "--webdav-port"),
    host: values.host ?? env.DCACHE_HOST ?? "127.0.0.1",
    accountsFile: values.accounts ?? env.DCACHE_ACCOUNTS,
    inotify,
    replayBuffer: positive(values["replay-buffer"] ?? env.DCACHE_REPLAY_BUFFER ?? "16383", "--replay-buffer"),
    subscriptionQueue: positive(values["subscription-queue"] ?? env.DCACHE_SUBSCRIPTION_QUEUE ?? "1000", "--subscription-queue"),
    checksumDb: values["checksum-db"] ?? env.DCACHE_CHECKSUM_DB,
  };
}
