/**
 * Without `redis` one process owns an upload directory: a second live process on it refuses to start
 * with a clear error, and a dead owner's directory is taken over.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createUploadHandler } from '@range-serve/core/upload';

const CHILD = fileURLToPath(new URL('./owner-child.ts', import.meta.url));

function start(dir: string): { child: ChildProcess; line: Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = new Promise<string>((resolve) => {
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('close', () => resolve(out.trim()));
  });
  return { child, line };
}

describe('one process owns an upload directory without redis', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-owner-'));
  const children: ChildProcess[] = [];
  after(() => {
    for (const child of children) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('a second live process refuses to start, naming the owner; a dead owner is taken over', async () => {
    const first = start(dir);
    children.push(first.child);
    assert.equal(await first.line, 'ready');
    const second = start(dir);
    children.push(second.child);
    const refusal = await second.line;
    assert.match(refusal, /^refused: DirectoryOwnedError: the upload directory .* is in use by process (\d+) on /);
    assert.ok(refusal.includes(`process ${first.child.pid} on`), refusal);
    assert.ok(refusal.includes('`redis`'), refusal);
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('close', resolve));
    const third = start(dir);
    children.push(third.child);
    assert.equal(await third.line, 'ready');
  });

  it('an engine closed and made again in the same process opens its directory again', async () => {
    const other = mkdtempSync(path.join(tmpdir(), 'range-serve-owner-same-'));
    const a = createUploadHandler({ directory: other });
    await a.ready;
    a.close();
    const b = createUploadHandler({ directory: other });
    await b.ready;
    b.close();
    rmSync(other, { recursive: true, force: true });
  });
});
