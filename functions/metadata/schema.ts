// Parameters and result of the metadata action.
import { anyInput, inputSchema, resultSchema, storageParamsSchema } from "../_shared/schema.ts";

export const paramsSchema = {
  type: "object",
  properties: { ...inputSchema, ...storageParamsSchema },
  required: ["webdavUrl"],
  ...anyInput,
} as const;

export const metadataResultSchema = {
  ...resultSchema,
  properties: {
    ...resultSchema.properties,
    files: {
      type: "array",
      items: {
        type: "object",
        required: ["path", "size", "metadata"],
        properties: {
          metadata: {
            type: "object",
            required: ["format", "contentType", "size"],
            properties: { format: { enum: ["nexus", "exdf", "hdf5", "cbf", "edf", "unknown"] }, size: { type: "integer", minimum: 0 } },
          },
        },
      },
    },
  },
} as const;
