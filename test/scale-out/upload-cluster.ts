/**
 * The replicated-upload cluster the test runs: a real `redis-server` (Debian's) on a loopback port,
 * upload replicas as child processes (Express and Koa) on one directory, and a real nginx round-robin
 * balancer in front of them, configured from docs/deploying.md's `nginx-uploads` block. Every process
 * is started here and stopped by its own pid.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { docsBlock, freePort, type RunningProcess, startForeground, substitute, waitForPort } from './proxies.ts';

const REPLICA = fileURLToPath(new URL('./upload-replica.ts', import.meta.url));
const REDIS_SERVER = '/usr/bin/redis-server';

/** A running redis-server, restartable on the same port with the same data (append-only file). */
export interface RunningRedis {
  readonly port: number;
  readonly url: string;
  /** Kills it (SIGKILL: nothing flushed that was not already). */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts redis-server on 127.0.0.1 with the settings docs/deploying.md asks for (AOF with
 * `appendfsync always`), its files in `dir`.
 */
export async function startRedis(dir: string): Promise<RunningRedis> {
  const result = spawnSync(REDIS_SERVER, ['--version'], { stdio: 'ignore', timeout: 15_000 });
  if (result.error !== undefined || result.status !== 0) {
    throw new Error(
      `${REDIS_SERVER} is missing: the replicated-upload test needs it. Install it with ` +
        '`apt-get install redis-server` (.ci/run does so when it is missing).',
    );
  }
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  let current: ChildProcess | undefined;
  let closed: Promise<void> = Promise.resolve();
  let output = '';
  const start = async (): Promise<void> => {
    const settings = substitute(
      docsBlock('redis-conf'),
      { 'port 6379': `port ${port}`, '/var/lib/redis': dir },
      'redis-conf',
    );
    const conf = path.join(dir, 'redis.conf');
    writeFileSync(conf, `${settings}\ndaemonize no\nsave ""\n`);
    const child = spawn(REDIS_SERVER, [conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    let done = false;
    closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    void closed.then(() => (done = true));
    current = child;
    const proc: RunningProcess = {
      pid: child.pid ?? -1,
      exited: () => done,
      output: () => output,
      stop: async () => {},
    };
    await waitForPort(port, proc, 'redis-server');
  };
  await start();
  const kill = async (): Promise<void> => {
    current?.kill('SIGKILL');
    await closed;
    current = undefined;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    kill,
    restart: start,
    stop: async () => {
      if (current === undefined) return;
      current.kill('SIGTERM');
      const timer = setTimeout(() => current?.kill('SIGKILL'), 5_000);
      await closed;
      clearTimeout(timer);
      current = undefined;
    },
  };
}

/** One completion as a replica's `onComplete` reported it. */
export interface Completion {
  readonly complete: string;
  readonly pid: number;
  readonly length: number;
}

/** An upload replica process. */
export interface UploadReplica {
  readonly adapter: 'express' | 'koa';
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /** What it printed on stderr. */
  errors(): string;
  signal(name: NodeJS.Signals): void;
  /** Resolves once the process has exited. */
  readonly exited: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a replica on `directory` (on `port`, or a free one), reporting completions into `completions`.
 * `clockAhead` (ms) runs the replica's clock ahead of the machine's, as on a host whose clock is off.
 */
export async function startUploadReplica(
  adapter: 'express' | 'koa',
  directory: string,
  options: Record<string, unknown>,
  completions: Completion[],
  port = 0,
  clockAhead = 0,
): Promise<UploadReplica> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', REPLICA, adapter, directory, String(port), JSON.stringify(options)],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, UPLOAD_REPLICA_CLOCK_AHEAD_MS: String(clockAhead) } },
  );
  let errors = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (errors += chunk));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const listening = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the ${adapter} replica did not start:\n${errors}`)), 30_000);
    let pending = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf('\n')) !== -1) {
        const line = JSON.parse(pending.slice(0, newline)) as { port?: number } & Partial<Completion>;
        pending = pending.slice(newline + 1);
        if (line.port !== undefined) {
          clearTimeout(timer);
          resolve(line.port);
        } else if (line.complete !== undefined) completions.push(line as Completion);
      }
    });
    child.once('close', (code) => reject(new Error(`the ${adapter} replica exited with ${code}:\n${errors}`)));
  });
  return {
    adapter,
    port: listening,
    url: `http://127.0.0.1:${listening}`,
    pid: child.pid ?? -1,
    errors: () => errors,
    signal: (name) => {
      child.kill(name);
    },
    exited,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Starts nginx with the docs' `nginx-uploads` block in front of the replicas on `replicaPorts`. */
export async function startUploadBalancer(
  dir: string,
  replicaPorts: readonly [number, number, number],
): Promise<RunningProcess & { readonly port: number; readonly url: string }> {
  const prefix = path.join(dir, 'nginx-uploads');
  for (const sub of ['logs', 'temp/client', 'temp/proxy', 'temp/fastcgi', 'temp/uwsgi', 'temp/scgi']) {
    mkdirSync(path.join(prefix, sub), { recursive: true });
  }
  const port = await freePort();
  const block = substitute(
    docsBlock('nginx-uploads'),
    {
      '127.0.0.1:3001': `127.0.0.1:${replicaPorts[0]}`,
      '127.0.0.1:3002': `127.0.0.1:${replicaPorts[1]}`,
      '127.0.0.1:3003': `127.0.0.1:${replicaPorts[2]}`,
      '127.0.0.1:8090': `127.0.0.1:${port}`,
    },
    'nginx-uploads',
  );
  const conf = [
    process.getuid?.() === 0 ? 'user root;' : '',
    'daemon off;',
    'master_process on;',
    'worker_processes 1;',
    `pid ${path.join(prefix, 'nginx.pid')};`,
    `error_log ${path.join(prefix, 'logs', 'error.log')} info;`,
    'events { worker_connections 512; }',
    'http {',
    `    client_body_temp_path ${path.join(prefix, 'temp/client')};`,
    `    proxy_temp_path ${path.join(prefix, 'temp/proxy')};`,
    `    fastcgi_temp_path ${path.join(prefix, 'temp/fastcgi')};`,
    `    uwsgi_temp_path ${path.join(prefix, 'temp/uwsgi')};`,
    `    scgi_temp_path ${path.join(prefix, 'temp/scgi')};`,
    `    access_log ${path.join(prefix, 'logs', 'access.log')};`,
    block,
    '}',
    '',
  ].join('\n');
  const confFile = path.join(prefix, 'nginx.conf');
  writeFileSync(confFile, conf);
  const test = spawnSync('nginx', ['-t', '-p', `${prefix}/`, '-c', confFile], { encoding: 'utf8', timeout: 15_000 });
  if (test.status !== 0) throw new Error(`nginx -t refused the configuration:\n${test.stderr}\n${conf}`);
  const proc = startForeground('nginx', ['-p', `${prefix}/`, '-c', confFile]);
  await waitForPort(port, proc, 'nginx');
  return { ...proc, port, url: `http://127.0.0.1:${port}` };
}
