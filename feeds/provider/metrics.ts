// Prometheus text exposition (format 0.0.4) for the provider's counters, gauges and one histogram.
type Labels = Record<string, string>;

function key(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]!.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`)
    .join(",");
}

abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: string,
  ) {}
  abstract lines(): string[];
  header(): string[] {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
  }
}

export class Counter extends Metric {
  private readonly values = new Map<string, number>();
  constructor(name: string, help: string) {
    super(name, help, "counter");
  }
  inc(labels: Labels = {}, n = 1): void {
    const k = key(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + n);
  }
  get(labels: Labels = {}): number {
    return this.values.get(key(labels)) ?? 0;
  }
  forget(match: (k: string) => boolean): void {
    for (const k of [...this.values.keys()]) if (match(k)) this.values.delete(k);
  }
  lines(): string[] {
    return [...this.values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ""} ${v}`);
  }
}

export class Gauge extends Metric {
  constructor(
    name: string,
    help: string,
    private readonly collect: () => [Labels, number][],
  ) {
    super(name, help, "gauge");
  }
  lines(): string[] {
    return this.collect().map(([l, v]) => `${this.name}${Object.keys(l).length ? `{${key(l)}}` : ""} ${v}`);
  }
}

export class Histogram extends Metric {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(
    name: string,
    help: string,
    private readonly buckets: number[],
  ) {
    super(name, help, "histogram");
    this.counts = buckets.map(() => 0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) this.counts[i]!++;
  }
  lines(): string[] {
    return [
      ...this.buckets.map((b, i) => `${this.name}_bucket{le="${b}"} ${this.counts[i]}`),
      `${this.name}_bucket{le="+Inf"} ${this.count}`,
      `${this.name}_sum ${this.sum}`,
      `${this.name}_count ${this.count}`,
    ];
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];
  add<M extends Metric>(m: M): M {
    this.metrics.push(m);
    return m;
  }
  render(): string {
    return `${this.metrics.flatMap((m) => [...m.header(), ...m.lines()]).join("\n")}\n`;
  }
}

/** The provider's metrics; per-registration series carry the label trigger="/ns/name". */
export class ProviderMetrics {
  readonly registry = new Registry();
  readonly received = this.registry.add(new Counter("feed_events_received_total", "Messages received from sources"));
  readonly malformed = this.registry.add(new Counter("feed_events_malformed_total", "Messages that were not valid storage events"));
  readonly filtered = this.registry.add(
    new Counter("feed_events_filtered_total", "Events dropped by the registration's filter (arrival stage included)"),
  );
  readonly notArrivals = this.registry.add(
    new Counter(
      "feed_events_not_arrivals_total",
      "Events that are no file arrival, by reason: temporary (a writer's temporary name), directory, not-arrival (other event types)",
    ),
  );
  readonly coalesced = this.registry.add(
    new Counter("feed_arrivals_coalesced_total", "Queued arrivals replaced by a newer arrival of the same file before they fired"),
  );
  readonly fired = this.registry.add(new Counter("feed_events_fired_total", "Events delivered in acknowledged fires"));
  // Where an event's time in the provider goes, as sums (divide by the matching count for a mean):
  // from its arrival to its outbox row (an enriching source's stat, filtering, the store commit),
  // then from that row to its fire (settle window, batch wait, the fires ahead of it).
  readonly stored = this.registry.add(new Counter("feed_events_stored_total", "Events a source delivered into the outbox"));
  readonly intakeSeconds = this.registry.add(
    new Counter(
      "feed_event_intake_seconds_total",
      "Seconds from an event's arrival at the provider until its outbox row was stored, summed over feed_events_stored_total",
    ),
  );
  readonly outboxSeconds = this.registry.add(
    new Counter(
      "feed_event_outbox_seconds_total",
      "Seconds fired events waited in the outbox until their fire started (settle window, batch wait, earlier fires), summed over feed_events_fired_total",
    ),
  );
  readonly fires = this.registry.add(new Counter("feed_fires_total", "Trigger fires by HTTP status (0 = network error)"));
  readonly retried = this.registry.add(new Counter("feed_fire_retries_total", "Fires that failed and will be retried"));
  readonly deadLettered = this.registry.add(new Counter("feed_events_dead_lettered_total", "Events moved to the dead-letter list"));
  readonly dropped = this.registry.add(
    new Counter("feed_events_dropped_total", "Events past maxAgeSeconds dropped because dead-lettering is off"),
  );
  readonly filesSucceeded = this.registry.add(new Counter("feed_files_succeeded_total", "Files every rule processed (ledger)"));
  readonly filesFailed = this.registry.add(
    new Counter("feed_files_failed_total", "Files that failed with a reason (ledger), by step and permanence"),
  );
  readonly filesSkipped = this.registry.add(
    new Counter("feed_files_skipped_total", "Files no rule had anything to do with: gone or a directory (ledger)"),
  );
  readonly filesRetried = this.registry.add(
    new Counter("feed_files_retried_total", "Rule invocations the provider made again for files that failed transiently"),
  );
  readonly filesDuplicate = this.registry.add(
    new Counter("feed_files_duplicate_total", "Arrivals not fired because the ledger had that content already (replays, rescans)"),
  );
  readonly fireSeconds = this.registry.add(
    new Histogram(
      "feed_fire_duration_seconds",
      "Latency of a trigger fire until OpenWhisk answered",
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ),
  );
  gauge(name: string, help: string, collect: () => [Labels, number][]): void {
    this.registry.add(new Gauge(name, help, collect));
  }
}
