// Source implementations by `source.kind`. The dCache SSE source registers here when it exists.
import { DcacheSource } from "./dcache/index.ts";
import { MqttSource } from "./mqtt.ts";
import type { Source } from "./types.ts";

export function defaultSources(opts: { mqttReconnectMs?: number; dataDir?: string } = {}): Map<string, Source> {
  return new Map<string, Source>([
    ["mqtt", new MqttSource({ reconnectPeriodMs: opts.mqttReconnectMs })],
    ["dcache", new DcacheSource({ dataDir: opts.dataDir })],
  ]);
}
