// accounting: publishes one record per file the run saw — succeeded (outcome "ok"), failed by an
// earlier step (outcome "failed", with step, reason, permanent) or skipped — and returns the run's
// Prometheus-friendly counters. Usually the last step of a sequence. Record format and topics:
// functions/accounting/README.md.
//
// Why per-file retained messages and no "totals" message: activations are stateless and run
// concurrently, so a retained totals message kept by read-modify-write would lose updates (two
// activations read N, both write N+k). Instead each record is published *retained* to its own
// topic `<prefix>/files/<path>`: the broker keeps each file's latest record, every write is a
// blind overwrite of one file's state, and no activation ever reads another's. A subscriber to
// `<prefix>/files/#` — however late — receives every file's latest record and totals them
// exactly (totals.ts); a replayed file overwrites its own record instead of counting twice.
// Stacks sharing a broker use different prefixes, so their records never mix.
import { randomBytes } from "node:crypto";
import mqtt from "mqtt";
import { ActionError, safeUrl } from "../_shared/errors.ts";
import type { StepRecord } from "../_shared/files.ts";
import { defineAction } from "../_shared/run.ts";
import { validator } from "../_shared/schema.ts";
import { requestTimeout } from "../_shared/storage.ts";
import { DEFAULT_PREFIX, fileTopic, metricsFor, recordsFor, type FailedFile } from "./records.ts";
import { accountingResultSchema, paramsSchema } from "./schema.ts";

type Params = {
  mqttUrl: string;
  mqttUsername?: string;
  mqttPassword?: string;
  mqttTopicPrefix?: string;
  mqttQos?: 0 | 1 | 2;
  facility?: string;
  timeoutMs?: number;
  steps?: StepRecord[];
  failed?: FailedFile[];
} & Record<string, unknown>;

const checkResult = validator(accountingResultSchema, "accounting result");

async function publishAll(p: Params, messages: Array<{ topic: string; payload: string }>): Promise<void> {
  const timeout = requestTimeout(p.timeoutMs ?? 10_000);
  // The client id must be unique per activation: concurrent activations in one process (or
  // container) with the same id would make the broker disconnect each other.
  const clientId = `accounting-${process.pid}-${randomBytes(6).toString("hex")}`;
  const opts: mqtt.IClientOptions = { connectTimeout: timeout, reconnectPeriod: 0, clean: true, clientId };
  if (p.mqttUsername) opts.username = p.mqttUsername;
  if (p.mqttPassword) opts.password = p.mqttPassword;
  let client: mqtt.MqttClient;
  try {
    client = await mqtt.connectAsync(p.mqttUrl, opts, false);
  } catch (e) {
    const err = e as { code?: string | number; message?: string };
    const why =
      err.code === "ECONNREFUSED"
        ? "connection refused"
        : err.code === 5 || err.code === 4
          ? "not authorised; check mqttUsername/mqttPassword"
          : (err.message ?? String(e));
    throw new ActionError(
      `cannot reach the MQTT broker at ${safeUrl(p.mqttUrl)} (${why}); check that it runs and that parameter mqttUrl is right`,
    );
  }
  try {
    const qos = p.mqttQos ?? 1;
    // Retained: the broker keeps each file's latest record for subscribers that come later.
    await Promise.race([
      Promise.all(messages.map((m) => client.publishAsync(m.topic, m.payload, { qos, retain: true }))),
      new Promise((_, rej) =>
        setTimeout(
          () => rej(new ActionError(`MQTT broker at ${safeUrl(p.mqttUrl)} did not acknowledge the records within ${timeout} ms`)),
          timeout,
        ).unref(),
      ),
    ]);
  } finally {
    await client.endAsync().catch(() => undefined);
  }
}

export const main = defineAction<Params>("accounting", paramsSchema, async (p, ctx) => {
  if (p.mqttTopic !== undefined) {
    throw new ActionError(
      `parameter mqttTopic is no longer used: set mqttTopicPrefix instead (records are retained under <prefix>/files/<path>; watch them with a subscription to '<prefix>/files/#')`,
    );
  }
  const prefix = p.mqttTopicPrefix ?? DEFAULT_PREFIX;
  const steps = Array.isArray(p.steps) ? p.steps : [];
  const failed = Array.isArray(p.failed) ? p.failed : [];
  const records = recordsFor(ctx.files, ctx.skipped, steps, p.facility, Date.now(), failed);
  if (records.length)
    await publishAll(
      p,
      records.map((r) => ({ topic: fileTopic(prefix, r.path), payload: JSON.stringify(r) })),
    );
  const count = (o: string) => records.filter((r) => r.outcome === o).length;
  const out = {
    files: ctx.files,
    skipped: ctx.skipped,
    ...(p.failed ? { failed } : {}),
    accounting: { prefix, published: records.length, succeeded: count("ok"), failed: count("failed"), skipped: count("skipped") },
    metrics: metricsFor(records, steps, p.facility),
  };
  checkResult(out);
  return out;
});
