// Runs activations: takes a container from the pool (cold: initialise it with the action), runs
// the payload, turns the runtime's answer or failure into an activation record with OpenWhisk's
// statuses and annotations, stores it, and runs sequences component by component.
import { randomUUID } from "node:crypto";
import type { ContainerPool } from "./pool.ts";
import type { Container, StepOutcome } from "./container.ts";
import type { ActivationStore, Activation } from "../store/activations.ts";
import type { Identity } from "../auth.ts";
import type { ResolvedAction } from "../resolver.ts";
import type { KeyValue } from "../params.ts";
import { annotation } from "../params.ts";
import { Messages } from "../errors.ts";
import { fullName, parseQualified, type QualifiedName } from "../names.ts";

export type Status = "success" | "application error" | "action developer error" | "whisk internal error";

const MAX_RESULT_BYTES = 1024 * 1024;
const STATUS_CODES: Status[] = ["success", "application error", "action developer error", "whisk internal error"];

export interface InvokeOptions {
  identity: Identity;
  action: ResolvedAction;
  payload: Record<string, unknown>;
  /** the activation that caused this one: the sequence it is a component of, or a trigger's fire */
  cause?: string;
  /** set for sequence components (annotation `causedBy`); rule-fired activations have only `cause` */
  causedBy?: "sequence";
  /** the id to run under, when the caller promised one (a fire's durable rule invocations) */
  activationId?: string;
  /** runs inside the transaction that stores this activation's record (not its components') */
  settle?: () => void;
  /** performance.now() when the request arrived: waitTime counts from here */
  receivedAt: number;
  /** true for the outermost sequence (annotation `topmost`) */
  topmost?: boolean;
}

export interface Running {
  activationId: string;
  done: Promise<Activation>;
}

export interface InvokerOptions {
  pool: ContainerPool;
  activations: ActivationStore;
  /** resolves sequence components by their fully qualified names at run time */
  resolve: (identity: Identity, q: QualifiedName) => ResolvedAction;
  log: (line: string) => void;
}

export function newActivationId(): string {
  // randomUUID draws from a cached entropy pool: much cheaper per call than randomBytes(16).
  return randomUUID().replaceAll("-", "");
}

export function httpStatusOf(a: Activation): number {
  const status = (a.response as { status: Status }).status;
  return status === "success" ? 200 : status === "whisk internal error" ? 500 : 502;
}

interface Limits {
  timeout: number;
  memory: number;
  logs: number;
  /** absent in records stored before it was kept */
  concurrency?: number;
}

function actionPath(where: QualifiedName): string {
  return fullName(where).slice(1);
}

export class Invoker {
  constructor(private readonly o: InvokerOptions) {}

  invoke(opts: InvokeOptions): Running {
    const activationId = opts.activationId ?? newActivationId();
    const exec = opts.action.doc.exec as { kind: string };
    const done = (exec.kind === "sequence" ? this.runSequence(activationId, opts) : this.runAction(activationId, opts)).catch(
      (e: unknown) => this.internalError(activationId, opts, e),
    );
    return { activationId, done };
  }

  private internalError(activationId: string, opts: InvokeOptions, e: unknown): Activation {
    this.o.log(`activation ${activationId} failed inside the platform: ${(e as Error)?.stack ?? e}`);
    const now = Date.now();
    const rec = this.record(activationId, opts, {
      start: now,
      end: now,
      logs: [],
      status: "whisk internal error",
      result: { error: "The activation failed inside the local platform; its log has the details." },
      extra: [],
    });
    this.store(rec, opts);
    return rec;
  }

  private record(
    activationId: string,
    opts: InvokeOptions,
    r: { start: number; end: number; duration?: number; logs: string[]; status: Status; result: unknown; extra: KeyValue[] },
  ): Activation {
    const doc = opts.action.doc;
    const exec = doc.exec as { kind: string };
    const resultText = JSON.stringify(r.result);
    const rec: Activation = {
      namespace: opts.identity.namespace,
      name: opts.action.where.name,
      subject: opts.identity.namespace,
      activationId,
      start: r.start,
      end: r.end,
      duration: r.duration ?? r.end - r.start,
      version: doc.version as string,
      publish: false,
      ...(opts.cause ? { cause: opts.cause } : {}),
      logs: r.logs,
      response: {
        result: r.result,
        size: Buffer.byteLength(resultText),
        status: r.status,
        statusCode: STATUS_CODES.indexOf(r.status),
        success: r.status === "success",
      },
      annotations: [
        { key: "path", value: actionPath(opts.action.where) },
        ...(opts.causedBy ? [{ key: "causedBy", value: opts.causedBy }] : []),
        ...(opts.action.binding ? [{ key: "binding", value: `${opts.action.binding.namespace}/${opts.action.binding.name}` }] : []),
        { key: "kind", value: exec.kind },
        { key: "limits", value: doc.limits },
        ...r.extra,
      ],
    };
    return rec;
  }

  private store(rec: Activation, opts: InvokeOptions): void {
    const where = opts.action.where;
    // The name a list filter matches, as OpenWhisk's activations view keys it: through a binding
    // "binding/action", in a package "package/action", else the action's name.
    const pkg = opts.action.binding?.name ?? where.pkg;
    this.o.activations.put(rec, pkg ? `${pkg}/${where.name}` : where.name, opts.settle);
  }

  private async runAction(activationId: string, opts: InvokeOptions): Promise<Activation> {
    const doc = opts.action.doc;
    const limits = doc.limits as Limits;
    const exec = doc.exec as { kind: string; code: string; binary: boolean; main?: string };
    const path = fullName(opts.action.where);
    const key = `${path}@${doc.version}#${doc.updated}`;
    // limits.concurrency > 1: several activations share a container, and its logs are not cut per
    // activation (OpenWhisk leaves them to an external log store); here they go to the platform's log
    const concurrent = (limits.concurrency ?? 1) > 1;
    const lease = await this.o.pool.acquire(key, limits.memory, limits.concurrency ?? 1);
    const c = lease.container;
    const waitTime = Math.round(performance.now() - opts.receivedAt);
    const start = Date.now();
    let initTime: number | undefined;
    let outcome: StepOutcome | undefined;
    let initFailed = false;
    try {
      if (lease.cold) {
        if (concurrent) c.logSink = (line) => this.o.log(`${path} ${line}`);
        const init = (async () => {
          await c.ready;
          return c.init(
            { name: opts.action.where.name, main: exec.main ?? "main", code: exec.code, binary: exec.binary, env: {} },
            limits.timeout,
          );
        })();
        if (concurrent) c.initialising = init;
        const answer = await init;
        initTime = Math.round(answer.durationMs);
        if (answer.answer?.status !== 200) {
          initFailed = true;
          outcome = answer;
        }
      } else if (c.initialising) {
        // another activation is initialising this container: run once it is done, fail as it did
        const answer = await c.initialising;
        if (answer.answer?.status !== 200) {
          initFailed = true;
          outcome = answer;
        }
      }
      outcome ??= await c.run(
        {
          value: { ...opts.action.params, ...opts.payload },
          namespace: opts.identity.namespace,
          action_name: path,
          action_version: doc.version,
          activation_id: activationId,
          transaction_id: activationId,
          deadline: String(Date.now() + limits.timeout),
          ...(annotation(opts.action.annotations, "provide-api-key") === true
            ? { api_key: `${opts.identity.uuid}:${opts.identity.key}` }
            : {}),
        },
        // Initialisation and run each get the whole time limit, as in OpenWhisk.
        limits.timeout,
      );
    } catch (e) {
      c.kill();
      this.o.pool.release(c, false);
      throw e;
    }
    const end = Date.now();
    const { status, result } = interpret(outcome!, initFailed, limits.timeout);
    // Like OpenWhisk's invoker: a container that gave a developer error is not trusted again.
    const reusable = !outcome!.failure && !initFailed && (status === "success" || status === "application error");
    // A failed init prints no end markers: stop the process and take what it wrote.
    if (initFailed) c.kill();
    const logs = concurrent ? [] : await collectLogs(c, !outcome!.failure && !initFailed, limits.logs);
    this.o.pool.release(c, reusable);
    const rec = this.record(activationId, opts, {
      start,
      end,
      logs,
      status,
      result,
      extra: [
        { key: "waitTime", value: waitTime },
        ...(initTime !== undefined ? [{ key: "initTime", value: initTime }] : []),
        { key: "timeout", value: outcome!.failure === "timeout" },
      ],
    });
    this.store(rec, opts);
    return rec;
  }

  private async runSequence(activationId: string, opts: InvokeOptions): Promise<Activation> {
    const doc = opts.action.doc;
    const components = (doc.exec as { components: string[] }).components;
    const start = Date.now();
    const waitTime = Math.round(performance.now() - opts.receivedAt);
    const ids: string[] = [];
    let duration = 0;
    const { _actions: _, ...seqParams } = opts.action.params;
    let input: Record<string, unknown> = { ...seqParams, ...opts.payload };
    let last: Activation | undefined;
    for (const ref of components) {
      let component: ResolvedAction;
      try {
        component = this.o.resolve(opts.identity, parseQualified(ref, opts.identity.namespace));
      } catch {
        // The component was deleted after the sequence was made: the sequence fails like OpenWhisk's.
        last = undefined;
        const end = Date.now();
        const rec = this.record(activationId, opts, {
          start,
          end,
          duration,
          logs: ids,
          status: "application error",
          result: { error: `Sequence component does not exist: ${ref}` },
          extra: [
            { key: "topmost", value: opts.topmost !== false },
            { key: "waitTime", value: waitTime },
          ],
        });
        this.store(rec, opts);
        return rec;
      }
      const run = this.invoke({
        identity: opts.identity,
        action: component,
        payload: input,
        cause: activationId,
        causedBy: "sequence",
        receivedAt: performance.now(),
        topmost: false,
      });
      ids.push(run.activationId);
      last = await run.done;
      duration += last.duration as number;
      const response = last.response as { result: Record<string, unknown>; success: boolean };
      if (!response.success || (response.result && typeof response.result === "object" && "error" in response.result)) break;
      input = response.result ?? {};
    }
    const response = last!.response as { result: unknown; status: Status };
    const rec = this.record(activationId, opts, {
      start,
      end: Date.now(),
      duration,
      logs: ids,
      status: response.status,
      result: response.result,
      extra: [
        { key: "topmost", value: opts.topmost !== false },
        { key: "waitTime", value: waitTime },
      ],
    });
    this.store(rec, opts);
    return rec;
  }
}

function interpret(o: StepOutcome, init: boolean, timeoutMs: number): { status: Status; result: Record<string, unknown> } {
  if (o.failure === "timeout") return { status: "action developer error", result: { error: Messages.timedOut(timeoutMs, init) } };
  if (o.failure === "memory") return { status: "action developer error", result: { error: Messages.memoryExhausted } };
  if (o.failure === "exit") {
    return { status: "action developer error", result: { error: init ? Messages.abnormalInitialization : Messages.abnormalRun } };
  }
  const a = o.answer!;
  if (a.status !== 200) {
    const body = a.body && typeof a.body === "object" && "error" in a.body ? a.body : { error: "The action failed to run." };
    return { status: "action developer error", result: body };
  }
  const size = Buffer.byteLength(JSON.stringify(a.body));
  if (size > MAX_RESULT_BYTES) {
    return {
      status: "action developer error",
      result: { error: `The action produced a response that exceeded the allowed length: ${size} > ${MAX_RESULT_BYTES} bytes.` },
    };
  }
  return { status: "error" in a.body ? "application error" : "success", result: a.body };
}

async function collectLogs(c: Container, expectMarkers: boolean, limitMb: number): Promise<string[]> {
  const lines = await c.takeLogs(expectMarkers);
  const max = limitMb * 1024 * 1024;
  let total = 0;
  for (let i = 0; i < lines.length; i++) {
    total += Buffer.byteLength(lines[i]!);
    if (total > max) {
      return [...lines.slice(0, i), `Logs were truncated because the total bytes size exceeds the limit of ${max} bytes.`];
    }
  }
  return lines;
}
