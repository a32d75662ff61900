// Parameters and result of the placement action.
import { anyInput, inputSchema, resultSchema, rucioParamsSchema, storageParamsSchema } from "../_shared/schema.ts";

export const paramsSchema = {
  type: "object",
  required: ["rucioUrl", "rucioAccount", "bufferRse", "webdavUrl"],
  ...anyInput,
  properties: {
    ...inputSchema,
    ...storageParamsSchema,
    ...rucioParamsSchema,
    scope: { type: "string", minLength: 1, maxLength: 25, description: "Rucio scope of the new files (default: raw)" },
    bufferRse: { type: "string", pattern: "^[A-Za-z0-9_-]+$", description: "RSE of the dCache instance the file landed on" },
    activity: { type: "string" },
    pfnBase: { type: "string", format: "uri", description: "prefix of the physical file name, e.g. the WebDAV URL: pfn = pfnBase + path" },
    namePrefix: { type: "string", description: "strip this prefix from the storage path to form the DID name" },
    concurrency: { type: "integer", minimum: 1, maximum: 64, description: "files of a batch registered at the same time (default 8)" },
    reprocessChanged: {
      type: "boolean",
      description:
        "a file registered before with another size or ADLER32 updates its DID (default false: it fails as changed after registration)",
    },
    timeoutMs: { type: "integer", minimum: 100, maximum: 600000 },
  },
} as const;

export const placementResultSchema = {
  ...resultSchema,
  properties: {
    ...resultSchema.properties,
    files: {
      type: "array",
      items: {
        type: "object",
        required: ["path", "placement"],
        properties: {
          placement: {
            type: "object",
            required: ["scope", "name", "rse", "replica", "rules", "dmp"],
            properties: {
              replica: { enum: ["registered", "existed"] },
              rules: { type: "object", required: ["buffer"] },
              dmp: { type: "string" },
            },
          },
        },
      },
    },
  },
} as const;
