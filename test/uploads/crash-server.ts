/**
 * Starts test/uploads/crash-child.ts (an upload server a test may SIGKILL) on `dir`, once it listens,
 * optionally on Express or Koa; and attaches `strace` to a running child to inject faults into its
 * system calls for a while.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));

/** How to start the child. */
export interface CrashChildOptions {
  readonly adapter?: 'node' | 'express' | 'koa';
  /** Where the child's `onComplete` logs each completion (`<id> <length> <file size>`). */
  readonly hookLog?: string;
  /** How long that `onComplete` waits before it logs (ms). */
  readonly hookDelay?: number;
}

/** A running child: the process spawned, its pid, and its base URL. */
export interface CrashChild {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly url: string;
}

/** The child process and its base URL, after it printed its port. */
export async function startCrashChild(dir: string, options: CrashChildOptions = {}): Promise<CrashChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
    output += chunk.toString();
    if (output.includes('\n')) break;
  }
  if (!output.includes('\n')) throw new Error('the crash child exited before it listened');
  const { port, pid } = JSON.parse(output) as { port: number; pid: number };
  return { child, pid, url: `http://127.0.0.1:${port}` };
}

/** Faults being injected into a running process; `stop()` detaches strace and lets it run clean. */
export interface InjectedFaults {
  stop(): Promise<void>;
}

/**
 * Attaches `strace` to every thread of process `pid` and injects faults as `args` say (e.g. `['-P',
 * dir, '-e', 'trace=fsync', '-e', 'inject=fsync:error=EIO']`) until `stop()`. Attaching to a running
 * server makes the faults start after its start-up and end when the test says, on whichever thread of
 * libuv's pool makes the call (strace counts `when=` per thread, so a count would not be exact).
 */
export async function injectFaults(pid: number, args: readonly string[]): Promise<InjectedFaults> {
  const strace = spawn('strace', ['-f', '-o', '/dev/null', '-p', String(pid), ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let errors = '';
  const exited = once(strace, 'exit');
  for await (const chunk of strace.stderr as AsyncIterable<Buffer>) {
    errors += chunk.toString();
    if (/attached/.test(errors)) break;
  }
  if (!/attached/.test(errors)) throw new Error(`strace did not attach to ${pid}: ${errors}`);
  strace.stderr?.resume();
  return {
    stop: async () => {
      if (strace.exitCode === null && strace.signalCode === null) strace.kill('SIGTERM');
      await exited;
    },
  };
}

/** Why `strace` cannot inject faults here, or undefined when it can. */
export function straceUnavailable(): string | undefined {
  try {
    execFileSync('strace', ['-f', '-qq', '-o', '/dev/null', '-e', 'inject=fsync:error=EIO', '--', 'true'], {
      stdio: 'ignore',
    });
    return undefined;
  } catch (err) {
    return `strace cannot trace here (${(err as Error).message.split('\n')[0]}); .ci/run installs it`;
  }
}
