// The inside of one "container": a Node.js process that runs one action the way the OpenWhisk
// Node.js runtime does, driven by the platform over IPC with the /init and /run semantics
// (status codes and bodies mirror the runtime's HTTP answers).
//
// Plain CommonJS without TypeScript on purpose: it is forked for every container, and a fork that
// first has to load a TypeScript loader would cost far more than the ~135 ms a bare fork takes.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { createRequire } = require("node:module");

const END_MARKER = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX";
// A main must be an identifier or a dotted path of identifiers: it is spliced into generated code.
const MAIN_PATTERN = /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/;

let handler = null;
// The container's file system, made (and removed with the container) by the platform.
const workDir = process.argv[2];

function reply(msg) {
  if (process.connected) process.send(msg);
}

function pick(obj, dotted) {
  let v = obj;
  for (const part of dotted.split(".")) {
    if (v === null || v === undefined) return undefined;
    v = v[part];
  }
  return v;
}

function loadPlainCode(code, main) {
  // Like the runtime: the code may declare `function main` at top level or export it.
  const file = path.join(workDir, "index.js");
  const mod = { exports: {} };
  const factory = new Function(
    "exports",
    "require",
    "module",
    "__filename",
    "__dirname",
    `${code}\n;try { return typeof ${main} === "function" ? ${main} : undefined; } catch (e) { return undefined; }`,
  );
  const declared = factory(mod.exports, createRequire(file), mod, file, workDir);
  return declared || pick(mod.exports, main);
}

// Loaded while the container is still a pre-warmed stem cell, not during a cold start.
const { unzipSync } = require("fflate");

function loadZip(base64, main) {
  const files = unzipSync(Buffer.from(base64, "base64"));
  for (const [name, data] of Object.entries(files)) {
    const target = path.resolve(workDir, name);
    if (!target.startsWith(workDir + path.sep)) throw new Error(`zip entry ${name} points outside the action directory`);
    if (name.endsWith("/")) {
      fs.mkdirSync(target, { recursive: true });
      continue;
    }
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, data);
  }
  let entry = "index.js";
  const pkgFile = path.join(workDir, "package.json");
  if (fs.existsSync(pkgFile)) {
    const pkg = JSON.parse(fs.readFileSync(pkgFile, "utf8"));
    if (typeof pkg.main === "string" && pkg.main) entry = pkg.main;
  }
  const req = createRequire(path.join(workDir, "index.js"));
  const entryPath = path.resolve(workDir, entry);
  if (!fs.existsSync(entryPath) && !fs.existsSync(`${entryPath}.js`)) {
    throw new Error(`Zipped actions must contain either package.json or index.js at the root (${entry} not found).`);
  }
  let fn = pick(req(entryPath), main);
  if (typeof fn !== "function" && main.includes(".")) {
    // `module.fn`: the part before the last dot names a file inside the zip.
    const cut = main.lastIndexOf(".");
    fn = pick(req(path.resolve(workDir, main.slice(0, cut))), main.slice(cut + 1));
  }
  return fn;
}

function init(value) {
  if (handler) return { status: 403, body: { error: "Cannot initialize the action more than once." } };
  try {
    const main = value.main || "main";
    if (!MAIN_PATTERN.test(main)) throw new Error(`'${main}' is not a valid name for the main function`);
    for (const [k, v] of Object.entries(value.env || {})) process.env[k] = typeof v === "string" ? v : JSON.stringify(v);
    const code = value.code || "";
    const fn = value.binary ? loadZip(code, main) : loadPlainCode(code, main);
    if (typeof fn !== "function") {
      return { status: 502, body: { error: `Initialization has failed due to: Action entrypoint '${main}' is not a function.` } };
    }
    handler = fn;
    // `ps` then tells which action a container runs, as a real invoker's container names do
    if (typeof value.name === "string") process.title = `openwhisk action ${value.name}`;
    return { status: 200, body: { OK: true } };
  } catch (e) {
    return { status: 502, body: { error: `Initialization has failed due to: ${initErrorText(e)}` } };
  }
}

// The stack of a failed init, as the action's author needs it: frames inside this runner or inside
// Node itself say where the platform is installed on the host, not what is wrong with the action.
function initErrorText(e) {
  if (!e?.stack) return String(e);
  const here = new RegExp(`[ (]${__filename.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\\d+:\\d+\\)?$`);
  const platformFrame = (line) =>
    /^\s+at /.test(line) && (here.test(line) || /[ (]node:[^ ]*\)?$/.test(line) || /at new Function \(<anonymous>\)$/.test(line));
  return String(e.stack)
    .split("\n")
    .filter((line) => !platformFrame(line))
    .join("\n")
    .replaceAll(__filename, "action-runner.cjs");
}

function isDictionary(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function errorValue(e) {
  if (e instanceof Error) return e.message;
  return e === undefined ? "undefined" : e;
}

async function run(msg) {
  if (!handler) return { status: 403, body: { error: "System not ready, status is not initialized." } };
  for (const [k, v] of Object.entries(msg)) {
    if (k !== "value" && typeof v === "string") process.env[`__OW_${k.toUpperCase()}`] = v;
  }
  let outcome;
  try {
    outcome = handler(msg.value ?? {});
  } catch (e) {
    return { status: 502, body: { error: `An error has occurred: ${e}` } };
  }
  try {
    const result = await outcome;
    if (result === undefined || result === null) return { status: 200, body: {} };
    if (!isDictionary(result)) return { status: 502, body: { error: "The action did not return a dictionary." } };
    // A result must survive JSON: anything that does not is the action's fault.
    return { status: 200, body: JSON.parse(JSON.stringify(result)) };
  } catch (e) {
    return { status: 200, body: { error: errorValue(e) } };
  }
}

function endMarkers() {
  process.stdout.write(`${END_MARKER}\n`);
  process.stderr.write(`${END_MARKER}\n`);
}

process.on("message", (msg) => {
  if (!msg || typeof msg !== "object") return;
  // the id pairs each answer with its request: activations of an action with limits.concurrency > 1
  // run here side by side and finish in any order
  if (msg.type === "init") {
    const r = init(msg.value || {});
    reply({ type: "init", id: msg.id, ...r });
  } else if (msg.type === "run") {
    run(msg.message || {}).then((r) => {
      let body = r.body;
      try {
        JSON.stringify(body);
      } catch {
        body = { error: "The action did not produce a valid JSON response." };
        r.status = 502;
      }
      endMarkers();
      reply({ type: "run", id: msg.id, status: r.status, body });
    });
  }
});

// The platform went away (even by SIGKILL): a container never outlives it.
process.on("disconnect", () => process.exit(0));

// The platform removes the directory once the container is gone (it kills containers); when the
// platform itself went away, nobody else will.
process.on("exit", () => {
  try {
    fs.rmSync(workDir, { recursive: true, force: true });
  } catch {
    /* best effort */
  }
});

reply({ type: "ready" });
