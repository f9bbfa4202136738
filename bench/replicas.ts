/**
 * Uploads across replicas, measured: 1 GiB (four parallel 256 MiB uploads, fsync-durable) through two
 * replicas on one directory and one Redis against the same through one, and HEAD/s and creations/s
 * of one replica with `redis` against one without. Real redis-server (AOF, `appendfsync always`, as
 * docs/deploying.md asks), replicas as child processes (Express), requests straight to their ports.
 *   npm run build && node --import tsx bench/replicas.ts
 * BENCH_REPLICA_SECONDS (default 3) sets the length of the rate rows.
 */
import { randomFillSync } from 'node:crypto';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  type Completion,
  startRedis,
  startUploadReplica,
  type UploadReplica,
} from '../test/scale-out/upload-cluster.ts';
import { recordSummary } from './lib/summary.ts';

const MiB = 1024 * 1024;
const SECONDS = Number(process.env.BENCH_REPLICA_SECONDS ?? 3);
const TUS = { 'tus-resumable': '1.0.0' };
const CHUNK = randomFillSync(Buffer.alloc(8 * MiB));
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function call(url: string, method: string, headers: http.OutgoingHttpHeaders, body?: () => void | Buffer) {
  return new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res));
    });
    req.on('error', reject);
    if (typeof body === 'function') body.call(req);
    else req.end(body);
  });
}

/** Uploads `size` bytes to `base` in one PATCH of 8 MiB chunks; resolves once answered 204. */
async function uploadOne(base: string, size: number): Promise<void> {
  const created = await call(`${base}/files`, 'POST', { ...TUS, 'upload-length': String(size) });
  const location = new URL(created.headers.location ?? '', base).href;
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request(
      location,
      {
        method: 'PATCH',
        agent,
        headers: {
          ...TUS,
          'content-type': 'application/offset+octet-stream',
          'upload-offset': '0',
          'content-length': size,
        },
      },
      (r) => {
        r.resume();
        r.on('end', () => resolve(r));
      },
    );
    req.on('error', reject);
    let sent = 0;
    const pump = (): void => {
      while (sent < size) {
        const n = Math.min(CHUNK.length, size - sent);
        sent += n;
        if (!req.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
  if (res.statusCode !== 204) throw new Error(`PATCH answered ${res.statusCode}`);
}

/** MB/s of 1 GiB as four parallel uploads spread over `bases` round-robin. */
async function gibThrough(bases: readonly string[]): Promise<number> {
  const started = process.hrtime.bigint();
  await Promise.all([0, 1, 2, 3].map((i) => uploadOne(bases[i % bases.length] as string, 256 * MiB)));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return 1024 / 1.048576 / seconds;
}

/** Requests per second of `make()` with 16 at a time for SECONDS. */
async function rate(make: () => Promise<unknown>): Promise<number> {
  const end = Date.now() + SECONDS * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (Date.now() < end) {
        await make();
        done += 1;
      }
    }),
  );
  return done / SECONDS;
}

async function rates(base: string): Promise<{ head: number; create: number }> {
  const created = await call(`${base}/files`, 'POST', { ...TUS, 'upload-length': '100' });
  const location = new URL(created.headers.location ?? '', base).href;
  const head = await rate(() => call(location, 'HEAD', TUS));
  const create = await rate(() => call(`${base}/files`, 'POST', { ...TUS, 'upload-length': '100' }));
  return { head, create };
}

const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-bench-replicas-'));
const completions: Completion[] = [];
const replicas: UploadReplica[] = [];
const redis = await startRedis(path.join(dir, 'redis'));
try {
  const shared = { redis: redis.url, expiresAfter: false, maxUploads: 1_000_000 };
  for (let i = 0; i < 2; i += 1) {
    replicas.push(await startUploadReplica('express', path.join(dir, 'shared'), shared, completions));
  }
  const single = await startUploadReplica(
    'express',
    path.join(dir, 'single'),
    { expiresAfter: false, maxUploads: 1_000_000 },
    completions,
  );
  replicas.push(single);
  const rows: [string, string][] = [];
  const one = await gibThrough([replicas[0]!.url]);
  const two = await gibThrough([replicas[0]!.url, replicas[1]!.url]);
  rows.push(['1 GiB (4 x 256 MiB) through one replica, redis', `${one.toFixed(0)} MB/s`]);
  rows.push(['1 GiB (4 x 256 MiB) through two replicas, redis', `${two.toFixed(0)} MB/s`]);
  rows.push([
    '1 GiB (4 x 256 MiB) through one process, no redis',
    `${(await gibThrough([single.url])).toFixed(0)} MB/s`,
  ]);
  const withRedis = await rates(replicas[0]!.url);
  const without = await rates(single.url);
  rows.push(['HEAD/s, redis', withRedis.head.toFixed(0)], ['HEAD/s, no redis', without.head.toFixed(0)]);
  rows.push(['creations/s, redis', withRedis.create.toFixed(0)], ['creations/s, no redis', without.create.toFixed(0)]);
  console.log('\nUploads across replicas (Express, redis-server with appendfsync always):\n');
  console.log('| row | result |\n| --- | --- |');
  for (const [label, value] of rows) console.log(`| ${label} | ${value} |`);
  recordSummary('replicas', [
    {
      comparison: '1 GiB (4 x 256 MiB): two replicas on one Redis / one replica',
      ours: `${two.toFixed(0)} MB/s`,
      against: `${one.toFixed(0)} MB/s`,
      ratio: two / one,
      target: 'informational (one machine: shared cores and disk)',
    },
  ]);
} finally {
  for (const replica of replicas) await replica.stop();
  await redis.stop();
  agent.destroy();
  rmSync(dir, { recursive: true, force: true });
}
