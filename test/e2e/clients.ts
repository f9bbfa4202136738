/**
 * Real clients as child processes, with bounded waits: every process started here is killed by the
 * time the suite ends, and no wait is without a timeout.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';

/** What each client is, and the Debian package that brings it. */
const TOOLS = {
  curl: { check: ['curl', '--version'], apt: 'curl' },
  wget: { check: ['wget', '--version'], apt: 'wget' },
  aria2c: { check: ['aria2c', '--version'], apt: 'aria2' },
  chromium: { check: ['/usr/bin/chromium', '--version'], apt: 'chromium' },
} as const;

export type Tool = keyof typeof TOOLS;

/** Throws, failing the test, when a client is not installed: the e2e suite never skips one silently. */
export function requireTool(tool: Tool): void {
  const [command, ...args] = TOOLS[tool].check;
  const result = spawnSync(command, args, { stdio: 'ignore', timeout: 15_000 });
  if (result.error !== undefined || result.status !== 0) {
    throw new Error(
      `${tool} is missing or broken (${result.error?.message ?? `exit ${result.status}`}): the end-to-end suite ` +
        `needs it. Install it with \`apt-get install ${TOOLS[tool].apt}\` (.ci/run does so when it is missing).`,
    );
  }
}

const running = new Set<ChildProcess>();

/** Kills every client still running; called by the suite's `after`. */
export function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** True when we stopped the process (the `until` condition held) rather than it exiting by itself. */
  readonly stopped: boolean;
}

export interface RunOptions {
  readonly cwd?: string;
  /** Kill the process with SIGKILL and reject past this many milliseconds. */
  readonly timeoutMs: number;
  /** Polled every 20 ms while the process runs; once true the process is sent `stopSignal`. */
  readonly until?: () => boolean;
  readonly stopSignal?: NodeJS.Signals;
}

/** Runs a command to its end (or until `until` holds) and reports how it ended. */
export function run(command: string, args: readonly string[], options: RunOptions): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let stdout = '';
    let stderr = '';
    let stopped = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const poll =
      options.until === undefined
        ? undefined
        : setInterval(() => {
            if (!stopped && options.until?.()) {
              stopped = true;
              child.kill(options.stopSignal ?? 'SIGKILL');
              // A client that ignores a gentle signal is not allowed to linger.
              setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
            }
          }, 20);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish within ${options.timeoutMs} ms\n${stderr}`));
    }, options.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      clearInterval(poll);
      running.delete(child);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      clearInterval(poll);
      running.delete(child);
      resolve({ code, signal, stdout, stderr, stopped });
    });
  });
}

/** Runs a command that must succeed, and returns its output. */
export async function runOk(command: string, args: readonly string[], options: RunOptions): Promise<Exit> {
  const exit = await run(command, args, options);
  if (exit.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${exit.code ?? exit.signal}\n${exit.stderr}`);
  }
  return exit;
}

/** The size of a file, 0 when it does not exist yet. */
export function sizeOf(file: string): number {
  return existsSync(file) ? statSync(file).size : 0;
}

/** The hex SHA-256 of a file, streamed. */
export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Waits until `condition` holds, polling, and fails after `timeoutMs`. */
export async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * The status line and fields of the last response in a `curl -D` dump (earlier blocks are interim
 * responses), with lowercase names.
 */
export function lastResponseHead(dump: string): { status: number; headers: Record<string, string> } {
  const blocks = dump.split(/\r\n\r\n/).filter((block) => block.startsWith('HTTP/'));
  const last = blocks.at(-1);
  if (last === undefined) throw new Error(`no HTTP response in the header dump:\n${dump}`);
  const [statusLine, ...lines] = last.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number((statusLine ?? '').split(' ')[1]), headers };
}

/** A long-running child (a server): its output so far, and a bounded stop. */
export interface Background {
  output(): string;
  stop(): Promise<void>;
}

export function startBackground(command: string, args: readonly string[], cwd?: string): Background {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return {
    output: () => output,
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
      running.delete(child);
    },
  };
}
