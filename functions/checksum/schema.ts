// Parameters and result of the checksum action.
import { anyInput, inputSchema, resultSchema, storageParamsSchema } from "../_shared/schema.ts";

export const paramsSchema = {
  type: "object",
  required: ["webdavUrl"],
  ...anyInput,
  properties: {
    ...inputSchema,
    ...storageParamsSchema,
    concurrency: { type: "integer", minimum: 1, maximum: 32, description: "files of a batch streamed at the same time (default 4)" },
    requireStorageChecksum: {
      type: "boolean",
      description: "fail when dCache has no ADLER32 for the file (default false: report verified=false)",
    },
  },
} as const;

export const checksumResultSchema = {
  ...resultSchema,
  properties: {
    ...resultSchema.properties,
    files: {
      type: "array",
      items: {
        type: "object",
        required: ["path", "size", "adler32", "checksum"],
        properties: {
          checksum: {
            type: "object",
            required: ["algorithm", "value", "verified", "bytes"],
            properties: {
              algorithm: { const: "ADLER32" },
              value: { type: "string", pattern: "^[0-9a-f]{8}$" },
              storage: { type: "string", pattern: "^[0-9a-f]{8}$" },
              verified: { type: "boolean" },
            },
          },
        },
      },
    },
  },
} as const;
