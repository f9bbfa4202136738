/**
 * The README's `npm start`: the demo stops when Ctrl-C or SIGTERM reaches npm, and leaves nothing behind,
 * neither a process nor a listening port. npm runs a script through `sh -c`, and forwards SIGINT and
 * SIGTERM only to that shell; a shell that does not hand its place to the server (dash, Debian's sh, does
 * not on its own) dies or waits while the server goes on serving, orphaned. The test runs `npm start`
 * itself, with `--ignore-scripts` so that its `prestart` build is not repeated (`npm test` built already),
 * and signals npm's pid as a terminal or a process manager would.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { repo } from './blocks.ts';

/** Every process whose parent chain leads to `pid`, from /proc. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The command name is in parentheses and may hold spaces; the fields after it are fixed.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(entry), Number(fields[1]));
    } catch {
      // the process ended while we looked
    }
  }
  const found: number[] = [];
  const walk = (parent: number): void => {
    for (const [child, ppid] of parents) {
      if (ppid === parent) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return found;
}

/** True while `pid` exists and is not a zombie (a zombie holds no port and runs nothing). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Whether something accepts connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitUntil(what: string, done: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  for (const started = Date.now(); !(await done());) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** `npm start` on a free port, once the demo prints its URL: npm's child, its descendants and the port. */
async function startDemo(
  uploads: string,
  detached: boolean,
): Promise<{ npm: ChildProcess; port: number; tree: number[]; output(): string }> {
  const npm = spawn('npm', ['start', '--ignore-scripts', '--', '--port', '0', '--quiet', '--uploads', uploads], {
    cwd: repo,
    detached,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  npm.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  npm.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  try {
    await waitUntil('the demo to print its URL', () => / at http:\/\/127\.0\.0\.1:\d+\//.test(output), 60_000);
  } catch (err) {
    for (const pid of [...descendants(npm.pid as number), npm.pid as number])
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    throw err;
  }
  const port = Number(/ at http:\/\/127\.0\.0\.1:(\d+)\//.exec(output)?.[1]);
  assert.ok(await listening(port), `the demo listens on ${port}`);
  const tree = descendants(npm.pid as number);
  assert.ok(tree.length > 0, 'npm started the demo as its child');
  return { npm, port, tree, output: () => output };
}

describe('npm start', { skip: process.platform !== 'linux' && 'reads /proc, which only Linux has' }, () => {
  const uploads = mkdtempSync(path.join(tmpdir(), 'range-serve-npm-start-'));
  after(() => rmSync(uploads, { recursive: true, force: true }));

  const cases: { name: string; detached: boolean; signal: (npm: ChildProcess) => void }[] = [
    {
      name: 'SIGTERM sent to npm (a process manager, `kill <npm pid>`)',
      detached: false,
      signal: (npm) => npm.kill('SIGTERM'),
    },
    { name: 'SIGINT sent to npm alone', detached: false, signal: (npm) => npm.kill('SIGINT') },
    {
      name: "Ctrl-C in a terminal (SIGINT to npm's whole process group)",
      detached: true,
      signal: (npm) => process.kill(-(npm.pid as number), 'SIGINT'),
    },
  ];

  for (const { name, detached, signal } of cases) {
    it(`stops on ${name}: npm exits, no process of it remains, and the port is closed`, async () => {
      const demo = await startDemo(uploads, detached);
      const exited = new Promise<void>((resolve) => demo.npm.once('exit', () => resolve()));
      try {
        signal(demo.npm);
        await Promise.race([
          exited,
          new Promise((_, reject) =>
            setTimeout(() => reject(new Error(`npm still runs 10 s after the signal:\n${demo.output()}`)), 10_000),
          ),
        ]);
        await waitUntil('every process npm started to end', () => demo.tree.every((pid) => !alive(pid)), 5_000).catch(
          () => assert.deepEqual(demo.tree.filter(alive), [], 'processes left running after npm exited'),
        );
        assert.equal(await listening(demo.port), false, `port ${demo.port} still accepts connections`);
      } finally {
        // Whatever the outcome, nothing this test started outlives it: by the pids it recorded.
        for (const pid of [demo.npm.pid as number, ...demo.tree]) {
          if (alive(pid)) process.kill(pid, 'SIGKILL');
        }
      }
    });
  }

  it('builds the packages first (its prestart), as a fresh clone needs: the demo imports them from dist', () => {
    const { scripts } = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    assert.equal(scripts.prestart, 'npm run build --silent');
    assert.match(scripts.start ?? '', /examples\/server\.ts/);
    assert.ok(existsSync(path.join(repo, 'examples', 'server.ts')));
  });
});
