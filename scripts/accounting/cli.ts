// npm run accounting -- [--mqtt URL] [--prefix P] [--follow] [--serve PORT]
// The running accounting totals of a stack, read from the retained per-file records under
// `<prefix>/files/#` (functions/accounting/README.md): printed once as JSON, or followed live, or
// served as Prometheus gauges on http://127.0.0.1:PORT/metrics (and JSON on /totals).
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { DEFAULT_PREFIX } from "../../functions/accounting/records.ts";
import { watchAccounting } from "./watch.ts";

const USAGE = `usage: npm run accounting -- [options]
  --mqtt URL      broker (env MQTT_URL, default mqtt://127.0.0.1:1883; MQTT_USERNAME/MQTT_PASSWORD from env)
  --prefix P      topic prefix of the stack (env MQTT_TOPIC_PREFIX, default ${DEFAULT_PREFIX}); npm start prints it
  --follow        print each new record and the totals after it, until Ctrl-C
  --serve PORT    serve the totals: /metrics (Prometheus text) and /totals (JSON), until Ctrl-C`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      mqtt: { type: "string" },
      prefix: { type: "string" },
      follow: { type: "boolean" },
      serve: { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (values.help) return void console.log(USAGE);
  const url = values.mqtt ?? process.env.MQTT_URL ?? "mqtt://127.0.0.1:1883";
  const prefix = values.prefix ?? process.env.MQTT_TOPIC_PREFIX ?? DEFAULT_PREFIX;
  if (values.serve !== undefined && !/^\d+$/.test(values.serve)) throw new Error(`--serve must be a port number, got "${values.serve}"`);
  const w = await watchAccounting(url, prefix, {
    username: process.env.MQTT_USERNAME,
    password: process.env.MQTT_PASSWORD,
    onRecord: values.follow
      ? (_t, r, totals) =>
          console.log(
            `${r.recordedAt}  ${r.outcome.padEnd(7)} ${r.path}${r.step ? `  [${r.step}${r.permanent ? ", permanent" : ""}] ${r.reason ?? ""}` : r.reason ? `  ${r.reason}` : ""}\n  totals ${JSON.stringify(totals.totals())}`,
          )
      : undefined,
  });
  console.log(JSON.stringify({ prefix, ...w.totals.totals() }, null, values.follow || values.serve ? undefined : 2));
  if (values.serve !== undefined) {
    const server = createServer((req, res) => {
      if (req.url === "/metrics") res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4" }).end(w.totals.prometheus());
      else if (req.url === "/totals")
        res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ prefix, ...w.totals.totals() }));
      else res.writeHead(404).end("try /metrics or /totals\n");
    });
    await new Promise<void>((r) => server.listen(Number(values.serve), "127.0.0.1", r));
    console.log(`listening accounting http://127.0.0.1:${(server.address() as { port: number }).port}`);
  }
  if (!values.follow && values.serve === undefined) return w.stop();
  process.once("SIGINT", () => void w.stop().then(() => process.exit(0)));
}

main().catch((e: Error) => {
  process.stderr.write(`npm run accounting: ${e.message}\n${USAGE}\n`);
  process.exit(1);
});
