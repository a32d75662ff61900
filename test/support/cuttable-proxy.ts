// A TCP proxy on loopback whose connections can be cut from the test, to break an SSE stream (or any
// connection) from outside, as a network failure would.
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";

export /** A TCP proxy whose connections can be cut, to break an SSE stream from outside. */
async function cuttableProxy(target: string): Promise<{ url: string; cut(): void; close(): void }> {
  const t = new URL(target);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(t.port), t.hostname);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut: () => {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
