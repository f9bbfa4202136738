/**
 * The first-request cost of `etag: 'digest'`: how long the SHA-256 of a file takes the first time a
 * version of it is asked for (1 MiB and 1 GiB, file in the page cache), what the first HEAD through
 * `rangeServe(root, { etag: 'digest' })` costs against the next one (cached), and the longest
 * event-loop stall while a digest is computed. Under a minute, most of it writing the 1 GiB file;
 * run: npm run bench:digest
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { openFile } from '@range-serve/core';
import { closeRepresentation, createFileDigests } from '@range-serve/core/adapter';
import { rangeServe } from '@range-serve/express';
import express from 'express';

const MiB = 1024 * 1024;
const sizes = [
  { name: '1 MiB', bytes: MiB, rounds: 7 },
  { name: '1 GiB', bytes: 1024 * MiB, rounds: 3 },
];

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'range-serve-digest-bench-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

function writeRandom(file: string, size: number): void {
  const fd = fs.openSync(file, 'w');
  const block = randomBytes(Math.min(size, 16 * MiB));
  for (let written = 0; written < size; written += block.length) {
    fs.writeSync(fd, block, 0, Math.min(block.length, size - written));
  }
  fs.closeSync(fd);
}

/** A new version of the file for the digest cache (its ctime moves), same bytes. */
function touch(file: string, i: number): void {
  const t = 1_700_000_000 + i;
  fs.utimesSync(file, t, t);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const ms = (ns: bigint) => Number(ns) / 1e6;

async function head(url: string): Promise<number> {
  const start = process.hrtime.bigint();
  const res = await fetch(url, { method: 'HEAD' });
  if (res.status !== 200 || res.headers.get('repr-digest') === null) throw new Error(`unexpected ${res.status}`);
  return ms(process.hrtime.bigint() - start);
}

const app = express();
app.use(rangeServe(dir, { etag: 'digest', lastModified: false }));
const server = http.createServer(app);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
// Warm up the server and the HTTP client first, so the first row is not a measure of the JIT.
fs.writeFileSync(path.join(dir, 'warm.txt'), 'warm');
for (let i = 0; i < 50; i++) await head(`${base}/warm.txt`);

console.log(`SHA-256 of a file's content, first request per version (node ${process.version}, ${os.cpus()[0]?.model})`);
console.log('| file | digest alone (median) | throughput | first HEAD | cached HEAD | longest event-loop stall |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const { name, bytes, rounds } of sizes) {
  const file = path.join(dir, `${bytes}.bin`);
  writeRandom(file, bytes);
  const alone: number[] = [];
  const stalls = monitorEventLoopDelay({ resolution: 1 });
  for (let i = 0; i < rounds; i++) {
    touch(file, i);
    const rep = await openFile(file);
    try {
      const start = process.hrtime.bigint();
      stalls.enable();
      await createFileDigests().sha256(rep.fd, rep.stat);
      stalls.disable();
      alone.push(ms(process.hrtime.bigint() - start));
    } finally {
      await closeRepresentation(rep);
    }
  }
  const firsts: number[] = [];
  const cached: number[] = [];
  for (let i = 0; i < rounds; i++) {
    touch(file, 100 + i);
    firsts.push(await head(`${base}/${bytes}.bin`));
    cached.push(await head(`${base}/${bytes}.bin`));
  }
  const t = median(alone);
  console.log(
    `| ${name} | ${t.toFixed(1)} ms | ${(bytes / MiB / (t / 1000)).toFixed(0)} MiB/s | ${median(firsts).toFixed(1)} ms | ` +
      `${median(cached).toFixed(2)} ms | ${(stalls.max / 1e6).toFixed(1)} ms |`,
  );
  fs.rmSync(file);
}
server.close();
