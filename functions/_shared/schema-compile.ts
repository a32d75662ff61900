// Turns a JSON Schema into a validation function with ajv at run time: what tests and tsx runs use.
// Action bundles do not ship ajv's compiler: the build precompiles each action's schemas into
// standalone code and puts that in this module's place (scripts/build/validators.ts); both make
// their ajv with newAjv(), so a bundle validates exactly as this module does.
import { _, Ajv, type Options, type Schema, type ValidateFunction } from "ajv";
import { schemaFormats } from "./schema-formats.ts";

/**
 * An ajv instance as the functions validate with; `extra` is for the build (standalone code), whose
 * validators take their formats from the same module.
 */
export function newAjv(extra: Options = {}): Ajv {
  return new Ajv({
    allErrors: true,
    strict: false,
    useDefaults: false,
    formats: schemaFormats,
    ...extra,
    // how standalone code refers to the formats: the build bundles it from the project's root
    code: { ...extra.code, formats: _`require("./functions/_shared/schema-formats.ts").schemaFormats` },
  });
}

/** Every schema compiled in this process, in order: the build reads it to know what to precompile. */
export const compiledSchemas: Schema[] = [];

let ajv: Ajv | undefined;

export function compileSchema(schema: Schema): ValidateFunction {
  compiledSchemas.push(schema);
  ajv ??= newAjv();
  return ajv.compile(schema);
}
