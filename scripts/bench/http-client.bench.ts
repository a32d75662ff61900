// The client's CPU per small REST call (a JSON POST and its JSON answer over a kept-alive loopback
// connection): lib/http/rest-fetch.ts, which the functions and the provider use for SciCat, Rucio,
// the dCache namespace and OpenWhisk, against Node's fetch() in the same run. The server runs in its
// own process, so this process's CPU time is the client's alone.
import { spawn } from "node:child_process";
import { restFetch } from "../../lib/http/rest-fetch.ts";
import { report } from "./report.ts";

const SERVER = `
const http = require("node:http");
const body = JSON.stringify({ pid: "20.500.12345/" + "x".repeat(36), ok: true });
http.createServer((req, res) => {
  req.resume();
  req.on("end", () => { res.writeHead(200, { "content-type": "application/json" }); res.end(body); });
}).listen(0, "127.0.0.1", function () { console.log(this.address().port); });`;

const server = spawn(process.execPath, ["-e", SERVER], { stdio: ["ignore", "pipe", "inherit"] });
const port = await new Promise<number>((resolve) => server.stdout!.once("data", (d: Buffer) => resolve(Number(d.toString().trim()))));
const url = `http://127.0.0.1:${port}/datasets`;
const init = {
  method: "POST",
  headers: { "content-type": "application/json", authorization: "Bearer t" },
  body: JSON.stringify({ datasetName: "scan", size: 65648 }),
};
const clients = {
  fetch: async () => (await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) })).json(),
  restFetch: async () => (await restFetch(url, { ...init, signal: AbortSignal.timeout(30_000) })).json(),
};

/** CPU µs per request of the client, the median of 5 rounds of 1,000 sequential requests. */
async function cpuPerRequest(call: () => Promise<unknown>): Promise<{ cpu: number; wall: number }> {
  for (let i = 0; i < 300; i++) await call();
  const rounds: Array<{ cpu: number; wall: number }> = [];
  for (let r = 0; r < 5; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) await call();
    const c = process.cpuUsage(c0);
    rounds.push({ cpu: (c.user + c.system) / 1000, wall: ((performance.now() - t0) * 1000) / 1000 });
  }
  rounds.sort((a, b) => a.cpu - b.cpu);
  return rounds[2]!;
}

try {
  const f = await cpuPerRequest(clients.fetch);
  const r = await cpuPerRequest(clients.restFetch);
  report("fetch(): client CPU per request", f.cpu, "µs");
  report("restFetch: client CPU per request", r.cpu, "µs", { name: "fetch()", value: f.cpu });
  report("fetch(): wall time per request", f.wall, "µs");
  report("restFetch: wall time per request", r.wall, "µs", { name: "fetch()", value: f.wall });
} finally {
  server.kill();
}
