// CPU time the processes of a benchmark's stack used over a round, by what they are: the storage,
// the feed provider, the platform, the science services, and each action's containers (the local
// platform names a container's process `openwhisk action <name>`). Latencies at a burst follow how
// the cores are shared, so they say little about what each part costs; CPU seconds do. Read from
// /proc (Linux only) every `everyMs` for the processes below this one; a process that exits between
// two reads loses what it used since the last one (containers are kept warm, so this is little).
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

const KINDS: Array<[RegExp, string]> = [
  [/local\/dcache\/main\.ts|^inotifywait/, "local dCache"],
  [/feeds\/provider\/main\.ts/, "feed provider"],
  [/local\/openwhisk\/main\.ts/, "OpenWhisk platform"],
  [/local\/scicat\/main\.ts/, "SciCat"],
  [/local\/rucio\/main\.ts/, "Rucio"],
];

/** What a process is, from its command line; undefined: not part of the stack. */
function kindOf(cmdline: string): string | undefined {
  const action = /^openwhisk action (\S+)/.exec(cmdline);
  if (action) return `action ${action[1]}`;
  return KINDS.find(([re]) => re.test(cmdline))?.[1];
}

const ticksPerSecond = (() => {
  const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  return Number(r.stdout?.trim()) || 100;
})();

interface Proc {
  ppid: number;
  ticks: number;
}

/** Every process's parent and CPU ticks (user + system). */
function readProcs(): Map<number, Proc> {
  const out = new Map<number, Proc>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // the command's name may hold spaces and parentheses: fields are counted after its last ")"
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(Number(name), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export class CpuUse {
  private readonly seen = new Map<number, { kind: string; from: number; last: number }>();
  private timer: NodeJS.Timeout | undefined;

  /** Starts counting: what each process used so far is not counted. */
  static start(everyMs = 200): CpuUse | undefined {
    if (process.platform !== "linux") return undefined;
    const c = new CpuUse();
    c.sample(true);
    c.timer = setInterval(() => c.sample(), everyMs);
    return c;
  }

  /** Seconds of CPU per kind of process since start. */
  stop(): Map<string, number> {
    clearInterval(this.timer);
    this.sample();
    const out = new Map<string, number>();
    for (const p of this.seen.values()) out.set(p.kind, (out.get(p.kind) ?? 0) + (p.last - p.from) / ticksPerSecond);
    return out;
  }

  /** `atStart`: what the processes used so far is not counted */
  private sample(atStart = false): void {
    const procs = readProcs();
    const children = new Map<number, number[]>();
    for (const [pid, p] of procs) {
      const siblings = children.get(p.ppid);
      if (siblings) siblings.push(pid);
      else children.set(p.ppid, [pid]);
    }
    const below: number[] = [];
    for (let queue = children.get(process.pid) ?? []; queue.length > 0; ) {
      below.push(...queue);
      queue = queue.flatMap((pid) => children.get(pid) ?? []);
    }
    for (const pid of below) {
      const ticks = procs.get(pid)!.ticks;
      const known = this.seen.get(pid);
      if (known) {
        known.last = ticks;
        continue;
      }
      let cmdline: string;
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      } catch {
        continue;
      }
      const kind = kindOf(cmdline);
      // a process started after the first reading used all its CPU within the round
      if (kind) this.seen.set(pid, { kind, from: atStart ? ticks : 0, last: ticks });
    }
  }
}
