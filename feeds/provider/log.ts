// Structured JSON logs, one object per line. Secrets never get passed in, and as a safety net every
// line is scrubbed of all secrets the provider knows (credentials of registrations, its own keys).
export type Level = "debug" | "info" | "warn" | "error";
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export class SecretRegistry {
  private readonly secrets = new Set<string>();
  add(...values: (string | undefined | null)[]): void {
    // very short strings would redact ordinary words; they are not plausible credentials anyway
    for (const v of values) if (v && v.length >= 6) this.secrets.add(v);
  }
  scrub(text: string): string {
    let out = text;
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join("[redacted]");
    return out;
  }
}

export class Logger {
  constructor(
    private readonly write: (line: string) => void = (l) => process.stdout.write(l),
    private readonly secrets = new SecretRegistry(),
    private readonly fields: Record<string, unknown> = {},
    private readonly min: Level = "info",
  ) {}

  child(fields: Record<string, unknown>): Logger {
    return new Logger(this.write, this.secrets, { ...this.fields, ...fields }, this.min);
  }

  get secretRegistry(): SecretRegistry {
    return this.secrets;
  }

  log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
    if (order[level] < order[this.min]) return;
    const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...this.fields, ...fields }, errorReplacer);
    this.write(`${this.secrets.scrub(line)}\n`);
  }
  debug(msg: string, f?: Record<string, unknown>): void {
    this.log("debug", msg, f);
  }
  info(msg: string, f?: Record<string, unknown>): void {
    this.log("info", msg, f);
  }
  warn(msg: string, f?: Record<string, unknown>): void {
    this.log("warn", msg, f);
  }
  error(msg: string, f?: Record<string, unknown>): void {
    this.log("error", msg, f);
  }
}

function errorReplacer(_k: string, v: unknown): unknown {
  if (v instanceof Error) return { name: v.name, message: v.message, ...("code" in v ? { code: (v as { code: unknown }).code } : {}) };
  return v;
}

/** Cuts a sample of untrusted input down for a log line. */
export function truncate(text: string, max = 200): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} chars)`;
}
