import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { negotiateContentCoding, preferredCodings } from '@range-serve/core';

const SERVER = ['br', 'zstd', 'gzip'] as const;

interface Row {
  readonly name: string;
  readonly header: string | readonly string[] | undefined;
  readonly expected: string;
  readonly offered?: readonly string[];
}

// One row per rule of Accept-Encoding negotiation (RFC 9110 §12.5.3), docs/behaviour.md "Content codings".
const rows: Row[] = [
  { name: 'no Accept-Encoding field means identity', header: undefined, expected: 'identity' },
  { name: 'an empty Accept-Encoding field means identity', header: '', expected: 'identity' },
  { name: 'a field of only commas and spaces means identity', header: ' , ,', expected: 'identity' },
  { name: 'a single listed coding is chosen', header: 'gzip', expected: 'gzip' },
  { name: 'codings are compared case-insensitively', header: 'GZip', expected: 'gzip' },
  { name: 'x-gzip is gzip', header: 'x-gzip', expected: 'gzip' },
  { name: 'the highest q wins over the server order', header: 'br;q=0.5, gzip;q=0.9', expected: 'gzip' },
  { name: 'equal q goes to the server order, not the client order', header: 'gzip, br', expected: 'br' },
  {
    name: 'equal q goes to the server order given as an option',
    header: 'gzip, br',
    expected: 'gzip',
    offered: ['gzip', 'br'],
  },
  { name: 'q=0 excludes a coding', header: 'br;q=0, gzip', expected: 'gzip' },
  { name: 'q=0 anywhere excludes a coding named twice', header: 'br, gzip;q=0.5, br;q=0', expected: 'gzip' },
  { name: 'q=0.000 excludes a coding', header: 'gzip;q=0.000', expected: 'identity' },
  { name: '* covers codings not listed', header: '*', expected: 'br' },
  { name: '* does not cover a coding excluded by name', header: 'br;q=0, *', expected: 'zstd' },
  { name: '* covers only codings not listed, at its own q', header: 'gzip;q=0.8, *;q=0.5', expected: 'gzip' },
  { name: '*;q=0 with nothing else acceptable means identity, never a refusal', header: '*;q=0', expected: 'identity' },
  { name: 'a coding the server does not have is not chosen', header: 'deflate, compress', expected: 'identity' },
  { name: 'identity listed with the same q as a coding wins the tie', header: 'identity, gzip', expected: 'identity' },
  { name: 'identity listed with a higher q wins', header: 'identity;q=1, br;q=0.9', expected: 'identity' },
  { name: 'a coding strictly preferred to a listed identity is chosen', header: 'identity;q=0.5, br', expected: 'br' },
  { name: 'identity not listed is below any acceptable coding', header: 'br;q=0.1', expected: 'br' },
  {
    name: 'identity;q=0 with no acceptable coding still means identity',
    header: 'identity;q=0, deflate',
    expected: 'identity',
  },
  { name: 'repeated fields are combined', header: ['gzip;q=0.5', 'br;q=0.9'], expected: 'br' },
  { name: 'repeated fields are combined for q=0', header: ['br', 'br;q=0'], expected: 'identity' },
  { name: 'a malformed weight ignores that element only', header: 'br;q=2, gzip', expected: 'gzip' },
  { name: 'a weight with four decimals is malformed', header: 'br;q=0.1234, gzip;q=0.1', expected: 'gzip' },
  { name: 'spaces around ; and = are allowed', header: 'br ; q = 0.2 , gzip ;q=0.1', expected: 'br' },
  { name: 'a browser default list chooses br', header: 'gzip, deflate, br, zstd', expected: 'br' },
];

describe('Accept-Encoding negotiation (RFC 9110 §12.5.3)', () => {
  for (const row of rows) {
    it(row.name, () => {
      assert.equal(negotiateContentCoding(row.header, row.offered ?? SERVER), row.expected);
    });
  }

  it('every acceptable coding is listed best first, ties in the server order', () => {
    assert.deepEqual(preferredCodings('gzip;q=0.5, *;q=0.5, br;q=0.9', SERVER), ['br', 'zstd', 'gzip']);
    assert.deepEqual(preferredCodings('gzip;q=0.9, zstd;q=0.9, br;q=0.1', SERVER), ['zstd', 'gzip', 'br']);
  });
});
