// Parameters and result of the accounting action.
import { anyInput, inputSchema, resultSchema } from "../_shared/schema.ts";

const eventSchema = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string" }, type: { type: "string" }, time: { type: "string" }, source: { type: "string" } },
} as const;

/** Files an earlier step failed on (sequence results carry them beside `files` and `skipped`). */
export const failedSchema = {
  type: "array",
  items: {
    type: "object",
    required: ["path", "step", "reason", "permanent"],
    properties: {
      path: { type: "string", pattern: "^/" },
      step: { type: "string", minLength: 1 },
      reason: { type: "string" },
      permanent: { type: "boolean" },
      size: { type: "integer", minimum: 0 },
      adler32: { type: "string", pattern: "^[0-9a-f]{8}$" },
      event: eventSchema,
    },
  },
} as const;

// A topic name for the prefix: no wildcards, not a $SYS-style topic, no leading or trailing "/".
const TOPIC_PREFIX = "^[^$/#+\\u0000]([^#+\\u0000]*[^/#+\\u0000])?$";

export const paramsSchema = {
  type: "object",
  required: ["mqttUrl"],
  dependencies: { mqttPassword: ["mqttUsername"] },
  ...anyInput,
  properties: {
    ...inputSchema,
    failed: failedSchema,
    mqttUrl: { type: "string", pattern: "^(mqtts?|wss?|tcp)://", description: "MQTT broker, e.g. mqtt://127.0.0.1:1883" },
    mqttUsername: { type: "string" },
    mqttPassword: { type: "string" },
    mqttTopicPrefix: {
      type: "string",
      pattern: TOPIC_PREFIX,
      description: "records are retained under <prefix>/files/<path> (default storage-events/accounting); one prefix per stack",
    },
    mqttQos: { enum: [0, 1, 2] },
    facility: { type: "string", description: "label added to every record and counter" },
    timeoutMs: { type: "integer", minimum: 100, maximum: 600000 },
  },
} as const;

export const accountingResultSchema = {
  ...resultSchema,
  required: ["files", "accounting", "metrics"],
  properties: {
    ...resultSchema.properties,
    failed: failedSchema,
    accounting: {
      type: "object",
      required: ["prefix", "published"],
      properties: {
        prefix: { type: "string" },
        published: { type: "integer", minimum: 0 },
        succeeded: { type: "integer" },
        failed: { type: "integer" },
        skipped: { type: "integer" },
      },
    },
    metrics: {
      type: "object",
      required: ["counters", "prometheus"],
      properties: { counters: { type: "object" }, prometheus: { type: "string" } },
    },
  },
} as const;
