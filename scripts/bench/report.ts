// Shared measurement helpers for benchmarks: percentiles and one aligned line per figure.
export function percentile(sortedMs: number[], p: number): number {
  if (sortedMs.length === 0) return NaN;
  const i = Math.min(sortedMs.length - 1, Math.max(0, Math.ceil((p / 100) * sortedMs.length) - 1));
  return sortedMs[i]!;
}

export function summarise(samplesMs: number[]): { p50: number; p99: number; mean: number; n: number } {
  const s = [...samplesMs].sort((a, b) => a - b);
  const mean = s.reduce((x, y) => x + y, 0) / (s.length || 1);
  return { p50: percentile(s, 50), p99: percentile(s, 99), mean, n: s.length };
}

/** Prints `figure  value unit  (ratio × baseline-name)`; a ratio > 1 means more than the baseline. */
export function report(figure: string, value: number, unit: string, baseline?: { name: string; value: number }): void {
  const v = value >= 100 ? value.toFixed(0) : value.toPrecision(3);
  let line = `${figure.padEnd(52)} ${v.padStart(10)} ${unit}`;
  if (baseline) line += `   (${(value / baseline.value).toFixed(2)}× ${baseline.name})`;
  console.log(line);
}
