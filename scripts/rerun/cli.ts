// npm run rerun -- <activationId> [--store DIR] [--input FILE]
// Runs an activation again on this machine with the exact bundle it ran (found by the SHA-256 in the
// action's provenance annotation, in the build's content-addressed store) and the same input, and
// reports whether the result is the same.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import openwhisk, { type Dict } from "openwhisk";
import { readOpenWhiskConfig } from "../../lib/openwhisk/config.ts";
import { runActionZip } from "../runtime/run-action.ts";
import { differences } from "./compare.ts";
import { recoverInput } from "./input.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: { store: { type: "string", default: join(root, "dist", "store") }, input: { type: "string" } },
    allowPositionals: true,
  });
  const id = positionals[0];
  if (!id || !/^[0-9a-f]{32}$/.test(id))
    throw new Error(`give the 32-hex-digit id of an activation: npm run rerun -- <activationId>${id ? ` (got "${id}")` : ""}`);
  const cfg = readOpenWhiskConfig();
  const ow = openwhisk({ apihost: cfg.apihost, api_key: cfg.auth, namespace: cfg.namespace });

  const activation = await ow.activations.get({ name: id });
  const path = String(activation.annotations?.find((a) => a.key === "path")?.value ?? `${activation.namespace}/${activation.name}`);
  const [, ...nameParts] = path.split("/");
  const actionName = nameParts.join("/");
  const action = await ow.actions.get({ name: actionName });
  const provenance = action.annotations?.find((a) => a.key === "provenance")?.value as
    | { bundleSha256?: string; git?: { commit?: string } }
    | undefined;
  if (!provenance?.bundleSha256) {
    throw new Error(
      `action ${path} has no provenance annotation: deploy it with this project's serverless plugin, then rerun a new activation`,
    );
  }
  if (activation.version !== action.version) {
    console.log(`note: the activation ran action version ${activation.version}; ${action.version} is deployed now`);
  }
  const zip = join(resolve(values.store!), `${provenance.bundleSha256}.zip`);
  if (!existsSync(zip)) {
    throw new Error(
      `bundle ${provenance.bundleSha256} is not in the store ${values.store}; build commit ${provenance.git?.commit ?? "?"} (git checkout it, npm run build) to put it there`,
    );
  }

  let input: Dict;
  let from: string;
  if (values.input) {
    input = JSON.parse(readFileSync(values.input, "utf8"));
    from = values.input;
  } else {
    const recovered = await recoverInput(ow, activation);
    if (!recovered)
      throw new Error(`OpenWhisk does not record the input of activation ${id} (it was invoked directly); give it with --input FILE.json`);
    ({ input, from } = recovered);
  }
  // Parameters the action was deployed with come first; the input wins, as in OpenWhisk.
  const defaults: Dict = Object.fromEntries((action.parameters ?? []).map((p) => [p.key, p.value]));
  const params = { ...defaults, ...input };

  const run = await runActionZip(zip, params, {
    env: {
      __OW_ACTIVATION_ID: activation.activationId,
      __OW_ACTION_NAME: `/${path}`,
      __OW_NAMESPACE: activation.namespace,
      __OW_API_HOST: cfg.apihost,
      __OW_API_KEY: cfg.auth,
    },
  });
  const recorded = activation.response?.result;
  const now = run.error !== undefined ? { error: run.error } : run.result;
  const diff = differences(recorded, now);
  console.log(`activation ${id} of ${path}\n  bundle  ${provenance.bundleSha256}\n  input   ${from}`);
  if (diff.length === 0) {
    console.log("  result  matches the recorded result");
    return 0;
  }
  console.log(`  result  DIFFERS at ${diff.join(", ")}\n  recorded ${JSON.stringify(recorded)}\n  now      ${JSON.stringify(now)}`);
  return 1;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`rerun: ${err.message}`);
    process.exit(2);
  },
);
