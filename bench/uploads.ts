/**
 * Side-by-side upload benchmark: range-serve's resumable uploads (Express, Koa, plain node:http, Hono
 * with the fetch adapter) against @tus/server with @tus/file-store, all speaking tus 1.0.0 into a
 * directory on the same file system. Rows: MB/s for 1 GiB in one PATCH, in 8 MiB PATCHes and in four
 * parallel partial uploads concatenated (tus concatenation, as tus-js-client's `parallelUploads: 4`
 * sends it), the time from the final upload's POST to its 201 (downloadable), creations per second,
 * HEADs per second, plus what the disk itself sustains with an fsync (the ceiling of any durable
 * upload). Each server is a child process pinned to one core, the clients run on the other; each round
 * visits every server in turn, and every upload is checked (final offset, stored bytes) before its time
 * counts.
 *
 * Run: npm run bench:uploads (builds first). Environment: BENCH_QUICK=1 (one round), UPLOAD_BENCH_ROUNDS
 * (default 3), UPLOAD_BENCH_SECONDS (default 3, for the rate rows), UPLOAD_BENCH_SERVERS=a,b,
 * UPLOAD_BENCH_ROWS=one-patch,chunked,parallel,finalize,create,head. See bench/README.md, "Uploads".
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { median as medianOf, recordSummary } from './lib/summary.ts';
import { BENCH as HERE, freePort, PIN, startServer, stop as stopChild, wrk } from './lib/processes.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const ROUNDS = Number(process.env.UPLOAD_BENCH_ROUNDS ?? (QUICK ? 1 : 3));
const SECONDS = Number(process.env.UPLOAD_BENCH_SECONDS ?? (QUICK ? 2 : 3));
const only = (name: string): string[] | undefined => process.env[name]?.split(',').filter(Boolean);

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const UPLOAD = GiB;
const CHUNK = 8 * MiB;
/** Parts of the parallel rows (tus-js-client's `parallelUploads`). */
const PARTS = 4;
const CONNECTIONS = 16;
const TUS = { 'tus-resumable': '1.0.0' } as const;
const PATCH = { ...TUS, 'content-type': 'application/offset+octet-stream' } as const;

const SERVERS = ['rs-express', 'rs-koa', 'rs-node', 'rs-hono', 'tus-server'].filter(
  (s) => only('UPLOAD_BENCH_SERVERS')?.includes(s) ?? true,
);
const PEER = 'tus-server';

interface Row {
  readonly id: string;
  readonly label: string;
  readonly unit: 'MB/s' | 'req/s' | 'ms';
  /** Only these servers (the others have no such feature: @tus/file-store does not concatenate). */
  readonly only?: readonly string[];
  /** One measurement against the server on `port` with its upload directory; returns the rate. */
  readonly run: (port: number, directory: string, check: boolean) => Promise<number>;
}

const ALL_ROWS: readonly Row[] = [
  { id: 'one-patch', label: '1 GiB in one PATCH', unit: 'MB/s', run: (p, d, c) => upload(p, d, UPLOAD, c) },
  { id: 'chunked', label: '1 GiB in 8 MiB PATCHes', unit: 'MB/s', run: (p, d, c) => upload(p, d, CHUNK, c) },
  {
    id: 'parallel',
    label: `1 GiB in ${PARTS} parallel parts, concatenated`,
    unit: 'MB/s',
    only: ['rs-express', 'rs-koa', 'rs-node', 'rs-hono'],
    run: (p, d, c) => fromParallel('parallel', p, d, c),
  },
  {
    id: 'finalize',
    label: `final POST to 201 (downloadable), 1 GiB of ${PARTS} parts`,
    unit: 'ms',
    only: ['rs-express', 'rs-koa', 'rs-node', 'rs-hono'],
    run: (p, d, c) => fromParallel('finalize', p, d, c),
  },
  {
    id: 'final-digest',
    label: `final POST to Repr-Digest known, 1 GiB of ${PARTS} parts`,
    unit: 'ms',
    only: ['rs-express', 'rs-koa', 'rs-node', 'rs-hono'],
    run: (p, d, c) => fromParallel('final-digest', p, d, c),
  },
  { id: 'create', label: `creations (POST), ${CONNECTIONS} connections`, unit: 'req/s', run: (p) => creations(p) },
  { id: 'head', label: `HEAD (offset), ${CONNECTIONS} connections`, unit: 'req/s', run: (p) => heads(p) },
];
const ROWS = ALL_ROWS.filter((r) => only('UPLOAD_BENCH_ROWS')?.includes(r.id) ?? true);

// ---------------------------------------------------------------------------------------------------
// Processes

interface Running {
  readonly name: string;
  readonly port: number;
  readonly directory: string;
  readonly child: ChildProcess;
}

async function start(name: string, directory: string): Promise<Running> {
  const port = await freePort();
  fs.mkdirSync(directory, { recursive: true });
  const argv = [
    process.execPath,
    '--import',
    'tsx',
    path.join(HERE, 'upload-servers.ts'),
    name,
    String(port),
    directory,
  ];
  const { child } = await startServer({ name, argv, ready: 'stdout' });
  return { name, port, directory, child };
}

function stop(running: Running): Promise<void> {
  return stopChild(running.child);
}

/** Removes every upload the server stored. */
function wipe(directory: string): void {
  for (const name of fs.readdirSync(directory)) fs.rmSync(path.join(directory, name), { recursive: true, force: true });
}

/**
 * Before each measurement: the directory empty and the disk idle (sync(1) writes back whatever is
 * dirty, ours or anyone's), so no server pays for the write-back of a peer that does not fsync.
 */
function settle(directory: string): void {
  wipe(directory);
  spawnSync('sync', { stdio: 'ignore' });
}

// ---------------------------------------------------------------------------------------------------
// Clients

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
}

function request(
  agent: http.Agent,
  port: number,
  method: string,
  target: string,
  headers: http.OutgoingHttpHeaders,
  body?: (req: http.ClientRequest) => void,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body === undefined) req.end();
    else body(req);
  });
}

/** The bytes uploaded: one random 8 MiB block, repeated (random so that nothing can compress it). */
const BLOCK = randomFillSync(Buffer.alloc(CHUNK));

/** Writes `length` bytes of the repeated block into `req`, with backpressure, then ends it. */
function stream(req: http.ClientRequest, length: number): void {
  let sent = 0;
  const more = (): void => {
    while (sent < length) {
      const n = Math.min(BLOCK.length, length - sent);
      sent += n;
      if (!req.write(n === BLOCK.length ? BLOCK : BLOCK.subarray(0, n))) return void req.once('drain', more);
    }
    req.end();
  };
  more();
}

async function create(agent: http.Agent, port: number, length: number): Promise<string> {
  const created = await request(agent, port, 'POST', '/files', { ...TUS, 'upload-length': String(length) });
  const location = created.headers.location;
  if (created.status !== 201 || location === undefined) throw new Error(`creation answered ${created.status}`);
  return new URL(location, 'http://127.0.0.1').pathname;
}

/** Uploads UPLOAD bytes in PATCHes of `each`; MB/s from the first PATCH to the last answer. */
async function upload(port: number, directory: string, each: number, check: boolean): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const location = await create(agent, port, UPLOAD);
    const started = process.hrtime.bigint();
    let offset = 0;
    while (offset < UPLOAD) {
      const n = Math.min(each, UPLOAD - offset);
      const res = await request(
        agent,
        port,
        'PATCH',
        location,
        { ...PATCH, 'upload-offset': String(offset), 'content-length': String(n) },
        (req) => stream(req, n),
      );
      if (res.status !== 204 || res.headers['upload-offset'] !== String(offset + n)) {
        throw new Error(`PATCH at ${offset} answered ${res.status}, Upload-Offset ${res.headers['upload-offset']}`);
      }
      offset += n;
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (check) verifyStored(directory, location);
    wipe(directory);
    return UPLOAD / 1e6 / seconds;
  } finally {
    agent.destroy();
  }
}

/** The figures of the last parallel upload on each port that no row has taken yet: `${row}/${port}` -> value. */
const parallelFigures = new Map<string, number>();

/**
 * The figure of row `id` (`parallel`, `finalize`, `final-digest`) for the server on `port`: one parallel
 * upload gives all three, so the three rows of a round cost one upload of 1 GiB, not three.
 */
async function fromParallel(id: string, port: number, directory: string, check: boolean): Promise<number> {
  const key = `${id}/${port}`;
  if (!parallelFigures.has(key)) {
    const times = await parallel(port, directory, check);
    parallelFigures.set(`parallel/${port}`, UPLOAD / 1e6 / (times.total / 1e3));
    parallelFigures.set(`finalize/${port}`, times.finalize);
    parallelFigures.set(`final-digest/${port}`, times.digested);
  }
  const value = parallelFigures.get(key) as number;
  parallelFigures.delete(key);
  return value;
}

/**
 * UPLOAD bytes as PARTS partial uploads sent at once on their own connections (each one PATCH), then
 * the final upload made of them: total ms from the first POST to the final's 201, and the final POST's
 * own ms (the time from "every part is in" to "downloadable").
 */
async function parallel(
  port: number,
  directory: string,
  check: boolean,
): Promise<{ total: number; finalize: number; digested: number }> {
  const size = UPLOAD / PARTS;
  const agents = Array.from({ length: PARTS }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  try {
    const started = process.hrtime.bigint();
    const locations = await Promise.all(
      agents.map(async (agent) => {
        const created = await request(agent, port, 'POST', '/files', {
          ...TUS,
          'upload-concat': 'partial',
          'upload-length': String(size),
        });
        const location = created.headers.location;
        if (created.status !== 201 || location === undefined)
          throw new Error(`partial creation answered ${created.status}`);
        const target = new URL(location, 'http://127.0.0.1').pathname;
        const res = await request(
          agent,
          port,
          'PATCH',
          target,
          { ...PATCH, 'upload-offset': '0', 'content-length': String(size) },
          (req) => stream(req, size),
        );
        if (res.status !== 204 || res.headers['upload-offset'] !== String(size)) {
          throw new Error(`part PATCH answered ${res.status}, Upload-Offset ${res.headers['upload-offset']}`);
        }
        return target;
      }),
    );
    const finalStarted = process.hrtime.bigint();
    const final = await request(agents[0] as http.Agent, port, 'POST', '/files', {
      ...TUS,
      'upload-concat': `final;${locations.join(' ')}`,
    });
    const ended = process.hrtime.bigint();
    if (final.status !== 201 || final.headers['upload-offset'] !== String(UPLOAD)) {
      throw new Error(`final creation answered ${final.status}, Upload-Offset ${final.headers['upload-offset']}`);
    }
    // The final's SHA-256 is taken after its 201, in the background: poll HEAD until Repr-Digest shows
    // (after the two times above were taken, so the polling costs them nothing).
    const target = new URL(final.headers.location ?? '', 'http://127.0.0.1').pathname;
    for (;;) {
      const head = await request(agents[1] as http.Agent, port, 'HEAD', target, {});
      if (head.headers['repr-digest'] !== undefined) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const digested = Number(process.hrtime.bigint() - finalStarted) / 1e6;
    if (check) verifyParts(directory, path.basename(final.headers.location ?? ''));
    wipe(directory);
    return { total: Number(ended - started) / 1e6, finalize: Number(ended - finalStarted) / 1e6, digested };
  } finally {
    for (const agent of agents) agent.destroy();
  }
}

/** The final upload's part files hold exactly the bytes sent, in order. */
function verifyParts(directory: string, id: string): void {
  const scratch = Buffer.alloc(BLOCK.length);
  for (let part = 0; part < PARTS; part++) {
    const file = path.join(directory, `${id}.${part}`);
    const fd = fs.openSync(file, 'r');
    try {
      if (fs.fstatSync(fd).size !== UPLOAD / PARTS) throw new Error(`${file}: ${fs.fstatSync(fd).size} bytes`);
      for (let at = 0; at < UPLOAD / PARTS; at += BLOCK.length) {
        const n = fs.readSync(fd, scratch, 0, BLOCK.length, at);
        if (n !== BLOCK.length || !scratch.equals(BLOCK)) throw new Error(`${file}: wrong bytes at ${at}`);
      }
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** The stored file holds exactly the bytes sent. */
function verifyStored(directory: string, location: string): void {
  const file = path.join(directory, path.basename(location));
  const fd = fs.openSync(file, 'r');
  try {
    if (fs.fstatSync(fd).size !== UPLOAD) throw new Error(`${file}: ${fs.fstatSync(fd).size} bytes stored`);
    const scratch = Buffer.alloc(BLOCK.length);
    for (let at = 0; at < UPLOAD; at += BLOCK.length) {
      const n = fs.readSync(fd, scratch, 0, BLOCK.length, at);
      if (n !== BLOCK.length || !scratch.equals(BLOCK)) throw new Error(`${file}: wrong bytes at ${at}`);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Creations per second: wrk with POST requests over CONNECTIONS connections. */
async function creations(port: number): Promise<number> {
  const r = await wrk({
    url: `http://127.0.0.1:${port}/files`,
    connections: CONNECTIONS,
    seconds: SECONDS,
    script: path.join(HERE, 'upload-create.lua'),
  });
  if (r.status_errors > 0) throw new Error(`${r.status_errors} creations were refused`);
  return r.requests / (r.duration_us / 1e6);
}

/**
 * HEADs per second over CONNECTIONS keep-alive sockets, one request in flight on each. wrk cannot
 * read HEAD answers, so this client writes raw requests and counts the answers' header blocks (a HEAD
 * answer has no body), checking each status line.
 */
async function heads(port: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const location = await create(agent, port, 1024);
  const probe = await request(agent, port, 'HEAD', location, TUS);
  agent.destroy();
  if (probe.status !== 200 || probe.headers['upload-offset'] !== '0') throw new Error(`HEAD answered ${probe.status}`);
  const raw = Buffer.from(`HEAD ${location} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n\r\n`);
  const deadline = Date.now() + SECONDS * 1000;
  let answered = 0;
  let wrong = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from(
      { length: CONNECTIONS },
      () =>
        new Promise<void>((resolve, reject) => {
          const socket = net.connect(port, '127.0.0.1');
          let pending: Buffer = Buffer.alloc(0);
          socket.on('error', reject);
          socket.on('connect', () => socket.write(raw));
          socket.on('data', (chunk: Buffer) => {
            pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
            let end: number;
            while ((end = pending.indexOf('\r\n\r\n')) >= 0) {
              if (!pending.subarray(0, 13).equals(Buffer.from('HTTP/1.1 200 '))) wrong++;
              answered++;
              pending = pending.subarray(end + 4);
              if (Date.now() < deadline) socket.write(raw);
              else return void socket.end(() => resolve());
            }
          });
        }),
    ),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (wrong > 0) throw new Error(`${wrong} HEADs answered other than 200`);
  return answered / seconds;
}

/** What the disk sustains: 1 GiB written in 8 MiB steps, each followed by an fdatasync, and with one at the end. */
function diskCeiling(directory: string): { perChunk: number; once: number } {
  const file = path.join(directory, 'disk-probe');
  const fd = fs.openSync(file, 'w');
  try {
    const time = (syncEach: boolean): number => {
      const started = process.hrtime.bigint();
      for (let at = 0; at < UPLOAD; at += BLOCK.length) {
        fs.writeSync(fd, BLOCK, 0, BLOCK.length, at);
        if (syncEach) fs.fdatasyncSync(fd);
      }
      fs.fdatasyncSync(fd);
      return UPLOAD / 1e6 / (Number(process.hrtime.bigint() - started) / 1e9);
    };
    const perChunk = time(true);
    fs.ftruncateSync(fd, 0);
    const once = time(false);
    return { perChunk, once };
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------------
// Report

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function rate(value: number, unit: Row['unit']): string {
  if (unit === 'MB/s') return `${Math.round(value).toLocaleString('en-US')} MB/s`;
  if (unit === 'ms') return `${value.toFixed(1)} ms`;
  return value >= 10_000
    ? `${(value / 1000).toFixed(1)}k`
    : value >= 1000
      ? `${(value / 1000).toFixed(2)}k`
      : value.toFixed(0);
}

function cell(values: readonly number[], unit: Row['unit']): string {
  if (values.length === 0) return 'n/a';
  const m = median(values);
  const spread = values.length > 1 ? ((Math.max(...values) - Math.min(...values)) / 2 / m) * 100 : 0;
  return values.length > 1 ? `${rate(m, unit)} ±${spread.toFixed(0)}%` : rate(m, unit);
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'range-serve-upload-bench-'));
  const results = new Map<string, number[]>(); // `${row}/${server}` -> rates
  const failures: string[] = [];
  console.log(
    `upload bench: ${SERVERS.join(', ')}; ${ROUNDS} round(s), ${SECONDS} s per rate cell, servers on cpu 1, clients on cpu 0${PIN ? '' : ' (not pinned)'}`,
  );
  console.log(`directory ${root} (${spawnSync('df', ['-T', root], { encoding: 'utf8' }).stdout.split('\n')[1] ?? ''})`);
  const ceilings: { perChunk: number; once: number }[] = [];
  try {
    const running: Running[] = [];
    for (const name of SERVERS) running.push(await start(name, path.join(root, name)));
    try {
      for (let round = 0; round < ROUNDS; round++) {
        ceilings.push(diskCeiling(root));
        for (const [r, row] of ROWS.entries()) {
          // The order turns every row and round, so no server always follows the same one.
          const shift = (round + r) % running.length;
          for (const server of [...running.slice(shift), ...running.slice(0, shift)]) {
            if (row.only !== undefined && !row.only.includes(server.name)) continue;
            settle(server.directory);
            const key = `${row.id}/${server.name}`;
            try {
              const value = await row.run(server.port, server.directory, round === 0);
              results.set(key, [...(results.get(key) ?? []), value]);
              console.log(`  round ${round + 1} ${row.id} ${server.name}: ${rate(value, row.unit)}`);
            } catch (err) {
              failures.push(`${server.name} on ${row.id}: ${(err as Error).message}`);
              console.log(`  round ${round + 1} ${row.id} ${server.name}: FAILED ${(err as Error).message}`);
            }
            wipe(server.directory);
          }
        }
      }
    } finally {
      for (const server of running) await stop(server);
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }

  console.log('\nUploads (tus 1.0.0), median of the rounds ± half the spread:\n');
  console.log(
    table(
      ['row', ...SERVERS],
      ROWS.map((row) => [row.label, ...SERVERS.map((s) => cell(results.get(`${row.id}/${s}`) ?? [], row.unit))]),
    ),
  );
  if (SERVERS.includes(PEER)) {
    const ours = SERVERS.filter((s) => s !== PEER);
    console.log(`\nRatios (ours / ${PEER}, medians of this run):\n`);
    console.log(
      table(
        ['row', ...ours.map((s) => `${s} / ${PEER}`)],
        ROWS.map((row) => {
          const peer = results.get(`${row.id}/${PEER}`) ?? [];
          return [
            row.label,
            ...ours.map((s) => {
              const mine = results.get(`${row.id}/${s}`) ?? [];
              return mine.length === 0 || peer.length === 0 ? 'n/a' : `${(median(mine) / median(peer)).toFixed(2)}x`;
            }),
          ];
        }),
      ),
    );
  }
  // Parallel parts against one stream, per server, for bench/summary.ts.
  recordSummary(
    'uploads',
    SERVERS.flatMap((server) => {
      const parts = results.get(`parallel/${server}`) ?? [];
      const one = results.get(`one-patch/${server}`) ?? [];
      if (parts.length === 0 || one.length === 0) return [];
      const a = medianOf(parts) as number;
      const b = medianOf(one) as number;
      return [
        {
          comparison: `${server}: 1 GiB in ${PARTS} parallel parts, concatenated / in one PATCH`,
          ours: rate(a, 'MB/s'),
          against: rate(b, 'MB/s'),
          ratio: a / b,
          target: 'informational (fsync-bound disk)',
        },
      ];
    }),
  );
  console.log(
    `\nThe disk (same directory, this process): 1 GiB with an fdatasync after every 8 MiB ${cell(
      ceilings.map((c) => c.perChunk),
      'MB/s',
    )}; with one fdatasync at the end ${cell(
      ceilings.map((c) => c.once),
      'MB/s',
    )}. @tus/server does not fsync; range-serve acknowledges no offset before its bytes are fsynced.`,
  );
  if (failures.length > 0) {
    console.log(`\nFailures:\n${failures.map((f) => `- ${f}`).join('\n')}`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
