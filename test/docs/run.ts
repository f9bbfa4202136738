/**
 * Runs the docs' code blocks as a user would: each JavaScript or TypeScript block is written to a file of
 * its own in a temporary project that sees this repository's node_modules (the built packages by name),
 * type-checked, and started with Node; its servers are moved to loopback ports (loopback.mjs), and the
 * shell blocks the docs print beside it run with bash against those ports.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { findRuntime } from '../helpers/runtimes.ts';
import type { DocBlock } from './blocks.ts';
import { repo } from './blocks.ts';

const LOOPBACK = pathToFileURL(path.join(import.meta.dirname, 'loopback.mjs')).href;

/** A temporary project for the snippets: `node_modules` is this repository's, and `.js` is ESM. */
export function createWorkspace(): { root: string; remove(): void } {
  const root = mkdtempSync(path.join(tmpdir(), 'range-serve-docs-'));
  symlinkSync(path.join(repo, 'node_modules'), path.join(root, 'node_modules'), 'dir');
  writeFileSync(path.join(root, 'package.json'), '{ "private": true, "type": "module" }\n');
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) };
}

/** Where a block runs: Node, unless it calls `Bun.serve` or `Deno.serve`. */
export type Runtime = 'node' | 'bun' | 'deno';

/** A JavaScript or TypeScript block written out as a program, in a folder that is its working directory. */
export interface Program {
  readonly block: DocBlock;
  readonly name: string;
  readonly dir: string;
  /** The block's text, as a file. */
  readonly file: string;
  readonly typescript: boolean;
  readonly runtime: Runtime;
}

/**
 * The Bun and Deno servers' stand-in for loopback.mjs: `serve` is wrapped so that it listens on
 * 127.0.0.1 at a port the system picks, and the port asked for and the one it got go to `.listening`,
 * one JSON line each; then the block itself is imported.
 */
const RUNTIME_WRAPPERS: Record<Exclude<Runtime, 'node'>, string> = {
  bun: `import { appendFileSync } from 'node:fs';
const bun = (globalThis as { Bun?: any }).Bun;
const serve = bun.serve.bind(bun);
bun.serve = (options: any) => {
  const asked = Number(options.port ?? 3000);
  const server = serve({ ...options, port: 0, hostname: '127.0.0.1' });
  appendFileSync('.listening', JSON.stringify({ asked, port: server.port }) + '\\n');
  return server;
};
await import('./index.ts');
`,
  deno: `const deno = (globalThis as { Deno?: any }).Deno;
const serve = deno.serve.bind(deno);
deno.serve = (...args: any[]) => {
  const options = typeof args[0] === 'function' ? {} : args[0];
  const handler = typeof args[0] === 'function' ? args[0] : args[1];
  const asked = Number(options.port ?? 8000);
  const onListen = ({ port }: { port: number }) =>
    deno.writeTextFileSync('.listening', JSON.stringify({ asked, port }) + '\\n', { append: true });
  return serve({ ...options, port: 0, hostname: '127.0.0.1', onListen }, handler);
};
await import('./index.ts');
`,
};

/**
 * The block's file: `.ts` for TypeScript, `.cjs` for JavaScript that uses `require` and no `import`; a
 * block for Bun or Deno gets its wrapper beside it (`main.ts`).
 */
export function writeProgram(root: string, name: string, block: DocBlock): Program {
  const typescript = block.lang === 'ts' || block.lang === 'typescript';
  const commonjs = !typescript && /\brequire\(/.test(block.code) && !/^\s*import\s/m.test(block.code);
  const runtime: Runtime = /\bBun\.serve\(/.test(block.code)
    ? 'bun'
    : /\bDeno\.serve\(/.test(block.code)
      ? 'deno'
      : 'node';
  const dir = path.join(root, name);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `index.${typescript ? 'ts' : commonjs ? 'cjs' : 'js'}`);
  writeFileSync(file, block.code);
  if (runtime !== 'node') writeFileSync(path.join(dir, 'main.ts'), RUNTIME_WRAPPERS[runtime]);
  return { block, name, dir, file, typescript, runtime };
}

/**
 * What the type-checker knows of Bun's and Deno's globals: only the calls the docs make, as the runtimes
 * document them, so that the block's use of range-serve is what gets checked. `npm:` specifiers (Deno's)
 * resolve to the same packages.
 */
const RUNTIME_GLOBALS = `type Handler = (request: Request) => Response | Promise<Response>;
declare const Bun: {
  serve(options: { port?: number; hostname?: string; fetch: Handler }): { readonly port: number; stop(): void };
};
declare const Deno: {
  serve(options: { port?: number; hostname?: string }, handler: Handler): { finished: Promise<void> };
};
declare module 'npm:@range-serve/fetch' {
  export * from '@range-serve/fetch';
}
`;

/**
 * Type-checks every program with the repository's TypeScript and gives each error at its line in the
 * markdown file, or nothing. TypeScript blocks are checked `strict`; JavaScript blocks through `checkJs`,
 * strict too except `noImplicitAny`, since a JavaScript parameter has no annotation to give.
 */
export async function typecheck(root: string, programs: readonly Program[]): Promise<string[]> {
  writeFileSync(path.join(root, 'runtimes.d.ts'), RUNTIME_GLOBALS);
  const passes = [
    { name: 'tsconfig.ts.json', programs: programs.filter((p) => p.typescript), noImplicitAny: true },
    { name: 'tsconfig.js.json', programs: programs.filter((p) => !p.typescript), noImplicitAny: false },
  ];
  const byFile = new Map(programs.map((p) => [path.relative(root, p.file), p.block]));
  const tsc = path.join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
  const results = await Promise.all(
    passes.map((pass) => {
      writeFileSync(
        path.join(root, pass.name),
        JSON.stringify({
          compilerOptions: {
            target: 'ES2022',
            lib: ['ES2022'],
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            strict: true,
            noImplicitAny: pass.noImplicitAny,
            allowJs: true,
            checkJs: true,
            noEmit: true,
            esModuleInterop: true,
            isolatedModules: true,
            skipLibCheck: true,
            types: ['node'],
          },
          files: ['runtimes.d.ts', ...pass.programs.map((p) => path.relative(root, p.file))],
        }),
      );
      const args = [tsc, '-p', path.join(root, pass.name), '--pretty', 'false'];
      return run(process.execPath, args, { cwd: root, timeoutMs: 180_000 });
    }),
  );
  return results
    .flatMap((result) => (result.code === 0 ? [] : result.stdout.split('\n')))
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const at = /^(.+?)\((\d+),(\d+)\): (.*)$/.exec(line);
      const block = at ? byFile.get(at[1] as string) : undefined;
      if (!at || !block) return line;
      return `${block.file}:${block.line + Number(at[2])}:${at[3]} ${at[4]}`;
    });
}

/** A snippet started with Node: the ports its servers asked for and got, its output, and a stop. */
export interface RunningSnippet {
  /** Asked-for port (as the docs write it) to the loopback port it listens on. */
  readonly ports: ReadonlyMap<number, number>;
  /** `http://127.0.0.1:<port>` of the server that asked for `asked` (the only one when left out). */
  origin(asked?: number): string;
  stdout(): string;
  stderr(): string;
  /** The exit code once the program has ended, else undefined. */
  exitCode(): number | null | undefined;
  /** Resolves with the exit code when the program ends by itself. */
  readonly exited: Promise<number | null>;
  /** Ends the program by its pid (SIGTERM, then SIGKILL after 5 s). */
  stop(): Promise<void>;
}

/**
 * Starts `program` with its working directory as cwd, and resolves once it listens `listens` times (or,
 * for a program that does not listen, once it has exited).
 */
export async function startProgram(program: Program, listens: number): Promise<RunningSnippet> {
  const [command, args] = commandFor(program);
  const child: ChildProcess = spawn(command, args, {
    cwd: program.dir,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  let stdout = '';
  let stderr = '';
  let code: number | null | undefined;
  const ports = new Map<number, number>();
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let pending = '';
  (child.stdio[3] as NodeJS.ReadableStream).setEncoding('utf8');
  (child.stdio[3] as NodeJS.ReadableStream).on('data', (chunk: string) => {
    pending += chunk;
    for (let nl = pending.indexOf('\n'); nl !== -1; nl = pending.indexOf('\n')) {
      const { asked, port } = JSON.parse(pending.slice(0, nl)) as { asked: number; port: number };
      ports.set(asked, port);
      pending = pending.slice(nl + 1);
    }
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (exitCode, signal) => {
      code = exitCode ?? (signal === null ? null : -1);
      resolve(code);
    }),
  );
  const listening = path.join(program.dir, '.listening');
  const started = Date.now();
  while (ports.size < listens && code === undefined) {
    if (existsSync(listening)) {
      for (const line of readFileSync(listening, 'utf8').split('\n')) {
        if (line === '') continue;
        const { asked, port } = JSON.parse(line) as { asked: number; port: number };
        ports.set(asked, port);
      }
    }
    if (Date.now() - started > 30_000) {
      child.kill('SIGKILL');
      throw new Error(`${program.name} did not listen ${listens} time(s) within 30 s:\n${stdout}${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  if (listens === 0) {
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
    if (code !== 0)
      throw new Error(
        `${program.name} listens nowhere and did not end by itself (exit ${String(code)}):\n${stdout}${stderr}`,
      );
  }
  if (ports.size < listens)
    throw new Error(`${program.name} exited (${String(code)}) before it listened:\n${stdout}${stderr}`);
  return {
    ports,
    origin(asked) {
      const port = asked === undefined ? [...ports.values()][0] : ports.get(asked);
      if (port === undefined) throw new Error(`${program.name} has no server that asked for port ${String(asked)}`);
      return `http://127.0.0.1:${port}`;
    },
    stdout: () => stdout,
    stderr: () => stderr,
    exitCode: () => code,
    exited,
    async stop() {
      if (code !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The command that runs `program` on its runtime, its servers moved to loopback. */
function commandFor(program: Program): [string, string[]] {
  if (program.runtime === 'node')
    return [process.execPath, [...(program.typescript ? ['--import', 'tsx'] : []), '--import', LOOPBACK, program.file]];
  const binary = findRuntime(program.runtime);
  if ('missing' in binary) throw new Error(`${program.name} runs on ${program.runtime}: ${binary.missing}`);
  if (program.runtime === 'bun') return [binary.path, ['main.ts']];
  // Only what the server needs: reading files and node_modules, its loopback port, and the port file.
  return [binary.path, ['run', '--allow-read', '--allow-net=127.0.0.1', '--allow-write=.listening', 'main.ts']];
}

/** The output of a command, as latin1 text so that every byte of a body survives the round trip. */
export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to its end (killed after `timeoutMs`). */
export function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; timeoutMs?: number },
): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd: options.cwd, encoding: 'latin1', timeout: options.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/**
 * Runs a shell block with bash (`-euo pipefail`) in the snippet's folder, each `http://localhost:N` or
 * `http://127.0.0.1:N` it names moved to the loopback port the snippet's server asked for as N got. A
 * block that names none of those servers is refused: it would be talking to something else.
 */
export async function runShell(block: DocBlock, snippet: RunningSnippet, cwd: string): Promise<CommandResult> {
  let script = block.code;
  let moved = 0;
  script = script.replace(/\bhttp:\/\/(?:localhost|127\.0\.0\.1):(\d+)/g, (all, asked: string) => {
    const port = snippet.ports.get(Number(asked));
    if (port === undefined) return all;
    moved++;
    return `http://127.0.0.1:${port}`;
  });
  if (moved === 0) throw new Error(`${block.file}:${block.line} names no port the snippet's servers asked for`);
  return run('bash', ['-euo', 'pipefail', '-c', script], { cwd, timeoutMs: 30_000 });
}

/** One response as `curl -i` prints it: status, lowercase header fields (repeated ones joined), body. */
export interface CurlResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * The responses in `curl -i` / `curl -I` output, in order (several commands print several, one right
 * after the other's body). A body is as long as its Content-Length, or empty when the next response
 * starts at once (HEAD), or else runs to the next status line.
 */
export function curlResponses(output: string): CurlResponse[] {
  const statusLine = /HTTP\/[\d.]+ (\d{3})[^\r\n]*\r\n/g;
  const found: CurlResponse[] = [];
  let pos = 0;
  for (;;) {
    statusLine.lastIndex = pos;
    const start = statusLine.exec(output);
    if (start === null) return found;
    const from = start.index + start[0].length;
    const end = output.indexOf('\r\n\r\n', from);
    const head = output.slice(from, end === -1 ? output.length : end);
    const headers: Record<string, string> = {};
    for (const line of head.split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    const bodyStart = end === -1 ? output.length : end + 4;
    let bodyEnd: number;
    const length = Number(headers['content-length'] ?? Number.NaN);
    const rest = output.slice(bodyStart);
    if (rest === '' || /^HTTP\/[\d.]+ \d{3} /.test(rest)) bodyEnd = bodyStart;
    else if (Number.isInteger(length)) bodyEnd = Math.min(output.length, bodyStart + length);
    else {
      statusLine.lastIndex = bodyStart;
      bodyEnd = statusLine.exec(output)?.index ?? output.length;
    }
    found.push({ status: Number(start[1]), headers, body: output.slice(bodyStart, bodyEnd) });
    pos = bodyEnd;
  }
}
