/**
 * What every benchmark here needs to run servers and load generators as child processes: pinning to a
 * core, a free port, a readiness wait, stopping exactly the processes started (also on Ctrl-C), and
 * running wrk or h2load to a parsed summary. The bench files keep only their tables of servers and
 * workloads.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The bench folder and the repository. */
export const BENCH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = path.resolve(BENCH, '..');

const children = new Set<ChildProcess>();

/** Kills every child still running that this process started (on exit, and on a signal). */
function killAll(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    killAll();
    process.exit(128 + (os.constants.signals[signal] ?? 0));
  });
}

/** Whether `bin` is on the PATH. */
export function has(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

/** Servers on cpu 1 and load generators on cpu 0, when there are two cores or more and taskset. */
export const PIN = has('taskset') && os.availableParallelism() >= 2;

/** `argv` as a command pinned to `cpu` (unchanged when not pinning). */
export function pinned(cpu: number, argv: readonly string[]): [string, string[]] {
  return PIN ? ['taskset', ['-c', String(cpu), ...argv]] : [argv[0] as string, argv.slice(1)];
}

/** A port free on loopback at this moment. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves once `port` accepts a connection; rejects when `child` exits first or after the timeout. */
export async function waitForPort(port: number, child: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`server did not listen on ${port} within ${timeoutMs} ms`);
}

/** Resolves once `child` printed `ready` on its stdout; rejects when it exits first or after the timeout. */
function waitForReadyLine(child: ChildProcess, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no "ready" within ${timeoutMs} ms`)), timeoutMs);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}`));
    });
  });
}

export interface Started {
  readonly child: ChildProcess;
  /** What it wrote to stderr so far. */
  readonly stderr: () => string;
}

export interface StartOptions {
  /** The command and its arguments; pinned to `cpu` (default 1, the servers' core). */
  readonly argv: readonly string[];
  readonly cpu?: number;
  /** Ready when this port accepts a connection, or (`'stdout'`) when the child prints `ready`. */
  readonly ready: number | 'stdout';
  /** For error messages. */
  readonly name: string;
  readonly cwd?: string;
  /** Ignore stdout instead of reading and dropping it (nginx). */
  readonly quiet?: boolean;
}

/** Starts a server pinned to its core and waits until it is ready; on failure stops it and says why. */
export async function startServer(options: StartOptions): Promise<Started> {
  const [cmd, args] = pinned(options.cpu ?? 1, options.argv);
  const child = spawn(cmd, args, {
    cwd: options.cwd ?? REPO,
    stdio: ['ignore', options.quiet === true ? 'ignore' : 'pipe', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    if (options.ready === 'stdout') await waitForReadyLine(child);
    else {
      child.stdout?.resume();
      await waitForPort(options.ready, child);
    }
  } catch (err) {
    await stop(child);
    throw new Error(`${options.name}: ${(err as Error).message}\n${stderr.trim().split('\n').slice(0, 5).join('\n')}`);
  }
  if (options.ready === 'stdout') child.stdout?.resume();
  return { child, stderr: () => stderr };
}

/** Stops one child we started: SIGTERM (nginx's fast shutdown too), then SIGKILL after 3 s. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
  children.delete(child);
}

/** Runs a load generator pinned to cpu 0 (stopped with the rest on Ctrl-C) and returns stdout and stderr. */
export async function runClient(argv: readonly string[]): Promise<string> {
  const [cmd, args] = pinned(0, argv);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve) => child.once('exit', () => resolve()));
  children.delete(child);
  return out;
}

/** What bench/wrk-report.lua prints at the end of a wrk run. */
export interface WrkSummary {
  readonly requests: number;
  readonly bytes: number;
  readonly duration_us: number;
  readonly status_errors: number;
  readonly timeout?: number;
}

/**
 * One wrk run (one thread, pinned to cpu 0) with a Lua script that prints `WRK_JSON {...}` (both of
 * ours do), parsed.
 */
export async function wrk(options: {
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  readonly script: string;
  readonly headers?: Record<string, string>;
  /** wrk's `--timeout` (its default is 2 s). */
  readonly timeoutSeconds?: number;
}): Promise<WrkSummary> {
  const headerArgs = Object.entries(options.headers ?? {}).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
  const out = await runClient([
    'wrk',
    '-t1',
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    ...(options.timeoutSeconds === undefined ? [] : ['--timeout', `${options.timeoutSeconds}s`]),
    '-s',
    options.script,
    ...headerArgs,
    options.url,
  ]);
  const line = /WRK_JSON (\{.*\})/.exec(out)?.[1];
  if (line === undefined) throw new Error(`wrk printed no summary:\n${out}`);
  return JSON.parse(line) as WrkSummary;
}

/** What h2load reports: requests done and succeeded, 2xx/3xx, bytes of body, and the run's seconds. */
export interface H2loadSummary {
  readonly succeeded: number;
  readonly failed: number;
  readonly statuses: Record<string, number>;
  readonly seconds: number;
  /** Bytes of response data (h2load's `data`). */
  readonly dataBytes: number;
  readonly requestsPerSecond: number;
}

/** Runs h2load (pinned to cpu 0) with `args` and parses its summary. */
export async function h2load(args: readonly string[]): Promise<H2loadSummary> {
  const out = await runClient(['h2load', ...args]);
  const finished = /finished in ([\d.]+)(m?s), ([\d.]+) req\/s/.exec(out);
  const requests = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const traffic = /traffic: .*, [\d.]+[KMG]?B \((\d+)\) data/.exec(out);
  if (!finished || !requests || !codes || !traffic) throw new Error(`h2load printed no summary:\n${out}`);
  const seconds = Number(finished[1]) / (finished[2] === 'ms' ? 1000 : 1);
  return {
    succeeded: Number(requests[1]),
    failed: Number(requests[2]),
    statuses: { '2xx': Number(codes[1]), '3xx': Number(codes[2]), '4xx': Number(codes[3]), '5xx': Number(codes[4]) },
    seconds,
    dataBytes: Number(traffic[1]),
    requestsPerSecond: Number(finished[3]),
  };
}
