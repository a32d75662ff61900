// Wires the storage together: one root directory, a frontend (namespace + events) and a WebDAV
// door, with events from the kernel (inotifywait) when available, else from the door alone.
import { createServer, type Server } from "node:http";
import { mkdirSync, readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { Authenticator, type AccountsFile } from "./accounts.ts";
import { ChecksumStore } from "./checksum-store.ts";
import { ChecksumDb } from "./checksum-db.ts";
import { isWithin } from "./paths.ts";
import { resolve as resolvePath } from "node:path";
import { createFrontendHandler } from "./frontend.ts";
import { createNamespaceHandler } from "./namespace-routes.ts";
import { StorageRoot } from "./paths.ts";
import { createWebdavHandler } from "./webdav/door.ts";
import { EventHub } from "./events/hub.ts";
import { KernelEvents } from "./events/kernel.ts";
import { Registrar } from "./events/registrar.ts";
import { createEventsHandler } from "./events/routes.ts";
import { WatchTable } from "./events/watches.ts";

export interface StartOptions {
  root: string;
  frontendPort: number;
  webdavPort: number;
  host: string;
  accounts: AccountsFile;
  inotify: "auto" | "off";
  replayBuffer: number;
  subscriptionQueue: number;
  checksumDb?: string;
  log: (line: string) => void;
}

export interface RunningDcache {
  frontendUrl: string;
  webdavUrl: string;
  /** "kernel": all changes in the directory produce events; "webdav": only changes made through the door */
  eventSource: "kernel" | "webdav";
  stop(): Promise<void>;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

export async function startDcache(opts: StartOptions): Promise<RunningDcache> {
  mkdirSync(opts.root, { recursive: true });
  const root = await StorageRoot.open(opts.root);
  const auth = new Authenticator(opts.accounts);
  let kernel: KernelEvents | undefined;
  let db: ChecksumDb | undefined;
  if (opts.checksumDb) {
    const file = resolvePath(opts.checksumDb);
    // Inside the root it would show up as a stored file and produce events of its own.
    if (isWithin(file, root.fsRoot)) throw new Error(`--checksum-db ${opts.checksumDb} lies inside the storage root; put it elsewhere`);
    db = new ChecksumDb(file);
  }
  const checksums = new ChecksumStore(
    { beforeOwnRead: (p) => kernel?.expectOwnRead(p) },
    db && { store: db, keyOf: (p) => root.dcachePathOf(p) },
  );
  const watches = new WatchTable();
  const hub = new EventHub(watches, checksums, opts.log);
  const registrar = new Registrar({ replayable: opts.replayBuffer, subscriptionQueue: opts.subscriptionQueue });

  if (opts.inotify === "auto") {
    try {
      kernel = await KernelEvents.start(root.fsRoot, {
        change: (c) => hub.submit(c),
        overflow: () => {
          opts.log(
            "events: the kernel's inotify queue overflowed (inotifywait fell behind); events were lost, every subscription gets IN_Q_OVERFLOW",
          );
          hub.overflowAll();
        },
        lost: (reason) => {
          opts.log(
            `events: ${reason}; from now on only changes made through WebDAV produce events, and every subscription gets IN_Q_OVERFLOW`,
          );
          kernel = undefined;
          hub.kernelActive = false;
          hub.overflowAll();
        },
      });
      hub.kernelActive = true;
      const queued = readFileSync("/proc/sys/fs/inotify/max_queued_events", "utf8").trim();
      opts.log(
        `events: inotifywait (pid ${kernel.pid}) watches the tree; the kernel queues at most ${queued} unread events (fs.inotify.max_queued_events) — raise it (sysctl -w fs.inotify.max_queued_events=1048576) where bursts of many thousand files are expected; lost events are detected with sentinel files and reported as IN_Q_OVERFLOW`,
      );
    } catch (e) {
      const missing = (e as NodeJS.ErrnoException).code === "ENOENT";
      opts.log(
        missing
          ? "events: inotifywait not found (install inotify-tools); only changes made through the WebDAV door produce events — files copied into the directory by other programs produce none"
          : `events: cannot watch ${root.fsRoot} with inotifywait (${(e as Error).message}); only changes made through the WebDAV door produce events`,
      );
      kernel = undefined;
    }
  } else {
    opts.log("events: inotify disabled (--inotify off); only changes made through the WebDAV door produce events");
  }

  // Uploads and downloads of many GB (and hashing them) must not hit Node's default request timeout.
  // Idle connections stay open longer than clients keep them (undici: 4 s), so the server never
  // closes a connection a client is just reusing ("other side closed").
  const serverOptions = { requestTimeout: 0, headersTimeout: 66_000, keepAliveTimeout: 65_000 };
  const frontend = createServer(serverOptions);
  const webdav = createServer(serverOptions);
  const frontendPort = await listen(frontend, opts.frontendPort, opts.host);
  const webdavPort = await listen(webdav, opts.webdavPort, opts.host);
  const frontendUrl = `http://${opts.host}:${frontendPort}`;
  const webdavUrl = `http://${opts.host}:${webdavPort}`;

  frontend.on(
    "request",
    createFrontendHandler({
      auth,
      namespace: createNamespaceHandler(root, checksums),
      events: createEventsHandler({ registrar, watches, root, fallbackBase: frontendUrl }),
      log: opts.log,
    }),
  );
  webdav.on("request", createWebdavHandler({ root, auth, checksums, notifier: () => hub, log: opts.log }));

  return {
    frontendUrl,
    webdavUrl,
    eventSource: kernel ? "kernel" : "webdav",
    async stop() {
      registrar.shutdown();
      kernel?.stop();
      await Promise.all(
        [frontend, webdav].map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeAllConnections();
            }),
        ),
      );
      db?.close();
    },
  };
}
