// The activation a function is serving. OpenWhisk's Node.js runtime sets `__OW_ACTIVATION_ID`,
// `__OW_DEADLINE` … in process.env when a run starts; with limits.concurrency above 1 another
// activation's run can start in the same process before this one ends and overwrite them. The action
// frame takes them at the start of its run into an AsyncLocalStorage, which follows the run across
// its awaits, so provenance and deadlines always name this activation.
import { AsyncLocalStorage } from "node:async_hooks";

export interface ActivationEnv {
  activationId: string | null;
  /** the action's fully qualified name, e.g. /guest/facility-dev-checksum */
  action: string | null;
  actionVersion: string | null;
  /** epoch ms by which the run must end, or null when unknown */
  deadline: number | null;
}

const current = new AsyncLocalStorage<ActivationEnv>();

function fromEnv(): ActivationEnv {
  const deadline = Number(process.env.__OW_DEADLINE);
  return {
    activationId: process.env.__OW_ACTIVATION_ID || null,
    action: process.env.__OW_ACTION_NAME || null,
    actionVersion: process.env.__OW_ACTION_VERSION || null,
    deadline: Number.isFinite(deadline) && deadline > 0 ? deadline : null,
  };
}

/** Runs `fn` as one activation: what process.env says now stays this run's, whatever starts meanwhile. */
export function asActivation<T>(fn: () => T): T {
  return current.run(fromEnv(), fn);
}

/** The activation being served (inside asActivation), else what process.env says. */
export function activation(): ActivationEnv {
  return current.getStore() ?? fromEnv();
}
