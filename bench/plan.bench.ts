/**
 * Micro-benchmark of planResponse: the pure decision, no I/O. Prints operations per second for each
 * case, the median of several rounds with their spread, so that runs on a noisy machine can be compared.
 * Run: npm run bench:plan
 */
import type { IncomingHttpHeaders } from 'node:http';
import { planResponse } from '@range-serve/core';
import type { RepresentationInfo } from '@range-serve/core/adapter';

const representation: RepresentationInfo = {
  size: 1024 * 1024,
  etag: '"100000-18ea3a67aac453a7-20c108"',
  lastModified: Date.UTC(2026, 0, 1),
  contentType: 'application/octet-stream',
};

const tenRanges = Array.from({ length: 10 }, (_, i) => `${i * 10000}-${i * 10000 + 99}`).join(',');
const cases: { name: string; headers: IncomingHttpHeaders; expect: number }[] = [
  { name: 'single range (bytes=1000-1999)', headers: { range: 'bytes=1000-1999' }, expect: 206 },
  { name: '10-range multipart plan', headers: { range: `bytes=${tenRanges}` }, expect: 206 },
  { name: '304 (If-None-Match matches)', headers: { 'if-none-match': representation.etag }, expect: 304 },
  { name: 'If-Range matches + range', headers: { range: 'bytes=0-99', 'if-range': representation.etag }, expect: 206 },
];

const ROUNDS = 5;
const ROUND_MS = 400;
const now = Date.now();

function round(headers: IncomingHttpHeaders): number {
  const request = { method: 'GET', headers };
  let ops = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ROUND_MS) * 1_000_000n;
  let t = start;
  while (t < deadline) {
    for (let i = 0; i < 1000; i++) planResponse(request, representation, { now });
    ops += 1000;
    t = process.hrtime.bigint();
  }
  return ops / (Number(t - start) / 1e9);
}

const rows: string[][] = [['case', 'ops/s (median)', 'spread (min-max)']];
for (const c of cases) {
  const status = planResponse({ method: 'GET', headers: c.headers }, representation, { now }).status;
  if (status !== c.expect) throw new Error(`${c.name}: expected ${c.expect}, planned ${status}`);
  round(c.headers); // warm-up
  const results = Array.from({ length: ROUNDS }, () => round(c.headers)).sort((a, b) => a - b);
  const median = results[Math.floor(ROUNDS / 2)] as number;
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  rows.push([c.name, fmt(median), `${fmt(results[0] as number)}-${fmt(results[ROUNDS - 1] as number)}`]);
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((cell, i) => cell.padEnd(widths[i]!)).join('  '));
