import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { openFile } from '@range-serve/core';
import { closeRepresentation } from '@range-serve/core/adapter';

describe('closeRepresentation', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rs-rep-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'a.txt'), 'a');
  fs.writeFileSync(path.join(dir, 'b.txt'), 'b');

  it('closing two copies of one file representation closes its descriptor once, never a reused number', async () => {
    const a = await openFile(path.join(dir, 'a.txt'));
    const copy = { ...a, path: '/elsewhere/a.txt' };
    await closeRepresentation(a);
    // The kernel hands out the lowest free number, so b now very likely holds a's old descriptor.
    const b = await openFile(path.join(dir, 'b.txt'));
    await closeRepresentation(copy);
    assert.equal(fs.readFileSync(b.fd, 'utf8'), 'b', "b's descriptor was closed through a's copy");
    await closeRepresentation(b);
    assert.throws(() => fs.fstatSync(b.fd), { code: 'EBADF' });
  });
});
