// The batch stage: cuts the next fire's payload from the head of a registration's outbox, in order,
// within maxEvents and maxBytes, and says when that batch is due (full, or maxWaitMs after its oldest
// event arrived). Batches are cut when a fire is attempted, not when events arrive, so while OpenWhisk
// throttles or fails, newly arrived events join the next attempt: fewer, larger fires. With arrivals,
// an event is not fired before its settle window has passed (`ready`), so that a file closed again
// within the window replaces its queued arrival instead of firing twice.
import type { BatchParams } from "../../common/feed-params.ts";
import type { OutboxEntry } from "../store/types.ts";

const ENVELOPE = Buffer.byteLength('{"events":[]}');

/** Bytes of `{"events":[…]}` holding events of the given sizes. */
export function payloadBytes(eventBytes: number[]): number {
  return ENVELOPE + eventBytes.reduce((a, b) => a + b, 0) + Math.max(0, eventBytes.length - 1);
}

/** Largest single event a fire can carry under maxBytes. */
export function maxEventBytes(limits: BatchParams): number {
  return limits.maxBytes - ENVELOPE;
}

export type Cut =
  | { kind: "batch"; entries: OutboxEntry[]; body: string; bytes: number }
  | { kind: "too-large"; entry: OutboxEntry }
  | { kind: "empty" };

/** How many entries from the head fit one fire (stopping at the first that is not `ready`), and their payload bytes. */
function fitting(queue: readonly OutboxEntry[], limits: BatchParams, ready: (e: OutboxEntry) => boolean): { n: number; bytes: number } {
  let bytes = ENVELOPE;
  let n = 0;
  while (n < queue.length && n < limits.maxEvents && ready(queue[n]!)) {
    const add = queue[n]!.bytes + (n > 0 ? 1 : 0);
    if (bytes + add > limits.maxBytes) break;
    bytes += add;
    n++;
  }
  return { n, bytes };
}

/** `ready`: whether an entry's settle window has passed; the batch is the ready head of the queue. */
export function cutBatch(queue: readonly OutboxEntry[], limits: BatchParams, ready: (e: OutboxEntry) => boolean = () => true): Cut {
  if (queue.length === 0) return { kind: "empty" };
  const first = queue[0]!;
  if (first.bytes > maxEventBytes(limits)) return { kind: "too-large", entry: first };
  const { n, bytes } = fitting(queue, limits, ready);
  if (n === 0) return { kind: "empty" };
  const entries = queue.slice(0, n);
  return { kind: "batch", entries, body: `{"events":[${entries.map((e) => e.body).join(",")}]}`, bytes };
}

/**
 * When the head batch should fire: now if the queue already fills a batch, else maxWaitMs after its
 * oldest event. With a settle window, never before the oldest event settled (settleMs after it
 * arrived); a full batch waits for its newest event to settle, so that it still goes whole.
 */
export function batchDueAt(
  queue: readonly OutboxEntry[],
  queuedBytes: number,
  limits: BatchParams,
  arrivedAt: (e: OutboxEntry) => number,
  settleMs = 0,
): number {
  if (queue.length === 0) return Infinity;
  const head = arrivedAt(queue[0]!);
  const full = queue.length >= limits.maxEvents || payloadBytes([queuedBytes]) + queue.length - 1 >= limits.maxBytes;
  if (settleMs <= 0) return full ? 0 : head + limits.maxWaitMs;
  if (!full) return Math.max(head + limits.maxWaitMs, head + settleMs);
  const { n } = fitting(queue, limits, () => true);
  return arrivedAt(queue[Math.max(0, n - 1)]!) + settleMs;
}
