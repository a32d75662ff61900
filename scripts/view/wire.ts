// What the view server sends the page: the shapes of its JSON, shared by both sides (types only, so
// the page's bundle takes nothing from the server).
export interface FileRef {
  path: string;
  /** SciCat dataset pid, from the catalogue step */
  pid?: string;
  /** Rucio file DID and rules, from the placement step */
  did?: { scope: string; name: string };
  rules?: Record<string, string>;
  /** files derive made from this one (previews, summaries) */
  derived?: Array<{ path: string; kind?: string; contentType?: string }>;
  /** the storage event's time (epoch ms): when the file closed, for close → catalogue latency */
  time?: number;
}

export interface ActivationRecord {
  /** position in the order this view saw activations: the client's cursor */
  seq: number;
  id: string;
  /** ns/pkg/name (or the trigger's name) */
  name: string;
  kind: "trigger" | "sequence" | "step" | "action";
  start: number;
  end: number;
  duration: number;
  success: boolean;
  status: string;
  /** the trigger activation that caused it (sequences and actions fired by a rule) */
  cause?: string;
  files: FileRef[];
  skipped: Array<{ path: string; reason: string }>;
  failed: Array<{ path: string; step: string; reason: string; permanent?: boolean }>;
  /** `{error, step, transient, paths}`: the whole step failed */
  error?: { message: string; step?: string; transient?: boolean; paths: string[] };
  bundleSha256?: string;
}

/** A file of the provider's ledger, as its API lists it. */
export interface LedgerFile {
  trigger: string;
  path: string;
  state: string;
  step?: string;
  reason?: string;
  permanent?: boolean;
  size?: number;
  arrived?: string;
  updated?: string;
  nextRetry?: string;
  rules?: unknown;
  triggerActivationId?: string;
}
