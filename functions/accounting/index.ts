// accounting: publishes one record per processed file (bytes, per-step durations and versions,
// outcome, latency since the storage event) to an MQTT topic (QoS 1 by default), and returns the
// run's Prometheus-friendly counters. Usually the last step of a sequence.
import mqtt from "mqtt";
import { ActionError, safeUrl } from "../_shared/errors.ts";
import type { StepRecord } from "../_shared/files.ts";
import { defineAction } from "../_shared/run.ts";
import { validator } from "../_shared/schema.ts";
import { requestTimeout } from "../_shared/storage.ts";
import { metricsFor, recordsFor } from "./records.ts";
import { accountingResultSchema, paramsSchema } from "./schema.ts";

type Params = {
  mqttUrl: string;
  mqttUsername?: string;
  mqttPassword?: string;
  mqttTopic?: string;
  mqttQos?: 0 | 1 | 2;
  facility?: string;
  timeoutMs?: number;
  steps?: StepRecord[];
} & Record<string, unknown>;

const checkResult = validator(accountingResultSchema, "accounting result");

async function publishAll(p: Params, topic: string, payloads: string[]): Promise<void> {
  const timeout = requestTimeout(p.timeoutMs ?? 10_000);
  const opts: mqtt.IClientOptions = { connectTimeout: timeout, reconnectPeriod: 0, clean: true, clientId: `accounting-${process.pid}-${Date.now().toString(36)}` };
  if (p.mqttUsername) opts.username = p.mqttUsername;
  if (p.mqttPassword) opts.password = p.mqttPassword;
  let client: mqtt.MqttClient;
  try {
    client = await mqtt.connectAsync(p.mqttUrl, opts, false);
  } catch (e) {
    const err = e as { code?: string | number; message?: string };
    const why = err.code === "ECONNREFUSED" ? "connection refused" : err.code === 5 || err.code === 4 ? "not authorised; check mqttUsername/mqttPassword" : err.message ?? String(e);
    throw new ActionError(`cannot reach the MQTT broker at ${safeUrl(p.mqttUrl)} (${why}); check that it runs and that parameter mqttUrl is right`);
  }
  try {
    const qos = p.mqttQos ?? 1;
    await Promise.race([
      Promise.all(payloads.map((m) => client.publishAsync(topic, m, { qos }))),
      new Promise((_, rej) => setTimeout(() => rej(new ActionError(`MQTT broker at ${safeUrl(p.mqttUrl)} did not acknowledge the records within ${timeout} ms`)), timeout).unref()),
    ]);
  } finally {
    await client.endAsync().catch(() => undefined);
  }
}

export const main = defineAction<Params>("accounting", paramsSchema, async (p, ctx) => {
  const topic = p.mqttTopic ?? "storage-events/accounting";
  const steps = Array.isArray(p.steps) ? p.steps : [];
  const records = recordsFor(ctx.files, ctx.skipped, steps, p.facility);
  if (records.length) await publishAll(p, topic, records.map((r) => JSON.stringify(r)));
  const out = { files: ctx.files, skipped: ctx.skipped, accounting: { topic, published: records.length }, metrics: metricsFor(records, steps, p.facility) };
  checkResult(out);
  return out;
});
