// Parameters and result of the derive action.
import { anyInput, inputSchema, resultSchema, storageParamsSchema } from "../_shared/schema.ts";

export const paramsSchema = {
  type: "object",
  required: ["webdavUrl"],
  ...anyInput,
  properties: {
    ...inputSchema,
    ...storageParamsSchema,
    derivedDir: {
      type: "string",
      pattern: "^[^/]+$",
      description: "folder name beside the source file for derived files (default derived)",
    },
    derivedRoot: {
      type: "string",
      pattern: "^/",
      description: "instead: one tree for derived files, mirroring source paths (e.g. /derived)",
    },
  },
} as const;

export const deriveResultSchema = {
  ...resultSchema,
  properties: {
    ...resultSchema.properties,
    files: {
      type: "array",
      items: {
        type: "object",
        required: ["path", "derived"],
        properties: {
          derived: {
            type: "array",
            items: {
              type: "object",
              required: ["path", "kind", "size", "contentType"],
              properties: { kind: { enum: ["preview", "summary"] }, path: { type: "string", pattern: "^/" } },
            },
          },
        },
      },
    },
  },
} as const;
