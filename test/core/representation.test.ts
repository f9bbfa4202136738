import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import {
  BadPathError,
  FileForbiddenError,
  FileNotFoundError,
  NotAFileError,
  openFile,
  OpenFileError,
} from '@range-serve/core';
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

describe('the errors openFile raises', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rs-open-errors-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'a.txt'), 'a');
  fs.symlinkSync(path.join(dir, 'a.txt'), path.join(dir, 'link.txt'));
  execFileSync('mkfifo', [path.join(dir, 'fifo')]);

  const rows: {
    name: string;
    open: () => Promise<unknown>;
    type: new (...args: never[]) => OpenFileError;
    status: number;
    code: string;
    expose: boolean;
  }[] = [
    {
      name: 'a missing file is a FileNotFoundError: 404, not exposed, code ENOENT',
      open: () => openFile(path.join(dir, 'missing.txt')),
      type: FileNotFoundError,
      status: 404,
      code: 'ENOENT',
      expose: false,
    },
    {
      name: 'a path through a file is a FileNotFoundError: 404, code ENOTDIR',
      open: () => openFile(path.join(dir, 'a.txt', 'b.txt')),
      type: FileNotFoundError,
      status: 404,
      code: 'ENOTDIR',
      expose: false,
    },
    {
      name: 'a directory is a NotAFileError: 404, code EISDIR',
      open: () => openFile(dir),
      type: NotAFileError,
      status: 404,
      code: 'EISDIR',
      expose: false,
    },
    {
      name: 'a FIFO is a NotAFileError: 403, code ENOTFILE',
      open: () => openFile(path.join(dir, 'fifo')),
      type: NotAFileError,
      status: 403,
      code: 'ENOTFILE',
      expose: false,
    },
    {
      name: 'a symbolic link opened with followSymlinks: false is a FileForbiddenError: 403, code ELOOP',
      open: () => openFile(path.join(dir, 'link.txt'), { followSymlinks: false }),
      type: FileForbiddenError,
      status: 403,
      code: 'ELOOP',
      expose: false,
    },
    {
      name: 'a path with a NUL byte is a BadPathError: 400, exposed',
      open: () => openFile(path.join(dir, 'a\0.txt')),
      type: BadPathError,
      status: 400,
      code: 'ERR_BAD_PATH',
      expose: true,
    },
  ];
  for (const row of rows) {
    it(row.name, async () => {
      await assert.rejects(row.open(), (err: unknown) => {
        assert.ok(err instanceof row.type, String(err));
        assert.ok(err instanceof OpenFileError);
        assert.equal(err.status, row.status);
        assert.equal(err.statusCode, row.status);
        assert.equal(err.expose, row.expose);
        assert.equal(err.code, row.code);
        assert.equal(err.name, row.type.name);
        // An exposed message names no path of the server.
        if (err.expose) assert.equal(err.message.includes(dir), false);
        return true;
      });
    });
  }

  it('a file system error keeps its own message and is the cause', async () => {
    const missing = path.join(dir, 'missing.txt');
    await assert.rejects(openFile(missing), (err: unknown) => {
      assert.ok(err instanceof FileNotFoundError);
      assert.equal(err.path, missing);
      assert.equal((err.cause as { code?: string }).code, 'ENOENT');
      assert.equal(err.message, (err.cause as Error).message);
      return true;
    });
  });
});
