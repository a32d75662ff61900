// Parameters and result of the accounting action.
import { anyInput, inputSchema, resultSchema } from "../_shared/schema.ts";

export const paramsSchema = {
  type: "object",
  required: ["mqttUrl"],
  ...anyInput,
  properties: {
    ...inputSchema,
    mqttUrl: { type: "string", pattern: "^(mqtts?|wss?|tcp)://", description: "MQTT broker, e.g. mqtt://127.0.0.1:1883" },
    mqttUsername: { type: "string" },
    mqttPassword: { type: "string" },
    mqttTopic: { type: "string", minLength: 1, pattern: "^[^#+]+$", description: "topic for the records (default storage-events/accounting)" },
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
    accounting: { type: "object", required: ["topic", "published"], properties: { topic: { type: "string" }, published: { type: "integer", minimum: 0 } } },
    metrics: { type: "object", required: ["counters", "prometheus"], properties: { counters: { type: "object" }, prometheus: { type: "string" } } },
  },
} as const;
