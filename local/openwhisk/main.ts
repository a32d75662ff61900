// `npm run local:openwhisk`: starts the local OpenWhisk-compatible platform, writes a .wskprops-style
// file for wsk-compatible CLIs, and prints `listening openwhisk http://127.0.0.1:<port>` when ready.
import { parseArgs } from "node:util";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { startPlatform } from "./platform.ts";

const USAGE = `usage: npm run local:openwhisk -- [options]
  --port N             port on 127.0.0.1 (default 3233, 0 = any free port)      env OW_LOCAL_PORT
  --data-dir DIR       where entities, activations and wskprops live             env OW_LOCAL_DATA_DIR
                       (default .local/openwhisk)
  --config FILE        JSON: {"namespaces":[{"namespace","auth"}], "limits":{...},  env OW_LOCAL_CONFIG
                       "maxContainers", "userMemoryMb", "prewarm", "idleTimeoutMs"}
  --max-containers N   most action containers at once                           env OW_LOCAL_MAX_CONTAINERS
  --user-memory MB     most memory (the actions' memory limits) of all          env OW_LOCAL_USER_MEMORY
                       containers at once (default 1536 per core, ≥ 3072)
  --prewarm N          started containers kept ready for cold starts (default 2) env OW_LOCAL_PREWARM
  --help`;

function fail(message: string): never {
  process.stderr.write(`local openwhisk: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function integer(name: string, raw: string | undefined, min: number): number | undefined {
  if (raw === undefined || raw === "") return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < min) fail(`${name} must be an integer ≥ ${min}, not "${raw}"`);
  return Number(raw);
}

let args;
try {
  args = parseArgs({
    options: {
      port: { type: "string" },
      "data-dir": { type: "string" },
      config: { type: "string" },
      "max-containers": { type: "string" },
      "user-memory": { type: "string" },
      prewarm: { type: "string" },
      help: { type: "boolean" },
    },
  }).values;
} catch (e) {
  fail((e as Error).message);
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const env = process.env;
const port = integer("--port", args.port ?? env.OW_LOCAL_PORT, 0) ?? 3233;
if (port > 65535) fail(`--port must be at most 65535, not ${port}`);
const dataDir = resolve(args["data-dir"] ?? env.OW_LOCAL_DATA_DIR ?? ".local/openwhisk");

try {
  const platform = await startPlatform({
    port,
    dataDir,
    configFile: args.config ?? env.OW_LOCAL_CONFIG,
    maxContainers: integer("--max-containers", args["max-containers"] ?? env.OW_LOCAL_MAX_CONTAINERS, 1),
    prewarm: integer("--prewarm", args.prewarm ?? env.OW_LOCAL_PREWARM, 0),
    userMemoryMb: integer("--user-memory", args["user-memory"] ?? env.OW_LOCAL_USER_MEMORY, 128),
  });
  const wskprops = join(dataDir, "wskprops");
  writeFileSync(wskprops, `APIHOST=${platform.url}\nAUTH=${platform.auth}\nNAMESPACE=${platform.namespace}\n`, { mode: 0o600 });
  process.stdout.write(`wsk-compatible CLIs: export WSK_CONFIG_FILE=${wskprops}\n`);
  process.stdout.write(`listening openwhisk ${platform.url}\n`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void platform.close().then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
} catch (e) {
  process.stderr.write(`local openwhisk: ${(e as Error).message}\n`);
  process.exit(1);
}
