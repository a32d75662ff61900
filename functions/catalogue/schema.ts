// Parameters and result of the catalogue action.
import { anyInput, inputSchema, resultSchema, storageParamsSchema } from "../_shared/schema.ts";

export const paramsSchema = {
  type: "object",
  required: ["scicatUrl", "ownerGroup"],
  ...anyInput,
  properties: {
    ...inputSchema,
    ...storageParamsSchema,
    dmp: { type: "object", description: "the facility's data management plan, for files no dmp.json covers (docs/lifecycle.md)" },
    scicatUrl: {
      type: "string",
      format: "uri",
      pattern: "^https?://",
      description: "SciCat backend, e.g. https://scicat.example.org (…/api/v3 appended unless given)",
    },
    scicatUsername: { type: "string", minLength: 1 },
    scicatPassword: { type: "string" },
    scicatToken: { type: "string", minLength: 1 },
    pidPrefix: {
      type: "string",
      minLength: 1,
      pattern: "^[^/]+(/[^/]+)*$",
      description: "prefix of the deterministic pid, e.g. 20.500.12269",
    },
    owner: { type: "string", minLength: 1 },
    ownerGroup: { type: "string", minLength: 1 },
    accessGroups: { type: "array", items: { type: "string" } },
    contactEmail: { type: "string", minLength: 3 },
    principalInvestigator: { type: "string", minLength: 1 },
    creationLocation: { type: "string", minLength: 1 },
    instrumentId: { type: "string" },
    license: { type: "string" },
    keywords: { type: "array", items: { type: "string" } },
    derivedDir: {
      type: "string",
      pattern: "^[^/]+$",
      description: "folder name derive writes to (default derived): files in it become derived datasets",
    },
    concurrency: { type: "integer", minimum: 1, maximum: 64, description: "files of a batch registered at the same time (default 8)" },
    reprocessChanged: {
      type: "boolean",
      description:
        "a file whose size or ADLER32 changed after it was catalogued updates its origdatablock (default false: it fails as changed after registration)",
    },
    timeoutMs: { type: "integer", minimum: 100, maximum: 600000 },
  },
} as const;

export const catalogueResultSchema = {
  ...resultSchema,
  properties: {
    ...resultSchema.properties,
    files: {
      type: "array",
      items: {
        type: "object",
        required: ["path", "catalogue"],
        properties: {
          catalogue: {
            type: "object",
            required: ["pid", "datasetName", "action"],
            properties: {
              pid: { type: "string" },
              datasetName: { type: "string" },
              action: { enum: ["created", "updated"] },
              type: { enum: ["raw", "derived"] },
            },
          },
        },
      },
    },
  },
} as const;
