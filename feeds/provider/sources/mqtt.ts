// MQTT source: QoS 1 with a persistent session (clean start off, session kept for a week), so the
// broker keeps messages while the provider is down and redelivers whatever was not acknowledged.
// A PUBACK goes out only after the intake has made the message durable (mqtt.js sends it when our
// handleMessage calls back). The subscription is an MQTT v5 shared subscription
// `$share/<group>/<topic>` (group: the feed's `group`, else one derived from the registration), so
// provider replicas, each with its own client id, split one registration's messages instead of each
// getting all of them.
import { createHash } from "node:crypto";
import mqtt from "mqtt";
import type { MqttSourceParams } from "../../common/feed-params.ts";
import type { RunningSource, Source, SourceRegistration, SourceSink, StopOptions } from "./types.ts";

const SESSION_EXPIRY_S = 7 * 24 * 3600;

/** Stable per registration and replica, so a restarted provider resumes the same broker session. */
export function mqttClientId(regKey: string, replicaId: string): string {
  return `owfeed-${replicaId}-${createHash("sha256").update(regKey).digest("hex").slice(0, 16)}`;
}

export function subscriptionTopic(cfg: MqttSourceParams, regKey: string): string {
  const group = cfg.group ?? `owfeed-${createHash("sha256").update(regKey).digest("hex").slice(0, 16)}`;
  return `$share/${group}/${cfg.topic}`;
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
    const topic = subscriptionTopic(cfg, reg.key);
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
      resubscribe: true,
    });
    let stopping = false;
    sink.state("starting");

    // Redelivers after a store failure are retried here, in order, before the next message is read:
    // mqtt.js handles one incoming PUBLISH at a time and acknowledges when we call back.
    client.handleMessage = (packet, done) => {
      const msg = { payload: packet.payload as Buffer, receivedAt: new Date(), origin };
      const retry = (err: Error, n: number): void => {
        if (stopping) return; // no PUBACK: the broker redelivers to the next session
        log.error("could not store an MQTT message; retrying before acknowledging", { err, attempt: n });
        setTimeout(() => attempt(n + 1), Math.min(5000, 100 * 2 ** n));
      };
      const attempt = (n: number): void => {
        let pending: Promise<void> | void;
        try {
          pending = sink.deliver([msg]);
        } catch (e) {
          return retry(e as Error, n);
        }
        // acknowledging in the same turn keeps mqtt.js's receive loop (and the broker's in-flight
        // window) moving; an asynchronous acknowledgement costs orders of magnitude in throughput
        if (!pending) return done();
        pending.then(() => done(), (err: Error) => retry(err, n));
      };
      attempt(0);
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
          await new Promise<void>((res) => client.end(true, {}, () => res()));
        }
        sink.state("stopped");
      },
    };
  }
}
