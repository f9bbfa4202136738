/** The per-upload lock: turns in order, the holder interrupted by each newer request, never two holders. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UploadLocks } from '../../packages/core/src/upload/lock.ts';

describe('upload lock', () => {
  it('a newer request interrupts the holder and gets the upload once it lets go', async () => {
    const locks = new UploadLocks();
    const events: string[] = [];
    const first = await locks.acquire('a');
    first.onInterrupt(() => {
      events.push('first interrupted');
      setTimeout(() => {
        events.push('first released');
        first.release();
      }, 20);
    });
    const second = locks.acquire('a').then((lease) => {
      events.push('second holds');
      return lease;
    });
    (await second).release();
    assert.deepEqual(events, ['first interrupted', 'first released', 'second holds']);
    assert.equal(locks.busy('a'), false);
  });

  it('a writer that registers while a newer request waits is interrupted at once', async () => {
    const locks = new UploadLocks();
    const first = await locks.acquire('a');
    const second = locks.acquire('a');
    let interrupted = false;
    first.onInterrupt(() => {
      interrupted = true;
      first.release();
    });
    (await second).release();
    assert.equal(interrupted, true);
  });

  it('three requests hold the upload one after another, never two at once', async () => {
    const locks = new UploadLocks();
    let holders = 0;
    let most = 0;
    const turn = async (name: string, order: string[]): Promise<void> => {
      const lease = await locks.acquire('a');
      holders += 1;
      most = Math.max(most, holders);
      order.push(name);
      await new Promise((resolve) => setTimeout(resolve, 5));
      holders -= 1;
      lease.release();
    };
    const order: string[] = [];
    await Promise.all([turn('x', order), turn('y', order), turn('z', order)]);
    assert.deepEqual(order, ['x', 'y', 'z']);
    assert.equal(most, 1);
    assert.equal(locks.busy('a'), false);
  });

  it('different uploads do not wait for each other', async () => {
    const locks = new UploadLocks();
    const a = await locks.acquire('a');
    const b = await locks.acquire('b');
    a.release();
    b.release();
    assert.equal(locks.busy('a') || locks.busy('b'), false);
  });
});
