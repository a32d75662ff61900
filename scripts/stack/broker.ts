// The MQTT broker of the local stack: the configured one, one already listening on 1883, or a
// mosquitto started for the stack on a free port.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer, connect } from "node:net";

function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.setTimeout(500);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
    s.once("timeout", () => {
      s.destroy();
      resolve(false);
    });
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
}

export interface Broker {
  url: string;
  /** set when the stack started it */
  proc?: ChildProcess;
}

export async function findOrStartBroker(configured: string | undefined): Promise<Broker> {
  if (configured) return { url: configured };
  if (await listening("127.0.0.1", 1883)) return { url: "mqtt://127.0.0.1:1883" };
  if (spawnSync("sh", ["-c", "command -v mosquitto"]).status !== 0) {
    throw new Error(
      "no MQTT broker: nothing listens on 127.0.0.1:1883 and mosquitto is not installed (apt-get install mosquitto), or give one with --mqtt mqtt://host:1883",
    );
  }
  const port = await freePort();
  const proc = spawn("mosquitto", ["-p", String(port)], { stdio: "ignore" });
  for (let i = 0; i < 50; i++) {
    if (await listening("127.0.0.1", port)) return { url: `mqtt://127.0.0.1:${port}`, proc };
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill();
  throw new Error(`mosquitto did not start listening on 127.0.0.1:${port}`);
}
