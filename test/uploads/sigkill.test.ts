/**
 * Durability: a server killed with SIGKILL right after acknowledging an offset, or in the middle of the
 * next append, comes back (after reconciling its directory) with at least that offset and the exact bytes.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { openRequest, pause, send } from './raw.ts';
import { startCrashChild } from './crash-server.ts';

const MiB = 1024 * 1024;
const TUS = { 'tus-resumable': '1.0.0' };
const PATCH = { ...TUS, 'content-type': 'application/offset+octet-stream' };

async function kill(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  const [code, signal] = (await exited) as [number | null, string | null];
  assert.equal(signal, 'SIGKILL', `child exited with ${code}`);
}

describe('a server killed with SIGKILL', () => {
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  for (const moment of ['right after the acknowledgement', 'in the middle of the next append'] as const) {
    it(`comes back with at least the acknowledged offset and the exact bytes (killed ${moment})`, async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-sigkill-'));
      dirs.push(dir);
      const content = randomBytes(3 * MiB);
      let { child, url } = await startCrashChild(dir);
      const created = await send(url, '/files', 'POST', { ...TUS, 'upload-length': String(content.length) });
      const location = created.headers.location ?? '';
      const first = await send(url, location, 'PATCH', { ...PATCH, 'upload-offset': '0' }, content.subarray(0, MiB));
      assert.equal(first.status, 204);
      const acknowledged = Number(first.headers['upload-offset']);
      assert.equal(acknowledged, MiB);
      if (moment === 'right after the acknowledgement') {
        await kill(child);
      } else {
        const open = await openRequest(
          url,
          location,
          'PATCH',
          { ...PATCH, 'upload-offset': String(MiB), 'content-length': String(2 * MiB) },
          content.subarray(MiB, MiB + MiB / 2),
        );
        await kill(child);
        open.cut();
      }
      ({ child, url } = await startCrashChild(dir));
      try {
        const head = await send(url, location, 'HEAD', TUS);
        assert.equal(head.status, 200);
        const offset = Number(head.headers['upload-offset']);
        assert.ok(offset >= acknowledged, `offset ${offset} went back below ${acknowledged}`);
        assert.ok(offset <= MiB + MiB / 2, `offset ${offset} is beyond the bytes sent`);
        // Reconciled on start-up: nothing past the durable offset is left in the data file.
        assert.equal(statSync(path.join(dir, location.slice('/files/'.length))).size, offset);
        const rest = await send(
          url,
          location,
          'PATCH',
          { ...PATCH, 'upload-offset': String(offset) },
          content.subarray(offset),
        );
        assert.equal(rest.status, 204);
        const got = await send(url, location, 'GET');
        assert.equal(got.status, 200);
        assert.ok(got.body.equals(content), 'the stored bytes differ from the bytes sent');
      } finally {
        await kill(child);
      }
    });
  }
  it('keeps every one of 30 concurrent creations it acknowledged (killed right after the last 201)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-sigkill-'));
    dirs.push(dir);
    let { child, url } = await startCrashChild(dir);
    const created = await Promise.all(
      Array.from({ length: 30 }, (_, i) => send(url, '/files', 'POST', { ...TUS, 'upload-length': String(100 + i) })),
    );
    await kill(child);
    assert.deepEqual(
      created.map((res) => res.status),
      created.map(() => 201),
    );
    ({ child, url } = await startCrashChild(dir));
    try {
      for (const [i, res] of created.entries()) {
        const head = await send(url, res.headers.location ?? '', 'HEAD', TUS);
        assert.equal(head.status, 200);
        assert.equal(head.headers['upload-offset'], '0');
        assert.equal(head.headers['upload-length'], String(100 + i));
      }
    } finally {
      await kill(child);
    }
  });

  it('keeps the durable checkpoints of one long append (killed 8 MiB into a 12 MiB body)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-sigkill-'));
    dirs.push(dir);
    const content = randomBytes(12 * MiB);
    let { child, url } = await startCrashChild(dir);
    const created = await send(url, '/files', 'POST', { ...TUS, 'upload-length': String(content.length) });
    const location = created.headers.location ?? '';
    const metadata = path.join(dir, `${location.slice('/files/'.length)}.json`);
    const durable = (): number => (JSON.parse(readFileSync(metadata, 'utf8')) as { offset: number }).offset;
    const open = await openRequest(
      url,
      location,
      'PATCH',
      { ...PATCH, 'upload-offset': '0', 'content-length': String(content.length) },
      content.subarray(0, 10 * MiB),
    );
    // Bounded wait for the first checkpoint to reach the metadata file.
    for (let i = 0; i < 100 && durable() < 8 * MiB; i++) await pause(50);
    const checkpoint = durable();
    assert.ok(checkpoint >= 8 * MiB, `no checkpoint after 10 MiB sent (offset ${checkpoint})`);
    await kill(child);
    open.cut();
    ({ child, url } = await startCrashChild(dir));
    try {
      const head = await send(url, location, 'HEAD', TUS);
      const offset = Number(head.headers['upload-offset']);
      assert.ok(offset >= checkpoint, `offset ${offset} went back below the checkpoint ${checkpoint}`);
      const rest = await send(
        url,
        location,
        'PATCH',
        { ...PATCH, 'upload-offset': String(offset) },
        content.subarray(offset),
      );
      assert.equal(rest.status, 204);
      const got = await send(url, location, 'GET');
      assert.ok(got.body.equals(content), 'the stored bytes differ from the bytes sent');
    } finally {
      await kill(child);
    }
  });
});
