// Synchronous random access to a remote file over HTTP Range requests. The HDF5 library (h5wasm)
// reads through synchronous file callbacks, so the requests run in a worker thread while the
// caller blocks in Atomics.wait; a block cache keeps the many small, repeated metadata reads cheap.
// Starting a worker thread costs tens of milliseconds, so all readers of a process share one.
import { Worker } from "node:worker_threads";

export interface RangeReaderOptions {
  /** Request headers sent with every request (e.g. Authorization). Never logged. */
  headers?: Record<string, string>;
  /** Bytes fetched per cache block; reads are rounded out to whole blocks. */
  blockSize?: number;
  /** Blocks kept in memory (least recently used are dropped first). */
  maxBlocks?: number;
  /** Longest wait for one HTTP request, in ms. */
  timeoutMs?: number;
}

export interface TransferStats {
  requests: number;
  bytes: number;
}

export class HttpError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

// Runs in the worker: performs one request per message and writes the outcome into shared memory.
// Kept as source text so the function bundles stay one file (no separate worker script to ship).
const workerSource = `
const { parentPort, workerData } = require("node:worker_threads");
const control = new Int32Array(workerData.control);
const data = new Uint8Array(workerData.data);
function finish(state, status, bytes) {
  control[1] = bytes.length;
  control[2] = status;
  data.set(bytes.subarray(0, data.length), 0);
  Atomics.store(control, 0, state);
  Atomics.notify(control, 0);
}
parentPort.on("message", async (m) => {
  try {
    const headers = { ...m.headers };
    if (m.method === "GET") headers.Range = "bytes=" + m.start + "-" + (m.end - 1);
    const send = () => fetch(m.url, { method: m.method, headers, signal: AbortSignal.timeout(m.timeoutMs) });
    // A kept-alive connection closed by the server fails before any answer: reads are sent once more.
    const res = await send().catch((e) => { if (e && e.name === "TimeoutError") throw e; return send(); });
    if (m.method === "HEAD") {
      const len = res.headers.get("content-length") ?? "";
      finish(res.ok ? 1 : 3, res.status, new TextEncoder().encode(len));
      return;
    }
    if (res.status === 200) {
      // A server that ignores Range would send the whole file: refuse rather than download it.
      await res.body?.cancel();
      finish(2, res.status, new TextEncoder().encode("the server ignored the Range header (answered 200 instead of 206); partial reads need a server with HTTP Range support"));
      return;
    }
    if (res.status !== 206) {
      await res.body?.cancel();
      finish(3, res.status, new TextEncoder().encode(res.statusText || ""));
      return;
    }
    const buf = new Uint8Array(await res.arrayBuffer());
    finish(1, res.status, buf);
  } catch (e) {
    const msg = e && e.name === "TimeoutError" ? "timed out after " + m.timeoutMs + " ms" : String((e && e.cause && e.cause.message) || (e && e.message) || e);
    finish(2, 0, new TextEncoder().encode(msg));
  }
});
`;

/**
 * A worker and the shared memory it answers in. Readers block their thread while a request runs,
 * so one thread never has two requests in flight and readers can take turns on one channel.
 */
interface Channel {
  worker: Worker;
  control: Int32Array;
  data: Uint8Array;
}

// One per answer-buffer size (readers with the default block size share one).
const channels = new Map<number, Channel>();

function channelFor(dataBytes: number): Channel {
  let c = channels.get(dataBytes);
  if (!c) {
    const control = new Int32Array(new SharedArrayBuffer(12));
    const data = new Uint8Array(new SharedArrayBuffer(dataBytes));
    const worker = new Worker(workerSource, { eval: true, workerData: { control: control.buffer, data: data.buffer } });
    // an idle worker must not keep the process (the action's container) alive
    worker.unref();
    c = { worker, control, data };
    channels.set(dataBytes, c);
  }
  return c;
}

/** Ends a channel whose worker may still answer a request given up on, so that answer cannot reach a later request. */
function dropChannel(c: Channel): void {
  for (const [k, v] of channels) if (v === c) channels.delete(k);
  void c.worker.terminate();
}

export class SyncRangeReader {
  readonly url: string;
  readonly stats: TransferStats = { requests: 0, bytes: 0 };
  private readonly headers: Record<string, string>;
  private readonly blockSize: number;
  private readonly maxBlocks: number;
  private readonly timeoutMs: number;
  /** Bytes of the largest request: 128 blocks (see fetchBlocks). */
  private readonly maxRequest: number;
  private readonly blocks = new Map<number, Uint8Array>();
  /** Set when the size is known already (e.g. from the namespace API) to save the HEAD request. */
  knownSize: number | undefined;

  /** The URL as error messages show it: no user:password@, no query (tokens may be there). */
  private readonly label: string;

  constructor(url: string, opts: RangeReaderOptions = {}) {
    this.url = url;
    const u = new URL(url);
    this.label = `${u.protocol}//${u.host}${u.pathname}`;
    this.headers = opts.headers ?? {};
    this.blockSize = opts.blockSize ?? 16 * 1024;
    this.maxBlocks = opts.maxBlocks ?? 1024;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.maxRequest = this.blockSize * 128;
  }

  /** The file's size in bytes (one HEAD request, remembered). */
  get size(): number {
    if (this.knownSize === undefined) {
      const { status, body } = this.request({ method: "HEAD" });
      const len = Number(new TextDecoder().decode(body));
      if (!Number.isFinite(len) || new TextDecoder().decode(body) === "") {
        throw new HttpError(`HEAD ${this.label} gave no Content-Length (status ${status}); cannot read the file in ranges`, status);
      }
      this.knownSize = len;
    }
    return this.knownSize;
  }

  /** Copies up to `length` bytes at `position` into `target[offset…]`; returns the count (0 at EOF). */
  read(target: Uint8Array, offset: number, length: number, position: number): number {
    const size = this.size;
    const end = Math.min(position + length, size);
    if (end <= position) return 0;
    const first = Math.floor(position / this.blockSize);
    const last = Math.floor((end - 1) / this.blockSize);
    this.fetchBlocks(first, last);
    let written = 0;
    for (let b = first; b <= last; b++) {
      const block = this.blocks.get(b)!;
      // Touch for LRU order.
      this.blocks.delete(b);
      this.blocks.set(b, block);
      const from = Math.max(position, b * this.blockSize) - b * this.blockSize;
      const to = Math.min(end, (b + 1) * this.blockSize) - b * this.blockSize;
      target.set(block.subarray(from, to), offset + written);
      written += to - from;
    }
    return written;
  }

  /** Drops the block cache; the worker stays for the next reader. */
  close(): void {
    this.blocks.clear();
  }

  private fetchBlocks(first: number, last: number): void {
    const maxRun = this.maxRequest / this.blockSize;
    let b = first;
    while (b <= last) {
      if (this.blocks.has(b)) {
        b++;
        continue;
      }
      // One request for each run of missing blocks.
      let runEnd = b;
      while (runEnd + 1 <= last && !this.blocks.has(runEnd + 1) && runEnd + 1 - b < maxRun) runEnd++;
      const start = b * this.blockSize;
      const stop = Math.min((runEnd + 1) * this.blockSize, this.size);
      const { body } = this.request({ method: "GET", start, end: stop });
      if (body.length !== stop - start) {
        throw new HttpError(
          `GET ${this.label} bytes ${start}-${stop - 1} returned ${body.length} bytes; the file is shorter than announced (truncated or changed while reading)`,
          206,
        );
      }
      for (let i = b; i <= runEnd; i++) {
        const s = (i - b) * this.blockSize;
        this.blocks.set(i, body.slice(s, Math.min(s + this.blockSize, body.length)));
      }
      while (this.blocks.size > this.maxBlocks) this.blocks.delete(this.blocks.keys().next().value!);
      b = runEnd + 1;
    }
  }

  private request(m: { method: "GET" | "HEAD"; start?: number; end?: number }): { status: number; body: Uint8Array } {
    const channel = channelFor(this.maxRequest);
    const { control, data } = channel;
    Atomics.store(control, 0, 0);
    channel.worker.postMessage({ ...m, url: this.url, headers: this.headers, timeoutMs: this.timeoutMs });
    // The worker's own fetch timeout fires first; this margin only guards against a stuck worker.
    const waited = Atomics.wait(control, 0, 0, this.timeoutMs + 5000);
    if (waited === "timed-out") {
      dropChannel(channel);
      throw new HttpError(`${m.method} ${this.label} timed out after ${this.timeoutMs} ms`, 0);
    }
    const state = control[0]!;
    const status = control[2]!;
    const body = data.slice(0, control[1]!);
    this.stats.requests++;
    if (state === 1) {
      if (m.method === "GET") this.stats.bytes += body.length;
      return { status, body };
    }
    const detail = new TextDecoder().decode(body);
    if (state === 3) {
      const what =
        status === 404
          ? "file not found"
          : status === 401 || status === 403
            ? "access denied; check the storage credentials"
            : `HTTP ${status} ${detail}`.trim();
      throw new HttpError(`${m.method} ${this.label}: ${what}`, status);
    }
    throw new HttpError(`${m.method} ${this.label} failed: ${detail}`, status);
  }
}
