/**
 * Side-by-side HTTP benchmark: range-serve (Express, Koa, plain node:http) against express.static,
 * koa-static, @fastify/static and nginx, on the same generated fixtures, loaded in turn by wrk.
 * Each server is a child process pinned to one core, wrk to another; every cell is first probed for
 * its status and exact bytes, so a server that answers wrongly is marked rather than rewarded.
 *
 * Run: npm run bench (builds first). Environment: BENCH_QUICK=1 (1 round of 1 s), BENCH_SECONDS,
 * BENCH_ROUNDS, BENCH_SERVERS=a,b and BENCH_WORKLOADS=x,y to narrow a run (BENCH_WORKLOADS=br-get,br-range
 * runs only the precompressed-variant rows). See bench/README.md.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { findRuntime } from '../test/helpers/runtimes.ts';
import { median as medianOf, recordSummary, type SummaryRow } from './lib/summary.ts';
import { BENCH as HERE, freePort, has, PIN, REPO, sleep, startServer, stop, wrk as runWrk } from './lib/processes.ts';

const FIXTURES = path.join(REPO, '.bench-fixtures');
const QUICK = process.env.BENCH_QUICK === '1';
const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 1 : 2));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 3));
const only = (name: string): string[] | undefined => process.env[name]?.split(',').filter(Boolean);

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const FILES = { '4k.bin': 4 * KiB, '1m.bin': MiB, '1g.bin': GiB, '1m.txt': MiB } as const;
type FileName = keyof typeof FILES;

// ---------------------------------------------------------------------------------------------------
// Workloads

interface Validators {
  etag?: string | undefined;
  lastModified?: string | undefined;
}

type Expect =
  | { readonly status: 200 }
  | { readonly status: 206; readonly ranges: readonly (readonly [number, number])[] }
  | { readonly status: 304 };

interface Workload {
  readonly id: string;
  readonly label: string;
  readonly file: FileName;
  readonly connections: number;
  readonly unit: 'req/s' | 'MB/s';
  readonly expect: Expect;
  /** Request headers, given the validators this server sent for the file. */
  readonly headers: (v: Validators) => Record<string, string>;
  /** The shortest round for this row, in seconds (slow requests need longer to be counted). */
  readonly minSeconds?: number;
  /** A real-stack row: run only by the servers of a stack (see STACKS), not by the main columns. */
  readonly stack?: true;
}

const M = FILES['1m.bin'];
const SMALL_CONNECTIONS = 64;
const WORKLOADS: readonly Workload[] = [
  {
    id: 'get-4k',
    label: 'GET 4 KiB',
    file: '4k.bin',
    connections: SMALL_CONNECTIONS,
    unit: 'req/s',
    expect: { status: 200 },
    headers: () => ({}),
  },
  {
    id: 'range',
    label: 'bytes=1000-1999 of 1 MiB',
    file: '1m.bin',
    connections: SMALL_CONNECTIONS,
    unit: 'req/s',
    expect: { status: 206, ranges: [[1000, 1999]] },
    headers: () => ({ range: 'bytes=1000-1999' }),
  },
  {
    id: 'suffix',
    label: 'bytes=-500 of 1 MiB',
    file: '1m.bin',
    connections: SMALL_CONNECTIONS,
    unit: 'req/s',
    expect: { status: 206, ranges: [[M - 500, M - 1]] },
    headers: () => ({ range: 'bytes=-500' }),
  },
  {
    id: 'multi',
    label: '3 ranges of 1 MiB (multipart)',
    file: '1m.bin',
    connections: SMALL_CONNECTIONS,
    unit: 'req/s',
    expect: {
      status: 206,
      ranges: [
        [0, 99],
        [1000, 1099],
        [5000, 5999],
      ],
    },
    headers: () => ({ range: 'bytes=0-99,1000-1099,5000-5999' }),
  },
  {
    id: 'stream-c1',
    label: '1 GiB, 1 connection',
    file: '1g.bin',
    connections: 1,
    unit: 'MB/s',
    expect: { status: 200 },
    headers: () => ({}),
  },
  {
    id: 'stream-c4',
    label: '1 GiB, 4 connections',
    file: '1g.bin',
    connections: 4,
    unit: 'MB/s',
    expect: { status: 200 },
    headers: () => ({}),
  },
  {
    id: 'open-range',
    label: 'bytes=536870912- of 1 GiB',
    file: '1g.bin',
    connections: 1,
    unit: 'MB/s',
    expect: { status: 206, ranges: [[GiB / 2, GiB - 1]] },
    headers: () => ({ range: `bytes=${GiB / 2}-` }),
  },
  {
    id: '304',
    label: 'If-None-Match matches (304)',
    file: '4k.bin',
    connections: SMALL_CONNECTIONS,
    unit: 'req/s',
    expect: { status: 304 },
    headers: (v): Record<string, string> =>
      v.etag !== undefined
        ? { 'if-none-match': v.etag }
        : v.lastModified !== undefined
          ? { 'if-modified-since': v.lastModified }
          : {},
  },
  {
    id: 'if-range',
    label: 'If-Range matches + range',
    file: '1m.bin',
    connections: SMALL_CONNECTIONS,
    unit: 'req/s',
    expect: { status: 206, ranges: [[1000, 1999]] },
    headers: (v): Record<string, string> => {
      const validator = v.etag ?? v.lastModified;
      return validator === undefined
        ? { range: 'bytes=1000-1999' }
        : { range: 'bytes=1000-1999', 'if-range': validator };
    },
  },
];

// Real stacks: the rows run by the servers of STACKS, each against the peer in the same stack.
const BROWSER_ACCEPT_ENCODING = 'gzip, deflate, br, zstd';
const STACK_WORKLOADS: readonly Workload[] = [
  {
    id: 'text-1m',
    label: 'GET 1 MiB text, browser Accept-Encoding',
    file: '1m.txt',
    // Compressing 1 MiB takes tens of milliseconds: 64 connections would finish nothing in a round.
    connections: 4,
    minSeconds: 4,
    unit: 'req/s',
    expect: { status: 200 },
    headers: () => ({ 'accept-encoding': BROWSER_ACCEPT_ENCODING }),
    stack: true,
  },
  {
    id: 'text-range',
    label: 'bytes=1000-1999 of 1 MiB text, same',
    file: '1m.txt',
    connections: SMALL_CONNECTIONS,
    unit: 'req/s',
    expect: { status: 206, ranges: [[1000, 1999]] },
    headers: () => ({ 'accept-encoding': BROWSER_ACCEPT_ENCODING, range: 'bytes=1000-1999' }),
    stack: true,
  },
  {
    id: 'stack-4k',
    label: 'GET 4 KiB',
    file: '4k.bin',
    connections: SMALL_CONNECTIONS,
    unit: 'req/s',
    expect: { status: 200 },
    headers: () => ({ 'accept-encoding': BROWSER_ACCEPT_ENCODING }),
    stack: true,
  },
];

// ---------------------------------------------------------------------------------------------------
// Servers

/** A real stack: [ours, peer] behind the same middleware, and the rows they run. */
interface Stack {
  readonly label: string;
  readonly ours: string;
  readonly peer: string;
  readonly workloads: readonly string[];
}

const STACKS: readonly Stack[] = [
  {
    label: 'Express + compression()',
    ours: 'rs-express+compression',
    peer: 'express.static+compression',
    workloads: ['text-1m', 'text-range'],
  },
  {
    label: 'Koa + koa-compress',
    ours: 'rs-koa+compress',
    peer: 'koa-static+compress',
    workloads: ['text-1m', 'text-range'],
  },
  {
    label: 'Express + helmet + morgan',
    ours: 'rs-express+helmet',
    peer: 'express.static+helmet',
    workloads: ['stack-4k'],
  },
];

function STACKS_SERVERS(): ServerSpec[] {
  return STACKS.flatMap((s) => [
    { name: s.ours, ours: true, workloads: s.workloads },
    { name: s.peer, ours: false, workloads: s.workloads },
  ]);
}

interface ServerSpec {
  readonly name: string;
  /** Ours, or a peer; ours are compared with the peers named here. */
  readonly ours: boolean;
  /** The workloads it runs when not all the main ones (a real stack's rows). */
  readonly workloads?: readonly string[];
  /** Runs only when BENCH_SERVERS names it (a bench-only variant that shows what one rule costs). */
  readonly optIn?: boolean;
}

const SERVER_SPECS: readonly ServerSpec[] = [
  { name: 'rs-express', ours: true },
  { name: 'rs-koa', ours: true },
  { name: 'rs-node', ours: true },
  { name: 'express.static', ours: false },
  { name: 'koa-static', ours: false },
  { name: 'koa-static+range', ours: false },
  { name: 'fastify', ours: false },
  { name: 'nginx', ours: false },
  // Floors: the framework with one plain middleware (bench/servers.ts), what no Express or Koa middleware beats.
  { name: 'express-floor', ours: false },
  { name: 'koa-floor', ours: false },
  // Web-standard servers: Hono on @hono/node-server, and Bun.serve (bench/bun-servers.ts), each with its own static serving.
  { name: 'rs-hono', ours: true },
  { name: 'hono.static', ours: false },
  { name: 'rs-bun', ours: true },
  { name: 'bun.file', ours: false },
  { name: 'bun-floor', ours: false },
  // Real stacks: ours and the peer behind the same middleware.
  ...STACKS_SERVERS(),
  // rs-koa without the per-request root check (bench/servers.ts), named in BENCH_SERVERS to run.
  { name: 'rs-koa/no-root-check', ours: true, optIn: true },
];

/** [ours, peer]: the ratios printed, in this order. */
const RATIOS: readonly (readonly [string, string])[] = [
  ['rs-express', 'express.static'],
  ['rs-express', 'express-floor'],
  ['rs-koa', 'koa-static'],
  ['rs-koa', 'koa-floor'],
  ['rs-koa/no-root-check', 'koa-floor'],
  ['rs-node', 'fastify'],
  ['rs-hono', 'hono.static'],
  ['rs-bun', 'bun.file'],
  ['rs-bun', 'bun-floor'],
  ['rs-express', 'nginx'],
  ['rs-koa', 'nginx'],
  ['rs-node', 'nginx'],
];

function nginxBin(): string | undefined {
  if (has('nginx')) return 'nginx';
  return fs.existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined;
}

/** Installs wrk and nginx from Debian's packages when they are missing and we are root. */
function ensureTools(): void {
  const missing = [has('wrk') ? undefined : 'wrk', nginxBin() !== undefined ? undefined : 'nginx'].filter(
    (p): p is string => p !== undefined,
  );
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0 || !has('apt-get')) {
    console.warn(`missing: ${missing.join(', ')} (install with: sudo apt-get install ${missing.join(' ')})`);
    return;
  }
  console.log(`installing ${missing.join(' ')} with apt-get ...`);
  const servicePid = '/run/nginx.pid';
  const hadService = fs.existsSync(servicePid);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  spawnSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env });
  // The package's post-install script may start the system nginx service: that one is ours to stop.
  if (!hadService && fs.existsSync(servicePid)) {
    const pid = Number(fs.readFileSync(servicePid, 'utf8').trim());
    if (Number.isSafeInteger(pid) && pid > 1) {
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {
        // already gone
      }
    }
  }
}

interface Running {
  readonly port: number;
  readonly child: ChildProcess;
  /** The process whose memory is measured (nginx: the worker). */
  readonly memoryPid: () => number;
  readonly cleanup: () => void;
}

async function startNode(name: string, root = FIXTURES): Promise<Running> {
  const port = await freePort();
  const argv = [process.execPath, '--import', 'tsx', path.join(HERE, 'servers.ts'), name, String(port), root];
  const { child } = await startServer({ name, argv, ready: port });
  return { port, child, memoryPid: () => child.pid as number, cleanup: () => {} };
}

/** The servers bench/bun-servers.ts runs on Bun (the binary the `bun` dev dependency installs). */
const BUN_SERVERS = new Set(['rs-bun', 'bun.file', 'bun-floor']);

async function startBun(name: string): Promise<Running> {
  const bun = findRuntime('bun');
  if ('missing' in bun) throw new Error(bun.missing);
  const port = await freePort();
  const argv = [bun.path, path.join(HERE, 'bun-servers.ts'), name, String(port), FIXTURES];
  const { child } = await startServer({ name, argv, ready: port });
  return { port, child, memoryPid: () => child.pid as number, cleanup: () => {} };
}

async function startNginx(bin: string): Promise<Running> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'range-serve-nginx-'));
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(
    conf,
    [
      // As root, nginx would hand the worker to 'nobody', who may not read the fixtures' path.
      process.getuid?.() === 0 ? 'user root;' : '',
      'worker_processes 1;',
      'daemon off;',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log warn;`,
      'events { worker_connections 1024; }',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t};`),
      '  default_type application/octet-stream;',
      '  sendfile on;',
      '  tcp_nopush on;',
      '  keepalive_requests 100000000;',
      `  server { listen 127.0.0.1:${port}; root ${FIXTURES}; }`,
      '}',
    ].join('\n'),
  );
  const cleanup = (): void => fs.rmSync(dir, { recursive: true, force: true });
  let child: ChildProcess;
  try {
    const argv = [bin, '-p', dir, '-e', `${dir}/error.log`, '-c', conf];
    ({ child } = await startServer({ name: 'nginx', argv, ready: port, quiet: true }));
  } catch (err) {
    cleanup();
    throw err;
  }
  const memoryPid = (): number => {
    const master = child.pid as number;
    const kids = readProc(`/proc/${master}/task/${master}/children`).trim().split(/\s+/).filter(Boolean);
    return kids.length > 0 ? Number(kids[0]) : master;
  };
  return { port, child, memoryPid, cleanup };
}

function readProc(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** VmRSS and VmHWM in KiB. */
function memory(pid: number): { rss: number; hwm: number } {
  const status = readProc(`/proc/${pid}/status`);
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

/** Resets the peak RSS (VmHWM) to the current RSS (Linux clear_refs 5). */
function resetPeak(pid: number): void {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // not Linux, or not allowed: the peak then covers the process's whole life
  }
}

// ---------------------------------------------------------------------------------------------------
// Fixtures

/**
 * `size` bytes of text that compresses about as well as prose (words drawn from a fixed vocabulary by
 * a seeded generator, so every run writes the same file).
 */
function textFixture(size: number): Buffer {
  const vocabulary = Array.from({ length: 2000 }, (_, i) => (i * 2654435761).toString(36).slice(0, 3 + (i % 7)));
  let seed = 0x2545f491;
  const words: string[] = [];
  let length = 0;
  while (length < size) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const word = (vocabulary[seed % vocabulary.length] as string) + ((seed >>> 20) % 13 === 0 ? '.\n' : ' ');
    words.push(word);
    length += word.length;
  }
  return Buffer.from(words.join('')).subarray(0, size);
}

function ensureFixtures(): void {
  fs.mkdirSync(FIXTURES, { recursive: true });
  for (const [name, size] of Object.entries(FILES)) {
    const file = path.join(FIXTURES, name);
    if (fs.existsSync(file) && fs.statSync(file).size === size) continue;
    console.log(`writing ${path.relative(REPO, file)} (${size} bytes) ...`);
    if (name.endsWith('.txt')) {
      fs.writeFileSync(`${file}.tmp`, textFixture(size));
      fs.renameSync(`${file}.tmp`, file);
      continue;
    }
    const fd = fs.openSync(`${file}.tmp`, 'w');
    const block = Buffer.alloc(Math.min(size, 4 * MiB));
    for (let done = 0; done < size; done += block.length) {
      const n = Math.min(block.length, size - done);
      // Random bytes: a multipart boundary or a compressible pattern cannot flatter anyone.
      randomFillSync(block, 0, n);
      fs.writeSync(fd, block, 0, n);
    }
    fs.closeSync(fd);
    fs.renameSync(`${file}.tmp`, file);
  }
  // Last-Modified must be at least a second old to be a strong validator (RFC 9110 13.1.5).
  const old = new Date(Date.now() - 3600_000);
  for (const name of Object.keys(FILES)) fs.utimesSync(path.join(FIXTURES, name), old, old);
}

// ---------------------------------------------------------------------------------------------------
// Probes: one request per cell, checked for status and exact bytes

interface Probe {
  readonly status: number;
  readonly ok: boolean;
  readonly note: string;
  /** The Content-Encoding the answer came with ('' for none). */
  readonly coding?: string;
}

function request(
  port: number,
  method: string,
  urlPath: string,
  headers: Record<string, string>,
  onData: (chunk: Buffer) => void,
): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers, agent: false }, (res) => {
      res.on('data', onData);
      res.on('end', () => resolve(res));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function validators(port: number, file: FileName): Promise<Validators> {
  const res = await request(port, 'GET', `/${file}`, { range: 'bytes=0-0' }, () => {});
  const lm = res.headers['last-modified'];
  return { etag: res.headers.etag, lastModified: lm };
}

/** Compares bytes arriving in order with the fixture from `start`, without holding them. */
class Comparer {
  private offset: number;
  private scratch = Buffer.alloc(0);
  equal = true;
  constructor(
    private readonly fd: number,
    start: number,
  ) {
    this.offset = start;
  }
  push(chunk: Buffer): void {
    if (!this.equal) return;
    if (this.scratch.length < chunk.length) this.scratch = Buffer.alloc(chunk.length);
    const n = fs.readSync(this.fd, this.scratch, 0, chunk.length, this.offset);
    if (n !== chunk.length || !this.scratch.subarray(0, n).equals(chunk)) this.equal = false;
    this.offset += chunk.length;
  }
  get position(): number {
    return this.offset;
  }
}

async function probe(port: number, w: Workload, v: Validators): Promise<Probe> {
  const file = path.join(FIXTURES, w.file);
  const size = FILES[w.file];
  const fd = fs.openSync(file, 'r');
  try {
    const expect = w.expect;
    const single =
      expect.status === 200
        ? ([0, size - 1] as const)
        : expect.status === 206 && expect.ranges.length === 1
          ? expect.ranges[0]
          : undefined;
    const comparer = new Comparer(fd, single?.[0] ?? 0);
    const held: Buffer[] = [];
    let received = 0;
    const encoded: Buffer[] = [];
    const res = await request(port, 'GET', `/${w.file}`, w.headers(v), (chunk) => {
      if (w.stack === true) {
        encoded.push(chunk);
        return;
      }
      received += chunk.length;
      if (single !== undefined) comparer.push(chunk);
      else if (received <= 16 * MiB) held.push(chunk);
    });
    if (w.stack === true) {
      // A stack's row may come encoded by its compression layer: the decoded bytes are compared.
      const decoded = decode(Buffer.concat(encoded), res.headers['content-encoding']);
      received = decoded.length;
      if (single !== undefined) comparer.push(decoded);
    }
    const status = res.statusCode ?? 0;
    const coding = String(res.headers['content-encoding'] ?? '');
    if (status !== expect.status) return { coding, status, ok: false, note: `expected ${expect.status}` };
    if (expect.status === 304)
      return received === 0
        ? { coding, status, ok: true, note: '' }
        : { coding, status, ok: false, note: 'body on 304' };
    if (single !== undefined) {
      const length = single[1] - single[0] + 1;
      if (received !== length || !comparer.equal)
        return { coding, status, ok: false, note: `wrong bytes (${received} of ${length})` };
      if (expect.status === 206 && res.headers['content-range'] !== `bytes ${single[0]}-${single[1]}/${size}`) {
        return { coding, status, ok: false, note: `Content-Range ${res.headers['content-range']}` };
      }
      return { coding, status, ok: true, note: '' };
    }
    const note = checkMultipart(
      fd,
      size,
      res.headers['content-type'],
      Buffer.concat(held),
      expect.status === 206 ? expect.ranges : [],
    );
    return { coding, status, ok: note === '', note };
  } finally {
    fs.closeSync(fd);
  }
}

/** A body decoded from its Content-Encoding (gzip, deflate, br), as a browser would. */
function decode(body: Buffer, coding: string | undefined): Buffer {
  switch ((coding ?? '').trim().toLowerCase()) {
    case 'gzip':
      return zlib.gunzipSync(body);
    case 'deflate':
      return zlib.inflateSync(body);
    case 'br':
      return zlib.brotliDecompressSync(body);
    default:
      return body;
  }
}

/** '' when `body` is a multipart/byteranges of exactly `ranges` of the fixture, in order. */
function checkMultipart(
  fd: number,
  size: number,
  contentType: string | undefined,
  body: Buffer,
  ranges: readonly (readonly [number, number])[],
): string {
  const boundary = /^multipart\/byteranges;\s*boundary="?([^";]+)"?/i.exec(contentType ?? '')?.[1];
  if (boundary === undefined) return `Content-Type ${contentType}`;
  const delimiter = Buffer.from(`--${boundary}`);
  let at = body.indexOf(delimiter);
  for (const [first, last] of ranges) {
    if (at < 0) return 'missing part';
    const headerEnd = body.indexOf('\r\n\r\n', at);
    if (headerEnd < 0) return 'part without headers';
    const head = body.subarray(at + delimiter.length, headerEnd).toString('latin1');
    if (!new RegExp(`content-range:\\s*bytes ${first}-${last}/${size}`, 'i').test(head))
      return `part header ${head.trim()}`;
    const start = headerEnd + 4;
    const part = body.subarray(start, start + (last - first + 1));
    const expected = Buffer.alloc(last - first + 1);
    fs.readSync(fd, expected, 0, expected.length, first);
    if (!part.equals(expected)) return `wrong bytes in part ${first}-${last}`;
    at = body.indexOf(delimiter, start + part.length);
  }
  if (at < 0 || body.subarray(at + delimiter.length, at + delimiter.length + 2).toString() !== '--')
    return 'no closing delimiter';
  return '';
}

// ---------------------------------------------------------------------------------------------------
// Load

interface Cell {
  readonly probe: Probe;
  readonly rates: readonly number[];
  readonly statusErrors: number;
}

async function wrk(
  port: number,
  w: Workload,
  v: Validators,
  seconds: number,
): Promise<{ rate: number; statusErrors: number }> {
  const s = await runWrk({
    url: `http://127.0.0.1:${port}/${w.file}`,
    connections: w.connections,
    seconds,
    script: path.join(HERE, 'wrk-report.lua'),
    headers: w.headers(v),
    timeoutSeconds: 30,
  });
  const secs = s.duration_us / 1e6;
  return { rate: w.unit === 'req/s' ? s.requests / secs : s.bytes / secs / 1e6, statusErrors: s.status_errors };
}

interface ServerResult {
  readonly name: string;
  readonly error?: string;
  readonly cells: Map<string, Cell>;
  /** Our single range and multipart, measured back to back on this server, round by round. */
  readonly pairs?: { single: number; multi: number }[];
  idleRssKiB?: number;
  peakRssKiB?: number;
}

async function start(spec: ServerSpec): Promise<Running> {
  if (BUN_SERVERS.has(spec.name)) return startBun(spec.name);
  if (spec.name !== 'nginx') return startNode(spec.name);
  const bin = nginxBin();
  if (bin === undefined) throw new Error('nginx not installed');
  return startNginx(bin);
}

/** Whether `spec` runs `w`: a stack's servers their own rows, the other servers the main rows. */
function runs(spec: ServerSpec, w: Workload): boolean {
  return spec.workloads === undefined ? w.stack !== true : spec.workloads.includes(w.id);
}

/**
 * All servers run at once (idle ones cost nothing on their shared core) and each round visits every
 * server in turn, so that noise from the rest of the machine falls on all columns alike.
 */
async function benchAll(specs: readonly ServerSpec[], workloads: readonly Workload[]): Promise<ServerResult[]> {
  const results: ServerResult[] = [];
  const live: { spec: ServerSpec; result: ServerResult; running: Running; v: Record<FileName, Validators> }[] = [];
  try {
    for (const spec of specs) {
      const result: ServerResult = { name: spec.name, cells: new Map(), pairs: [] };
      results.push(result);
      try {
        const running = await start(spec);
        const v: Record<FileName, Validators> = {
          '4k.bin': await validators(running.port, '4k.bin'),
          '1m.bin': await validators(running.port, '1m.bin'),
          '1g.bin': {},
          '1m.txt': await validators(running.port, '1m.txt'),
        };
        live.push({ spec, result, running, v });
        // Warm-up: let the JIT see the hot paths before anything is measured.
        const first = workloads.find((w) => runs(spec, w));
        if (first !== undefined) await wrk(running.port, first, v[first.file], 1);
        console.log(`started ${spec.name} on port ${running.port}`);
      } catch (err) {
        results[results.length - 1] = { ...result, error: (err as Error).message.split('\n')[0] as string };
        console.log(`skipped ${spec.name}: ${(err as Error).message}`);
      }
    }
    for (const w of workloads) {
      const started = Date.now();
      process.stdout.write(`${w.id} `);
      const streaming = w.unit === 'MB/s';
      const rates = new Map<string, number[]>();
      const statusErrors = new Map<string, number>();
      const probes = new Map<string, Probe>();
      const cast = live.filter(({ spec }) => runs(spec, w));
      for (const { result, running, v } of cast) {
        probes.set(result.name, await probe(running.port, w, v[w.file]));
        if (streaming && result.idleRssKiB === undefined) {
          await sleep(200);
          result.idleRssKiB = memory(running.memoryPid()).rss;
        }
      }
      for (let r = 0; r < ROUNDS; r++) {
        for (const { result, running, v } of cast) {
          const pid = running.memoryPid();
          if (streaming) resetPeak(pid);
          const run = await wrk(running.port, w, v[w.file], Math.max(SECONDS, w.minSeconds ?? 0));
          if (streaming) result.peakRssKiB = Math.max(result.peakRssKiB ?? 0, memory(pid).hwm);
          rates.set(result.name, [...(rates.get(result.name) ?? []), run.rate]);
          statusErrors.set(result.name, (statusErrors.get(result.name) ?? 0) + run.statusErrors);
          // Let a server finish writing what wrk stopped reading.
          await sleep(streaming ? 300 : 100);
          process.stdout.write('.');
        }
      }
      for (const { result } of cast) {
        result.cells.set(w.id, {
          probe: probes.get(result.name) as Probe,
          rates: rates.get(result.name) ?? [],
          statusErrors: statusErrors.get(result.name) ?? 0,
        });
      }
      console.log(` ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
    await benchPairs(live, workloads);
  } finally {
    for (const { running } of live) {
      await stop(running.child);
      running.cleanup();
    }
  }
  return results;
}

/**
 * Our multipart against our single range, each pair measured back to back on the same server (one
 * round: single, then multipart, for each of our servers), so that the machine's drift between the two
 * workloads' passes, minutes apart, does not fall on one side of the ratio.
 */
async function benchPairs(
  live: readonly { spec: ServerSpec; result: ServerResult; running: Running; v: Record<FileName, Validators> }[],
  workloads: readonly Workload[],
): Promise<void> {
  const single = workloads.find((w) => w.id === 'range');
  const multi = workloads.find((w) => w.id === 'multi');
  if (single === undefined || multi === undefined) return;
  const ours = live.filter(({ spec }) => spec.ours === true && spec.workloads === undefined);
  if (ours.length === 0) return;
  process.stdout.write('multipart/single pairs ');
  for (let r = 0; r < ROUNDS; r++) {
    for (const { result, running, v } of ours) {
      const one = await wrk(running.port, single, v[single.file], SECONDS);
      await sleep(100);
      const many = await wrk(running.port, multi, v[multi.file], SECONDS);
      await sleep(100);
      (result.pairs as { single: number; multi: number }[] | undefined)?.push({ single: one.rate, multi: many.rate });
      process.stdout.write('.');
    }
  }
  console.log('');
}

// ---------------------------------------------------------------------------------------------------
// Report

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function fmtRate(n: number, unit: Workload['unit']): string {
  if (unit === 'MB/s') return `${Math.round(n).toLocaleString('en-US')} MB/s`;
  return n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : n >= 1000 ? `${(n / 1000).toFixed(2)}k` : `${Math.round(n)}`;
}

function cellText(cell: Cell | undefined, unit: Workload['unit']): string {
  if (cell === undefined) return '-';
  const m = median(cell.rates);
  const spread = m > 0 ? ((Math.max(...cell.rates) - Math.min(...cell.rates)) / 2 / m) * 100 : 0;
  const mark = cell.probe.ok ? '' : '!';
  return `${cell.probe.status}${mark} ${fmtRate(m, unit)} ±${spread.toFixed(0)}%`;
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = (rows[0] as readonly string[]).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  return [
    line(rows[0] as readonly string[]),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...rows.slice(1).map(line),
  ].join('\n');
}

function report(allResults: readonly ServerResult[], allWorkloads: readonly Workload[]): string {
  const out: string[] = [];
  const isStackServer = (name: string): boolean => SERVER_SPECS.find((s) => s.name === name)?.workloads !== undefined;
  // The main tables: the main columns on the main rows; the real stacks have a table of their own below.
  const results = allResults.filter((r) => !isStackServer(r.name));
  const workloads = allWorkloads.filter((w) => w.stack !== true);
  const names = results.map((r) => r.name);
  const byName = new Map(results.map((r) => [r.name, r]));
  out.push(
    `${new Date().toISOString().slice(0, 10)}, ${os.cpus()[0]?.model.trim() ?? 'cpu'} (${os.availableParallelism()} cores), ${Math.round(os.totalmem() / GiB)} GiB, Node ${process.version}, ${PIN ? 'wrk on cpu 0, server on cpu 1' : 'unpinned'}; ${ROUNDS} round(s) of ${SECONDS} s per cell, median ±half the spread; ${SMALL_CONNECTIONS} connections for small requests`,
  );
  out.push('');
  out.push('Status answered and rate (req/s, or MB/s for the 1 GiB rows); `!` marks a wrong answer (status or bytes):');
  out.push('');
  out.push(
    table([
      ['workload', ...names],
      ...workloads.map((w) => [
        w.label,
        ...results.map((r) => (r.error !== undefined ? 'n/a' : cellText(r.cells.get(w.id), w.unit))),
      ]),
    ]),
  );
  const errors = allResults.filter((r) => r.error !== undefined);
  if (errors.length > 0) {
    out.push('');
    for (const r of errors) out.push(`n/a ${r.name}: ${r.error}`);
  }
  const wrong = allResults.flatMap((r) =>
    [...r.cells]
      .filter(([, c]) => !c.probe.ok)
      .map(([id, c]) => `${r.name} on ${id}: ${c.probe.status}, ${c.probe.note}`),
  );
  if (wrong.length > 0) {
    out.push('');
    out.push('Wrong answers:');
    for (const line of wrong) out.push(`- ${line}`);
  }

  const pairs = RATIOS.filter(([a, b]) => byName.has(a) && byName.has(b));
  if (pairs.length > 0) {
    out.push('');
    out.push('Ratios (ours / peer, medians); `*` where the peer answered wrongly, `!` where we did:');
    out.push('');
    out.push(
      table([
        ['workload', ...pairs.map(([a, b]) => `${a} / ${b}`)],
        ...workloads.map((w) => [
          w.label,
          ...pairs.map(([a, b]) => {
            const ca = byName.get(a)?.cells.get(w.id);
            const cb = byName.get(b)?.cells.get(w.id);
            if (ca === undefined || cb === undefined) return '-';
            const ratio = median(ca.rates) / median(cb.rates);
            return `${ratio.toFixed(2)}x${cb.probe.ok ? '' : '*'}${ca.probe.ok ? '' : '!'}`;
          }),
        ]),
      ]),
    );
  }

  const ours = results.filter((r) => SERVER_SPECS.find((s) => s.name === r.name)?.ours && r.error === undefined);
  if (ours.length > 0 && workloads.some((w) => w.id === 'range')) {
    out.push('');
    out.push('Our multi-range and suffix rates against our own single-range rate (target >= 0.8x):');
    out.push('');
    const single = (r: ServerResult): number => median(r.cells.get('range')?.rates ?? [NaN]);
    out.push(
      table([
        ['workload', ...ours.map((r) => r.name)],
        ...['multi', 'suffix']
          .filter((id) => workloads.some((w) => w.id === id))
          .map((id) => [
            (workloads.find((w) => w.id === id) ?? { label: id }).label,
            ...ours.map((r) => `${(median(r.cells.get(id)?.rates ?? [NaN]) / single(r)).toFixed(2)}x`),
          ]),
      ]),
    );
  }

  out.push(...stackReport(allResults, allWorkloads));
  out.push(...roundsReport(allResults, allWorkloads));

  const withMemory = results.filter((r) => r.peakRssKiB !== undefined);
  if (withMemory.length > 0) {
    out.push('');
    out.push('Memory while streaming the 1 GiB rows (server process; nginx: its worker):');
    out.push('');
    const mib = (k: number | undefined): string => (k === undefined ? '-' : `${(k / 1024).toFixed(1)} MiB`);
    out.push(
      table([
        ['', ...withMemory.map((r) => r.name)],
        ['idle RSS', ...withMemory.map((r) => mib(r.idleRssKiB))],
        ['peak RSS (VmHWM)', ...withMemory.map((r) => mib(r.peakRssKiB))],
        ['peak - idle', ...withMemory.map((r) => mib((r.peakRssKiB ?? 0) - (r.idleRssKiB ?? 0)))],
      ]),
    );
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------------
// Precompressed variants: a 100 KiB script beside its Brotli variant, asked for with Accept-Encoding: br,
// whole and by range, against @fastify/static (preCompressed) and express-static-gzip in the same run.
// Every probe checks that the answer is the .br bytes (or their slice) with Content-Encoding: br.

const BR_DIR = path.join(FIXTURES, 'precompressed');
const BR_SCRIPT = 'app.js';

interface BrWorkload {
  readonly id: string;
  readonly label: string;
  /** The span of the .br file expected, or the whole file. */
  readonly span?: readonly [number, number];
}

const BR_WORKLOADS: readonly BrWorkload[] = [
  { id: 'br-get', label: 'GET 100 KiB .js, Accept-Encoding: br' },
  { id: 'br-range', label: 'bytes=1000-1999 of its .br', span: [1000, 1999] },
];
const BR_SERVERS = ['rs-express+br', 'rs-koa+br', 'fastify+preCompressed', 'express-static-gzip'] as const;

/** Writes app.js (100 KiB of generated, compressible script) and app.js.br beside it, both an hour old. */
async function ensureBrFixtures(): Promise<Buffer> {
  const { brotliCompressSync } = await import('node:zlib');
  fs.mkdirSync(BR_DIR, { recursive: true });
  const lines: string[] = [];
  for (let i = 0; lines.join('\n').length < 100 * KiB; i++) {
    lines.push(
      `export function handler${i}(event) { return { id: ${i}, name: 'handler ${i}', value: event.value * ${i % 97} }; }`,
    );
  }
  const script = Buffer.from(lines.join('\n').slice(0, 100 * KiB));
  const br = brotliCompressSync(script);
  fs.writeFileSync(path.join(BR_DIR, BR_SCRIPT), script);
  fs.writeFileSync(path.join(BR_DIR, `${BR_SCRIPT}.br`), br);
  // Strong Last-Modified needs a second's age (RFC 9110 13.1.5); the variant is not older than its original.
  const old = new Date(Date.now() - 3600_000);
  fs.utimesSync(path.join(BR_DIR, BR_SCRIPT), old, old);
  fs.utimesSync(path.join(BR_DIR, `${BR_SCRIPT}.br`), old, old);
  return br;
}

function brHeaders(w: BrWorkload): Record<string, string> {
  return w.span === undefined
    ? { 'accept-encoding': 'br' }
    : { 'accept-encoding': 'br', range: `bytes=${w.span[0]}-${w.span[1]}` };
}

async function probeBr(port: number, w: BrWorkload, br: Buffer): Promise<Probe> {
  const chunks: Buffer[] = [];
  const res = await request(port, 'GET', `/${BR_SCRIPT}`, brHeaders(w), (chunk) => chunks.push(chunk));
  const status = res.statusCode ?? 0;
  const expected = w.span === undefined ? br : br.subarray(w.span[0], w.span[1] + 1);
  const wanted = w.span === undefined ? 200 : 206;
  if (status !== wanted) return { status, ok: false, note: `expected ${wanted}` };
  if (res.headers['content-encoding'] !== 'br')
    return { status, ok: false, note: `Content-Encoding ${res.headers['content-encoding']}` };
  if (!Buffer.concat(chunks).equals(expected)) return { status, ok: false, note: 'not the .br bytes' };
  if (w.span !== undefined && res.headers['content-range'] !== `bytes ${w.span[0]}-${w.span[1]}/${br.length}`)
    return { status, ok: false, note: `Content-Range ${res.headers['content-range']}` };
  return { status, ok: true, note: '' };
}

/** Runs the precompressed rows (each server started once, rounds visiting every server in turn) and reports them. */
async function benchPrecompressed(serverFilter: string[] | undefined, workloadFilter: string[] | undefined) {
  const workloads = BR_WORKLOADS.filter((w) => workloadFilter === undefined || workloadFilter.includes(w.id));
  const names = BR_SERVERS.filter((n) => serverFilter === undefined || serverFilter.includes(n));
  if (workloads.length === 0 || names.length === 0) return;
  const br = await ensureBrFixtures();
  const live: { name: string; running: Running }[] = [];
  const cells = new Map<string, { probe: Probe; rates: number[] }>();
  try {
    for (const name of names) {
      try {
        live.push({ name, running: await startNode(name, BR_DIR) });
        console.log(`started ${name}`);
      } catch (err) {
        console.log(`skipped ${name}: ${(err as Error).message}`);
      }
    }
    for (const w of workloads) {
      process.stdout.write(`${w.id} `);
      // wrk's workload shape: the fixture path and the request headers; the rate is req/s.
      const asWorkload: Workload = {
        id: w.id,
        label: w.label,
        file: BR_SCRIPT as FileName,
        connections: SMALL_CONNECTIONS,
        unit: 'req/s',
        expect: { status: 200 },
        headers: () => brHeaders(w),
      };
      for (const { name, running } of live) {
        cells.set(`${name} ${w.id}`, { probe: await probeBr(running.port, w, br), rates: [] });
        await wrk(running.port, asWorkload, {}, 1); // warm-up
      }
      for (let r = 0; r < ROUNDS; r++) {
        for (const { name, running } of live) {
          const run = await wrk(running.port, asWorkload, {}, SECONDS);
          cells.get(`${name} ${w.id}`)?.rates.push(run.rate);
          await sleep(100);
          process.stdout.write('.');
        }
      }
      console.log('');
    }
  } finally {
    for (const { running } of live) await stop(running.child);
  }
  const started = live.map((l) => l.name);
  console.log('');
  console.log(`Precompressed variants (${br.length} bytes of .br for a 100 KiB .js; req/s, \`!\` a wrong answer):`);
  console.log('');
  console.log(
    table([
      ['workload', ...started],
      ...workloads.map((w) => [
        w.label,
        ...started.map((name) => {
          const cell = cells.get(`${name} ${w.id}`);
          if (cell === undefined) return '-';
          return cellText({ probe: cell.probe, rates: cell.rates, statusErrors: 0 }, 'req/s');
        }),
      ]),
    ]),
  );
  const wrong = [...cells]
    .filter(([, c]) => !c.probe.ok)
    .map(([key, c]) => `${key}: ${c.probe.status}, ${c.probe.note}`);
  for (const line of wrong) console.log(`- wrong: ${line}`);
}

/** The real stacks: ours and the peer behind the same middleware, and their ratio. */
function stackReport(results: readonly ServerResult[], workloads: readonly Workload[]): string[] {
  const byName = new Map(results.map((r) => [r.name, r]));
  const rows: string[][] = [];
  for (const stack of STACKS) {
    const ours = byName.get(stack.ours);
    const peer = byName.get(stack.peer);
    if (ours === undefined || peer === undefined) continue;
    for (const w of workloads.filter((x) => stack.workloads.includes(x.id))) {
      const co = ours.cells.get(w.id);
      const cp = peer.cells.get(w.id);
      if (co === undefined || cp === undefined) continue;
      const peerRate = median(cp.rates);
      // A peer that finished no request in a round (a wrong 200 of the whole body, compressed) has no ratio.
      const ratio = peerRate > 0 ? `${(median(co.rates) / peerRate).toFixed(2)}x` : 'n/a';
      rows.push([
        stack.label,
        w.label,
        `${cellText(co, w.unit)}${codingNote(co)}`,
        `${cellText(cp, w.unit)}${codingNote(cp)}`,
        `${ratio}${cp.probe.ok ? '' : '*'}${co.probe.ok ? '' : '!'}`,
      ]);
    }
  }
  if (rows.length === 0) return [];
  return [
    '',
    'Real stacks: range-serve and the peer behind the same middleware (target >= 1.0x); `*`/`!` as above:',
    '',
    table([['stack', 'workload', 'range-serve', 'peer', 'ours / peer'], ...rows]),
  ];
}

function codingNote(cell: Cell): string {
  return (cell.probe.coding ?? '') === '' ? '' : ` (${cell.probe.coding})`;
}

/** Every round's rate, so a spread is visible, and our multipart / single range round by round. */
function roundsReport(results: readonly ServerResult[], workloads: readonly Workload[]): string[] {
  const out = ['', 'Per-round rates (req/s, or MB/s), in the order run:', ''];
  const rows: string[][] = [];
  for (const w of workloads) {
    for (const r of results) {
      const cell = r.cells.get(w.id);
      if (cell === undefined) continue;
      rows.push([w.label, r.name, cell.rates.map((x) => fmtRate(x, w.unit)).join(' / ')]);
    }
  }
  if (rows.length === 0) return [];
  out.push(table([['workload', 'server', 'rounds'], ...rows]));
  const ours = results.filter((r) =>
    SERVER_SPECS.find((s) => s.name === r.name && s.ours && s.workloads === undefined),
  );
  const multi = ours.filter((r) => r.cells.has('multi') && r.cells.has('range'));
  if (multi.length > 0) {
    out.push('', 'Our multipart / our single range, the two passes paired by round (minutes apart):', '');
    out.push(
      table([
        ['server', 'rounds', 'lowest'],
        ...multi.map((r) => {
          const m = r.cells.get('multi')?.rates ?? [];
          const one = r.cells.get('range')?.rates ?? [];
          const ratios = m.map((x, i) => x / (one[i] ?? NaN));
          return [r.name, ratios.map((x) => `${x.toFixed(2)}x`).join(' / '), `${Math.min(...ratios).toFixed(2)}x`];
        }),
      ]),
    );
  }
  const paired = ours.filter((r) => (r.pairs?.length ?? 0) > 0);
  if (paired.length > 0) {
    out.push(
      '',
      `Our multipart / our single range, measured back to back on the same server (${SECONDS} s each; target >= 0.8x in every round):`,
      '',
    );
    out.push(
      table([
        ['server', 'single range, rounds', 'multipart, rounds', 'ratios', 'lowest'],
        ...paired.map((r) => {
          const pairs = r.pairs ?? [];
          const ratios = pairs.map((p) => p.multi / p.single);
          return [
            r.name,
            pairs.map((p) => fmtRate(p.single, 'req/s')).join(' / '),
            pairs.map((p) => fmtRate(p.multi, 'req/s')).join(' / '),
            ratios.map((x) => `${x.toFixed(2)}x`).join(' / '),
            `${Math.min(...ratios).toFixed(2)}x`,
          ];
        }),
      ]),
    );
  }
  return out;
}

/** The comparisons bench/summary.ts gathers: each adapter against its floor, the fetch adapter on its hosts. */
const SUMMARY: readonly {
  ours: string;
  against: string;
  workloads: readonly string[];
  target: (id: string) => string;
}[] = [
  { ours: 'rs-koa', against: 'koa-floor', workloads: ['304', 'if-range'], target: () => '>= 0.9x' },
  { ours: 'rs-express', against: 'express-floor', workloads: ['304', 'if-range'], target: () => '>= 0.9x' },
  {
    ours: 'rs-koa/no-root-check',
    against: 'koa-floor',
    workloads: ['304', 'if-range'],
    target: () => 'informational (the root check removed)',
  },
  {
    ours: 'rs-hono',
    against: 'hono.static',
    workloads: ['get-4k', 'range', '304', 'stream-c1'],
    target: (id) => (id === 'stream-c1' ? 'informational' : '>= 1.0x'),
  },
  {
    ours: 'rs-bun',
    against: 'bun.file',
    workloads: ['get-4k', 'range', '304', 'stream-c1'],
    target: () => 'informational',
  },
  {
    ours: 'rs-bun',
    against: 'bun-floor',
    workloads: ['get-4k', 'range', '304', 'stream-c1'],
    target: () => 'informational',
  },
];

function summaryRows(results: readonly ServerResult[], workloads: readonly Workload[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const pair of SUMMARY) {
    const ours = results.find((r) => r.name === pair.ours);
    const against = results.find((r) => r.name === pair.against);
    for (const id of pair.workloads) {
      const w = workloads.find((x) => x.id === id);
      const a = ours?.cells.get(id);
      const b = against?.cells.get(id);
      if (w === undefined || a === undefined || b === undefined) continue;
      const ma = medianOf(a.rates);
      const mb = medianOf(b.rates);
      const wrong = !b.probe.ok ? ` (${pair.against} answered ${b.probe.status}, wrongly)` : '';
      rows.push({
        comparison: `${w.label}: ${pair.ours} / ${pair.against}${wrong}${a.probe.ok ? '' : ' (ours wrong!)'}`,
        ours: ma === undefined ? 'n/a' : fmtRate(ma, w.unit),
        against: mb === undefined ? 'n/a' : fmtRate(mb, w.unit),
        ratio: ma === undefined || mb === undefined || mb === 0 ? undefined : ma / mb,
        target: pair.target(id),
      });
    }
  }
  return rows;
}

async function main(): Promise<void> {
  ensureTools();
  if (!has('wrk')) throw new Error('wrk is required (apt-get install wrk)');
  const serverFilter = only('BENCH_SERVERS');
  const workloadFilter = only('BENCH_WORKLOADS');
  const specs = SERVER_SPECS.filter((s) =>
    serverFilter === undefined ? s.optIn !== true : serverFilter.includes(s.name),
  );
  const workloads = [...WORKLOADS, ...STACK_WORKLOADS].filter(
    (w) => workloadFilter === undefined || workloadFilter.includes(w.id),
  );
  if (workloads.length > 0 && specs.length > 0) {
    ensureFixtures();
    const results = await benchAll(specs, workloads);
    console.log('');
    console.log(report(results, workloads));
    recordSummary('http', summaryRows(results, workloads));
  }
  await benchPrecompressed(serverFilter, workloadFilter);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1); // the library's exit handler stops every child still running
});
