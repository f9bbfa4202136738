// normalizeOptions: the choices serve-static users expect to carry over (docs/behaviour.md "Responses").
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeOptions } from '@range-serve/core/adapter';
import { optionHeaders } from '../../packages/core/src/options.ts';

describe('normalizeOptions', () => {
  const rows: { name: string; maxAge: number | string; cacheControl: string }[] = [
    { name: 'maxAge 0 is sent as max-age=0', maxAge: 0, cacheControl: 'public, max-age=0' },
    { name: "maxAge '1d' is sent as a day in seconds", maxAge: '1d', cacheControl: 'public, max-age=86400' },
    { name: 'maxAge over one year is sent as one year', maxAge: '2y', cacheControl: 'public, max-age=31536000' },
    { name: 'a negative maxAge is sent as max-age=0', maxAge: -5000, cacheControl: 'public, max-age=0' },
    { name: 'maxAge milliseconds are rounded down to whole seconds', maxAge: 1999, cacheControl: 'public, max-age=1' },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const headers = optionHeaders(normalizeOptions({ maxAge: row.maxAge }), undefined, true);
      assert.equal(headers['cache-control'], row.cacheControl);
    });
  }
});
