/**
 * Prints the comparisons every bench recorded (bench/lib/summary.ts) as one table: the floors, the fetch
 * adapter on its hosts, HTTP/2 against HTTP/1.1, parallel parts against one stream, two replicas
 * against one. The last step of `npm run bench` (whose first step, `--clear`, forgets earlier runs);
 * `npm run bench:summary` prints it again.
 */
import { clearSummaries, readSummaries } from './lib/summary.ts';

const ORDER = ['http', 'h2', 'uploads', 'replicas'];

const parts = process.argv.includes('--clear') ? (clearSummaries(), undefined) : readSummaries(ORDER);
if (parts === undefined) {
  // `npm run bench` starts here, so the table at its end holds only that run.
} else if (parts.length === 0) {
  console.log('no bench has recorded a summary yet (.bench-fixtures/summary/): run npm run bench');
} else {
  const lines = [
    ['bench (measured)', 'comparison', 'ours', 'against', 'ratio', 'target'],
    ...parts.flatMap((part) =>
      part.rows.map((row) => [
        `${part.bench} (${part.at.slice(0, 16).replace('T', ' ')} UTC)`,
        row.comparison,
        row.ours,
        row.against,
        row.ratio === undefined ? 'n/a' : `${row.ratio.toFixed(2)}x`,
        row.target,
      ]),
    ),
  ];
  const widths = (lines[0] as string[]).map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)));
  const text = (l: readonly string[]): string => `| ${l.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  console.log('\nSummary: the comparisons of this run, one table (ratios of medians measured side by side):\n');
  console.log(text(lines[0] as string[]));
  console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`);
  for (const l of lines.slice(1)) console.log(text(l));
}
