/**
 * Bench harness (internal): interleaved sampling, medians, markdown tables.
 *
 * Every case in a group is warmed up, given a batch size so that one sample takes about
 * `targetMs`, and then sampled round-robin (the starting case rotates every round) so that load
 * drift on a shared machine hits every case alike. A sample is the mean µs/op of one batch; we
 * report the median and the p95 of those sample means.
 */

/** One thing to time. */
export interface Case {
  /** Row label. */
  name: string;
  /** The operation; `i` is the running op index (for pools). */
  op: (i: number) => unknown;
  /** Untimed setup run before each sample with that sample's batch size (e.g. mint codes). */
  prepare?: (n: number) => Promise<void>;
  /** Fixed batch size (skips calibration). */
  batch?: number;
}

/** Per-case result. */
export interface Timing {
  name: string;
  /** Median µs/op over samples. */
  median: number;
  /** p95 (nearest rank) of the sample means, µs/op. */
  p95: number;
  /** Fastest sample, µs/op. */
  min: number;
  /** Ops per sample. */
  batch: number;
  /** Number of samples. */
  samples: number;
}

/** Options for {@link runGroup}. */
export interface GroupOptions {
  samples?: number;
  targetMs?: number;
  warmupMs?: number;
}

function quantile(sorted: number[], q: number): number {
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[idx];
}

async function runBatch(c: Case, n: number, start: number): Promise<number> {
  if (c.prepare) await c.prepare(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const r = c.op(start + i);
    if (r instanceof Promise) await r;
  }
  return performance.now() - t0;
}

/** Time a group of cases, interleaved. Returns timings in the given order. */
export async function runGroup(cases: Case[], opts: GroupOptions = {}): Promise<Timing[]> {
  const samples = opts.samples ?? 15;
  const targetMs = opts.targetMs ?? 15;
  const warmupMs = opts.warmupMs ?? 150;
  const counters = cases.map(() => 0);
  const batches: number[] = [];
  // Warmup + calibration.
  for (const [k, c] of cases.entries()) {
    if (c.batch !== undefined) {
      counters[k] += c.batch;
      await runBatch(c, c.batch, 0);
      batches.push(c.batch);
      continue;
    }
    let n = 1;
    let ops = 0;
    let spent = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < warmupMs) {
      spent += await runBatch(c, n, counters[k]);
      counters[k] += n;
      ops += n;
      n = Math.min(n * 2, 4096);
    }
    const perOp = spent / ops;
    batches.push(Math.max(1, Math.round(targetMs / perOp)));
  }
  const results: number[][] = cases.map(() => []);
  for (let s = 0; s < samples; s++) {
    for (let j = 0; j < cases.length; j++) {
      const k = (j + s) % cases.length;
      const n = batches[k];
      const ms = await runBatch(cases[k], n, counters[k]);
      counters[k] += n;
      results[k].push((ms * 1000) / n);
    }
  }
  return cases.map((c, k) => {
    const sorted = [...results[k]].sort((a, b) => a - b);
    return {
      name: c.name,
      median: quantile(sorted, 0.5),
      p95: quantile(sorted, 0.95),
      min: sorted[0],
      batch: batches[k],
      samples,
    };
  });
}

/** Median of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Format a µs figure. */
export function us(x: number): string {
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/** Format a ratio. */
export function ratio(x: number): string {
  if (x >= 10) return `${x.toFixed(1)}×`;
  if (x >= 0.1) return `${x.toFixed(2)}×`;
  return `${x.toFixed(3)}×`;
}

/** Markdown table. */
export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** Format ops/s from µs/op (e.g. `12k`). */
export function fmtOps(usPerOp: number): string {
  const ops = 1e6 / usPerOp;
  return ops >= 10000 ? `${Math.round(ops / 1000)}k` : Math.round(ops).toString();
}
