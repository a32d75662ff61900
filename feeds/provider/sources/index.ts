// Source implementations by `source.kind`. The dCache SSE source registers here when it exists.
import { MqttSource } from "./mqtt.ts";
import type { Source } from "./types.ts";

export function defaultSources(opts: { mqttReconnectMs?: number } = {}): Map<string, Source> {
  return new Map<string, Source>([["mqtt", new MqttSource({ reconnectPeriodMs: opts.mqttReconnectMs })]]);
}
