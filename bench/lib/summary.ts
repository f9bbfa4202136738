/**
 * The comparisons the benches are judged by, gathered into one table: each bench records its rows in
 * `.bench-fixtures/summary/<bench>.json` when it ends, and `bench/summary.ts` (the last step of `npm run
 * bench`) prints them all together, with the time each was measured.
 */
import fs from 'node:fs';
import path from 'node:path';
import { REPO } from './processes.ts';

export interface SummaryRow {
  /** What is compared, e.g. "Koa 304 against its floor". */
  readonly comparison: string;
  /** The two figures, as printed (rate and unit). */
  readonly ours: string;
  readonly against: string;
  /** ours / against, medians of the same run; undefined when one side failed. */
  readonly ratio: number | undefined;
  /** The target, e.g. ">= 0.9x", or "informational". */
  readonly target: string;
}

const DIR = path.join(REPO, '.bench-fixtures', 'summary');

/** Records `rows` as `bench`'s part of the summary (replacing what an earlier run of it recorded). */
export function recordSummary(bench: string, rows: readonly SummaryRow[]): void {
  if (rows.length === 0) return;
  fs.mkdirSync(DIR, { recursive: true });
  const file = path.join(DIR, `${bench}.json`);
  fs.writeFileSync(file, `${JSON.stringify({ bench, at: new Date().toISOString(), rows }, null, 1)}\n`);
}

/** Forgets every bench's recorded rows. */
export function clearSummaries(): void {
  fs.rmSync(DIR, { recursive: true, force: true });
}

/** Every bench's recorded rows, in the order given (then any other bench, by name). */
export function readSummaries(order: readonly string[]): { bench: string; at: string; rows: SummaryRow[] }[] {
  if (!fs.existsSync(DIR)) return [];
  const all = fs
    .readdirSync(DIR)
    .filter((f) => f.endsWith('.json'))
    .map(
      (f) =>
        JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) as { bench: string; at: string; rows: SummaryRow[] },
    );
  const rank = (b: string): number => (order.includes(b) ? order.indexOf(b) : order.length);
  return all.sort((a, b) => rank(a.bench) - rank(b.bench) || a.bench.localeCompare(b.bench));
}

/** The median of `values` (undefined for none). */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
