/**
 * HTTP/2 against HTTP/1.1 on Koa 3: one server, `http2.createSecureServer({ allowHTTP1: true },
 * app.callback())` with range-serve (bench/servers.ts `rs-koa-h2`), loaded by h2load for both protocols
 * (`--h1` for HTTP/1.1), so the client and the TLS are the same on both sides and only the protocol
 * differs. Rows: a 1000-byte range of 1 MiB with 64 requests in flight (64 connections; and, for HTTP/2,
 * 4 connections of 16 streams each), and a 1 GiB stream on one connection. Every answer is counted by
 * its status class and the body bytes must add up to what the requests asked for.
 *
 * Run: npm run bench:h2 (builds first). Environment: BENCH_QUICK=1 (1 round, 1 s), BENCH_ROUNDS (3),
 * BENCH_SECONDS (2, for the range rows), BENCH_H2_ROWS=range-64,range-mux,stream to narrow.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BENCH, freePort, h2load, has, PIN, REPO, startServer, stop } from './lib/processes.ts';
import { median, recordSummary } from './lib/summary.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 3));
const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 1 : 2));
const FIXTURES = path.join(REPO, '.bench-fixtures');
const GiB = 1024 ** 3;

interface Side {
  /** h2load's arguments for this protocol, before the URL. */
  readonly args: readonly string[];
  readonly label: string;
}

interface Row {
  readonly id: string;
  readonly label: string;
  readonly unit: 'req/s' | 'MB/s';
  readonly file: string;
  readonly headers: Record<string, string>;
  /** Body bytes of one answer. */
  readonly bodyBytes: number;
  readonly h1: Side;
  readonly h2: Side;
}

const RANGE = { range: 'bytes=1000-1999' };
const duration = (): string[] => ['-D', String(SECONDS), '--warm-up-time=500ms'];

const ALL_ROWS: readonly Row[] = [
  {
    id: 'range-64',
    label: 'bytes=1000-1999 of 1 MiB, 64 in flight, one per connection',
    unit: 'req/s',
    file: '1m.bin',
    headers: RANGE,
    bodyBytes: 1000,
    h1: { args: ['--h1', '-c', '64', ...duration()], label: '64 connections' },
    h2: { args: ['-c', '64', '-m', '1', ...duration()], label: '64 connections, 1 stream each' },
  },
  {
    id: 'range-mux',
    label: 'bytes=1000-1999 of 1 MiB, 64 in flight, h2 multiplexed',
    unit: 'req/s',
    file: '1m.bin',
    headers: RANGE,
    bodyBytes: 1000,
    h1: { args: ['--h1', '-c', '64', ...duration()], label: '64 connections' },
    h2: { args: ['-c', '4', '-m', '16', ...duration()], label: '4 connections x 16 streams' },
  },
  {
    id: 'stream',
    label: '1 GiB, 1 connection, 2 in turn',
    unit: 'MB/s',
    file: '1g.bin',
    headers: {},
    bodyBytes: GiB,
    h1: { args: ['--h1', '-c', '1', '-n', '2'], label: '1 connection' },
    h2: { args: ['-c', '1', '-m', '1', '-n', '2'], label: '1 connection, 1 stream' },
  },
];
const ROWS = ALL_ROWS.filter((row) => process.env.BENCH_H2_ROWS?.split(',').includes(row.id) ?? true);

/** One h2load run of `side` on `row`; the rate, after checking every answer's class and the bytes. */
async function measure(port: number, row: Row, side: Side): Promise<number> {
  const headerArgs = Object.entries(row.headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
  const s = await h2load([...side.args, ...headerArgs, `https://127.0.0.1:${port}/${row.file}`]);
  const others = Object.entries(s.statuses).filter(([k]) => k !== '2xx');
  if (s.failed > 0 || others.some(([, n]) => n > 0)) {
    throw new Error(`${s.failed} failed, statuses ${JSON.stringify(s.statuses)}`);
  }
  // h2load's `data` counts the body bytes of every answer, warm-up included, while a timed run (-D)
  // counts only the answers of its main phase: there every answer must still be whole.
  const timed = side.args.includes('-D');
  const whole = timed
    ? s.dataBytes % row.bodyBytes === 0 && s.dataBytes >= s.succeeded * row.bodyBytes
    : s.dataBytes === s.succeeded * row.bodyBytes;
  if (!whole) throw new Error(`${s.dataBytes} bytes of body for ${s.succeeded} answers of ${row.bodyBytes}`);
  if (row.unit === 'req/s') return timed ? s.requestsPerSecond : s.succeeded / s.seconds;
  return s.dataBytes / s.seconds / 1e6;
}

function fmt(values: readonly number[], unit: Row['unit']): string {
  const m = median(values);
  if (m === undefined) return 'failed';
  const spread =
    values.length > 1 ? ` ±${Math.round(((Math.max(...values) - Math.min(...values)) / 2 / m) * 100)}%` : '';
  const text = unit === 'MB/s' ? `${m.toFixed(0)} MB/s` : m >= 1000 ? `${(m / 1000).toFixed(2)}k` : m.toFixed(0);
  return `${text}${spread}`;
}

/** The median of `a` over the median of `b`. */
function ratioOf(a: readonly number[], b: readonly number[]): number | undefined {
  const ma = median(a);
  const mb = median(b);
  return ma === undefined || mb === undefined || mb === 0 ? undefined : ma / mb;
}

/** The targets bench/README.md explains ("HTTP/2 against HTTP/1.1"). */
const TARGETS: Record<string, string> = { 'range-mux': '>= 0.8x' };

async function main(): Promise<void> {
  if (!has('h2load')) throw new Error('h2load is required (apt-get install nghttp2-client)');
  for (const row of ROWS) {
    const size = fs.existsSync(path.join(FIXTURES, row.file)) ? fs.statSync(path.join(FIXTURES, row.file)).size : -1;
    if (size !== (row.file === '1g.bin' ? GiB : 1024 ** 2)) {
      throw new Error(`.bench-fixtures/${row.file} is missing: run npm run bench:http once first`);
    }
  }
  const port = await freePort();
  const argv = [
    process.execPath,
    '--import',
    'tsx',
    path.join(BENCH, 'servers.ts'),
    'rs-koa-h2',
    String(port),
    FIXTURES,
  ];
  const { child } = await startServer({ name: 'rs-koa-h2', argv, ready: port });
  console.log(
    `h2 bench: Koa 3 + range-serve on http2.createSecureServer({ allowHTTP1: true }), h2load for both protocols; ${ROUNDS} round(s), ${SECONDS} s per range cell; ${PIN ? 'h2load on cpu 0, server on cpu 1' : 'unpinned'}`,
  );
  const results = new Map<string, number[]>();
  const failures: string[] = [];
  try {
    // A discarded pass of each protocol first, so the first cell measured does not pay for the JIT.
    const warm = ROWS.find((row) => row.unit === 'req/s');
    if (warm !== undefined) for (const side of [warm.h1, warm.h2]) await measure(port, warm, side).catch(() => 0);
    for (let round = 0; round < ROUNDS; round++) {
      for (const row of ROWS) {
        // Both protocols back to back in every round, the first one turned each round.
        const sides = round % 2 === 0 ? (['h1', 'h2'] as const) : (['h2', 'h1'] as const);
        for (const which of sides) {
          const key = `${row.id}/${which}`;
          try {
            const value = await measure(port, row, row[which]);
            results.set(key, [...(results.get(key) ?? []), value]);
            console.log(`  round ${round + 1} ${row.id} ${which}: ${fmt([value], row.unit)}`);
          } catch (err) {
            failures.push(`${row.id} over ${which}: ${(err as Error).message}`);
          }
        }
      }
    }
  } finally {
    await stop(child);
  }
  console.log('\nHTTP/2 against HTTP/1.1, Koa 3 + range-serve, one TLS server (h2load; median ± half the spread):\n');
  const lines = [
    ['workload', 'HTTP/1.1', 'HTTP/2', 'h2 / h1', 'per round (h1 ; h2)'],
    ...ROWS.map((row) => {
      const h1 = results.get(`${row.id}/h1`) ?? [];
      const h2 = results.get(`${row.id}/h2`) ?? [];
      const r = ratioOf(h2, h1);
      const ratio = r === undefined ? 'n/a' : `${r.toFixed(2)}x`;
      const rounds = `${h1.map((v) => fmt([v], row.unit)).join(' / ')} ; ${h2.map((v) => fmt([v], row.unit)).join(' / ')}`;
      return [
        `${row.label} [h1: ${row.h1.label}; h2: ${row.h2.label}]`,
        fmt(h1, row.unit),
        fmt(h2, row.unit),
        ratio,
        rounds,
      ];
    }),
  ];
  const widths = (lines[0] as string[]).map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)));
  const rowText = (l: readonly string[]): string => `| ${l.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  console.log(rowText(lines[0] as string[]));
  console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`);
  for (const l of lines.slice(1)) console.log(rowText(l));
  recordSummary(
    'h2',
    ROWS.map((row) => {
      const h1 = results.get(`${row.id}/h1`) ?? [];
      const h2 = results.get(`${row.id}/h2`) ?? [];
      return {
        comparison: `Koa, ${row.label}: HTTP/2 (${row.h2.label}) / HTTP/1.1 (${row.h1.label})`,
        ours: fmt(h2, row.unit),
        against: fmt(h1, row.unit),
        ratio: ratioOf(h2, h1),
        target: TARGETS[row.id] ?? 'informational',
      };
    }),
  );
  if (failures.length > 0) {
    console.log(`\nFailures:\n${failures.map((f) => `- ${f}`).join('\n')}`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
