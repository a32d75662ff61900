// Parameters and result of the lifecycle action.
import { anyInput, inputSchema, resultSchema, rucioParamsSchema, storageParamsSchema } from "../_shared/schema.ts";

export const paramsSchema = {
  type: "object",
  required: ["rucioUrl", "rucioAccount", "bufferRse", "webdavUrl"],
  ...anyInput,
  properties: {
    ...inputSchema,
    ...storageParamsSchema,
    ...rucioParamsSchema,
    scope: { type: "string", minLength: 1, maxLength: 25, description: "Rucio scope of the files (default: raw), as placement used" },
    bufferRse: {
      type: "string",
      pattern: "^[A-Za-z0-9_-]+$",
      description: "the RSE whose protection placement added and lifecycle releases",
    },
    namePrefix: { type: "string", description: "as placement: strip this prefix from the storage path to form the DID name" },
    pipelines: {
      type: "object",
      description: "per file path, the outcome of each rule of the trigger (the feed provider's file ledger passes it)",
      additionalProperties: {
        type: "array",
        items: { type: "object", required: ["action", "state"], properties: { action: { type: "string" }, state: { type: "string" } } },
      },
    },
    concurrency: { type: "integer", minimum: 1, maximum: 64, description: "files of a batch handled at the same time (default 8)" },
    waitMs: {
      type: "integer",
      minimum: 0,
      maximum: 60000,
      description: "how long one run waits for a REPLICATING archive rule before it reports it (default 2000); the ledger asks again later",
    },
    timeoutMs: { type: "integer", minimum: 100, maximum: 600000 },
  },
} as const;

export const lifecycleResultSchema = {
  ...resultSchema,
  properties: {
    ...resultSchema.properties,
    files: {
      type: "array",
      items: {
        type: "object",
        required: ["path", "lifecycle"],
        properties: {
          lifecycle: {
            type: "object",
            required: ["dmp", "archive", "buffer"],
            properties: {
              archive: {
                type: "object",
                required: ["rule", "state", "rses"],
                properties: { state: { const: "OK" }, rses: { type: "array", items: { type: "string" } } },
              },
              buffer: { type: "object", required: ["rules", "released"] },
            },
          },
        },
      },
    },
  },
} as const;
