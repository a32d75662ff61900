// Reads accounting as a (late) subscriber: subscribes to `<prefix>/files/#`, takes every file's
// retained latest record, and keeps the running totals up to date as new records arrive.
import { randomBytes } from "node:crypto";
import mqtt from "mqtt";
import type { AccountingRecord } from "../../functions/accounting/records.ts";
import { AccountingTotals } from "../../functions/accounting/totals.ts";

export interface AccountingWatch {
  totals: AccountingTotals;
  stop(): Promise<void>;
}

export interface WatchOptions {
  username?: string;
  password?: string;
  /** each record that arrives after the retained ones (live) */
  onRecord?: (topic: string, record: AccountingRecord, totals: AccountingTotals) => void;
  timeoutMs?: number;
}

/**
 * Resolves once every retained record has arrived. MQTT says nothing about where the retained
 * messages end, so the watcher then publishes a marker to a topic of its own and waits for it: the
 * broker queues a subscription's retained messages to the client before anything the client
 * publishes afterwards (true of Mosquitto; with a bridged broker, allow for a short quiet period).
 */
export async function watchAccounting(url: string, prefix: string, opts: WatchOptions = {}): Promise<AccountingWatch> {
  const timeout = opts.timeoutMs ?? 10_000;
  const clientId = `accounting-watch-${randomBytes(6).toString("hex")}`;
  const syncTopic = `accounting-watch/${clientId}`;
  const client = await mqtt
    .connectAsync(url, {
      clientId,
      clean: true,
      connectTimeout: timeout,
      reconnectPeriod: 0,
      ...(opts.username ? { username: opts.username, password: opts.password } : {}),
    })
    .catch((e: Error) => {
      const u = new URL(url);
      throw new Error(`cannot reach the MQTT broker at ${u.protocol}//${u.host} (${e.message})`);
    });
  const totals = new AccountingTotals();
  const filesRoot = `${prefix}/files/`;
  let synced = false;
  let onSync = () => {};
  const sync = new Promise<void>((res) => (onSync = res));
  client.on("message", (topic, payload) => {
    if (topic === syncTopic) {
      synced = true;
      onSync();
      return;
    }
    if (!topic.startsWith(filesRoot) || !totals.apply(topic, payload)) return;
    if (synced && payload.length && opts.onRecord) opts.onRecord(topic, JSON.parse(payload.toString()) as AccountingRecord, totals);
  });
  try {
    await client.subscribeAsync(`${prefix}/files/#`, { qos: 1 });
    await client.subscribeAsync(syncTopic, { qos: 1 });
    await client.publishAsync(syncTopic, "sync", { qos: 1 });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      sync,
      new Promise(
        (_, rej) =>
          (timer = setTimeout(
            () => rej(new Error(`no answer from the MQTT broker at ${new URL(url).host} within ${timeout} ms`)),
            timeout,
          )),
      ),
    ]).finally(() => clearTimeout(timer));
  } catch (e) {
    await client.endAsync().catch(() => undefined);
    throw e;
  }
  return { totals, stop: () => client.endAsync() };
}
