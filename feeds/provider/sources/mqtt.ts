// MQTT source: QoS 1 with a persistent session (clean start off, session kept for a week), so the
// broker keeps messages while the provider is down and redelivers whatever was not acknowledged.
// A PUBACK goes out only after the intake has made the message durable (mqtt.js sends it when our
// handleMessage calls back). With the feed's `group`, the subscription is an MQTT v5 shared
// subscription `$share/<group>/<topic>`, so provider replicas (each with its own client id) split one
// topic. It is opt-in: Mosquitto 2.0 does not restore shared subscriptions from its persistence file,
// so after a broker restart a shared subscription loses what is published before the provider has
// reconnected, while a plain subscription in a persistent session keeps it.
import { createHash } from "node:crypto";
import mqtt from "mqtt";
import type { MqttSourceParams } from "../../common/feed-params.ts";
import type { RunningSource, Source, SourceRegistration, SourceSink, StopOptions } from "./types.ts";

const SESSION_EXPIRY_S = 7 * 24 * 3600;
const MAX_UNDURABLE = 5000;

/** Stable per registration and replica, so a restarted provider resumes the same broker session. */
export function mqttClientId(regKey: string, replicaId: string): string {
  return `owfeed-${replicaId}-${createHash("sha256").update(regKey).digest("hex").slice(0, 16)}`;
}

export function subscriptionTopic(cfg: MqttSourceParams): string {
  return cfg.group ? `$share/${cfg.group}/${cfg.topic}` : cfg.topic;
}

/** Broker URL without credentials, as the CloudEvent source of messages that name none. */
function originOf(cfg: MqttSourceParams): string {
  const u = new URL(cfg.url);
  return `${u.protocol}//${u.host}/${cfg.topic}`;
}

export class MqttSource implements Source {
  readonly kind = "mqtt" as const;

  constructor(private readonly opts: { reconnectPeriodMs?: number } = {}) {}

  async start(reg: SourceRegistration, sink: SourceSink): Promise<RunningSource> {
    const cfg = reg.config as MqttSourceParams;
    const log = reg.log.child({ source: "mqtt" });
    const origin = originOf(cfg);
    const topic = subscriptionTopic(cfg);
    const u = new URL(cfg.url);
    const client = mqtt.connect(`${u.protocol}//${u.host}`, {
      clientId: mqttClientId(reg.key, reg.replicaId),
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: SESSION_EXPIRY_S },
      username: cfg.username,
      password: cfg.password,
      reconnectPeriod: this.opts.reconnectPeriodMs ?? 1000,
      connectTimeout: 10_000,
      // we subscribe on every connect ourselves: mqtt.js skips topics it believes the session has,
      // and a broker may restore a session without its shared subscription (Mosquitto 2.0 does)
      resubscribe: false,
    });
    let stopping = false;
    sink.state("starting");

    // At-least-once with group commit: mqtt.js handles one incoming PUBLISH at a time and sends its
    // PUBACK when handleMessage calls back. We call back at once, so the next message is read, but
    // hold each PUBACK until the intake has made that message durable; PUBACKs still go out in
    // arrival order, as MQTT requires. A PUBACK held across a reconnect is dropped (its message id
    // may belong to another message by then): the broker redelivers the message instead.
    type SendPacket = (packet: { cmd: string; messageId?: number }, cb?: (err?: Error) => void, ...rest: unknown[]) => void;
    const internals = client as unknown as { _sendPacket: SendPacket };
    const send = internals._sendPacket.bind(client);
    const durable = new Map<number, Promise<void>>();
    let connection = 0;
    internals._sendPacket = (packet, cb, ...rest) => {
      // mqtt.js would queue a PUBACK while offline and send it on the next connection, where its
      // message id may mean another message: drop it; the broker redelivers
      if (packet.cmd === "puback" && !client.connected) return cb?.();
      const pending = packet.cmd === "puback" && packet.messageId !== undefined ? durable.get(packet.messageId) : undefined;
      if (!pending) return send(packet, cb, ...rest);
      durable.delete(packet.messageId!);
      const mine = connection;
      cb?.();
      pending.then(
        () => {
          if (mine === connection && client.connected) send(packet);
        },
        (err: Error) => {
          if (stopping || mine !== connection) return;
          // not stored: never acknowledge; reconnect so the broker offers it again
          log.error("could not store an MQTT message; reconnecting so the broker redelivers it", { err });
          connection++;
          client.stream.destroy();
        },
      );
    };
    client.on("close", () => {
      connection++;
      durable.clear();
    });
    // Messages read but not yet durable are bounded: past the bound the next one is read only when
    // an earlier one is stored, so a paused or throttled registration holds the broker back.
    let undurable = 0;
    let resume: (() => void) | undefined;
    client.handleMessage = (packet, done) => {
      const msg = { payload: packet.payload as Buffer, receivedAt: new Date(), origin };
      let pending: Promise<void>;
      try {
        pending = Promise.resolve(sink.deliver([msg]));
      } catch (e) {
        pending = Promise.reject(e as Error);
      }
      undurable++;
      pending
        .catch(() => {}) // handled where the PUBACK is held
        .finally(() => {
          undurable--;
          if (resume && undurable < MAX_UNDURABLE) {
            const r = resume;
            resume = undefined;
            r();
          }
        });
      if (packet.qos > 0 && packet.messageId !== undefined) durable.set(packet.messageId, pending);
      if (undurable < MAX_UNDURABLE) done();
      else resume = () => done();
    };

    client.on("connect", (connack) => {
      // PUBACKs are tiny: without TCP_NODELAY, Nagle holds them back and the broker's window stalls
      (client.stream as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
      sink.state("connected");
      log.info("connected to the MQTT broker", { broker: `${u.protocol}//${u.host}`, sessionPresent: connack.sessionPresent });
      // subscribe on every connect: harmless when the session already has it, needed when it does not
      client.subscribe(topic, { qos: cfg.qos }, (err, granted) => {
        if (err) log.error("MQTT subscribe failed", { topic, err });
        else if (granted?.some((g) => g.qos >= 128)) {
          log.error("the broker refused the subscription", { topic, reasonCode: granted[0]?.qos });
          sink.state("failed", `broker refused subscription to ${topic} (reason code ${granted[0]?.qos})`);
        }
      });
    });
    client.on("reconnect", () => sink.state("reconnecting"));
    client.on("offline", () => {
      if (!stopping) sink.state("reconnecting", "broker connection lost");
    });
    client.on("error", (err) => {
      // connection errors are retried by mqtt.js; bad credentials stay failed until the config changes
      const code = (err as { code?: number }).code;
      log.warn("MQTT client error", { err, code });
      if (code === 134 || code === 135 || code === 4 || code === 5) sink.state("failed", `broker refused the connection: ${err.message}`);
    });

    return {
      async stop(stopOpts: StopOptions = {}): Promise<void> {
        stopping = true;
        if (stopOpts.forget && client.connected) {
          // drop the broker-side session: unsubscribe and end it with session expiry 0
          await client.unsubscribeAsync(topic).catch(() => {});
          await new Promise<void>((res) => client.end(false, { properties: { sessionExpiryInterval: 0 } }, () => res()));
        } else {
          // let messages already read become durable and their PUBACKs go out, so the broker does
          // not redeliver them to the next session (bounded: a stuck store must not block shutdown)
          const until = Date.now() + 2000;
          while (undurable > 0 && client.connected && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
          await new Promise<void>((res) => client.end(false, {}, () => res()));
        }
        sink.state("stopped");
      },
    };
  }
}
