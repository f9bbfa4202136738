// Crashes under a stream of appends: a child upload server is killed with SIGKILL at a random moment
// while a client streams appends of random sizes (some long enough for in-body checkpoints), and is
// restarted on the same directory, 20 times. After each restart the offset is never below one already
// acknowledged (by an append or a HEAD), the data file holds exactly the bytes up to it, and the client
// resumes from there.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { send } from '../uploads/raw.ts';
import { startCrashChild } from '../uploads/crash-server.ts';

const KILLS = Number(process.env.UPLOAD_KILLS ?? 20);
const MiB = 1024 * 1024;
const SIZE = 48 * MiB;
const TUS = { 'tus-resumable': '1.0.0' };

describe(`a server killed with SIGKILL ${KILLS} times under a stream of appends`, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-upload-kills-'));
  let child: ChildProcess | undefined;
  after(() => {
    if (child?.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('never loses an acknowledged offset and keeps the exact bytes below it', async () => {
    let running = await startCrashChild(dir);
    child = running.child;
    let content = randomBytes(SIZE);
    let location = '';
    let acknowledged = 0;
    const newUpload = async (): Promise<void> => {
      content = randomBytes(SIZE);
      const created = await send(running.url, '/files', 'POST', { ...TUS, 'upload-length': String(SIZE) });
      assert.equal(created.status, 201);
      location = created.headers.location ?? '';
      acknowledged = 0;
    };
    await newUpload();
    const figures: string[] = [];
    let completed = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      let stop = false;
      // The client: appends one after another from the offset it knows, until the server dies.
      const client = (async () => {
        let offset = acknowledged;
        while (!stop && offset < SIZE) {
          const length = Math.min(SIZE - offset, (Math.random() < 0.3 ? 12 : 2) * MiB * Math.random() + 1);
          const n = Math.floor(length);
          let res;
          try {
            res = await send(
              running.url,
              location,
              'PATCH',
              { ...TUS, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset) },
              content.subarray(offset, offset + n),
            );
          } catch {
            return; // the server is gone
          }
          assert.equal(res.status, 204, `append answered ${res.status}`);
          offset = Number(res.headers['upload-offset']);
          acknowledged = Math.max(acknowledged, offset);
        }
      })();
      await sleep(50 + Math.random() * 600);
      const exited = once(running.child, 'exit');
      running.child.kill('SIGKILL');
      await exited;
      stop = true;
      await client;
      running = await startCrashChild(dir);
      child = running.child;
      const head = await send(running.url, location, 'HEAD', TUS);
      assert.equal(head.status, 200, `HEAD after restart ${kill + 1}`);
      const offset = Number(head.headers['upload-offset']);
      assert.ok(offset >= acknowledged, `restart ${kill + 1}: offset ${offset} went back below ${acknowledged}`);
      const stored = readFileSync(path.join(dir, location.slice('/files/'.length)));
      assert.equal(stored.length, offset, 'reconciled: nothing past the durable offset is kept');
      assert.ok(stored.equals(content.subarray(0, offset)), `restart ${kill + 1}: the bytes below ${offset} differ`);
      figures.push(`${(acknowledged / MiB).toFixed(1)}->${(offset / MiB).toFixed(1)}`);
      acknowledged = offset; // a HEAD acknowledges too
      if (offset === SIZE) {
        completed++;
        await newUpload();
      }
    }
    console.log(`  acknowledged -> after restart (MiB): ${figures.join(' ')}; uploads completed ${completed}`);
    running.child.kill('SIGKILL');
  });
});
