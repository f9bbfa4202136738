import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRange, type RangeResult } from '@range-serve/core';

interface Row {
  name: string;
  header: string;
  size: number;
  expected: RangeResult;
  maxRanges?: number;
}

const ignored = (reason: string): RangeResult => ({ type: 'ignored', reason }) as RangeResult;
const ranges = (...spans: [number, number][]): RangeResult => ({
  type: 'satisfiable',
  ranges: spans.map(([start, end]) => ({ start, end })),
});

// One row per rule of docs/behaviour.md "Range requests".
const rows: Row[] = [
  { name: 'a unit other than bytes is ignored', header: 'items=0-1', size: 10, expected: ignored('unit') },
  { name: 'the unit is compared case-insensitively', header: 'BYTES=0-1', size: 10, expected: ranges([0, 1]) },
  { name: 'a non-numeric spec is a syntax error', header: 'bytes=abc', size: 10, expected: ignored('syntax') },
  { name: 'a spec with two dashes is a syntax error', header: 'bytes=1-2-3', size: 10, expected: ignored('syntax') },
  { name: 'an empty range set is a syntax error', header: 'bytes=', size: 10, expected: ignored('syntax') },
  { name: 'a header without = is a syntax error', header: 'bytes 0-1', size: 10, expected: ignored('syntax') },
  { name: 'a reversed spec makes the header invalid', header: 'bytes=5-1', size: 10, expected: ignored('reversed') },
  { name: 'a reversed spec invalidates a set', header: 'bytes=0-1,5-1', size: 10, expected: ignored('reversed') },
  { name: 'a suffix longer than the length is the whole', header: 'bytes=-50', size: 10, expected: ranges([0, 9]) },
  { name: 'a last-pos past the end is clamped', header: 'bytes=5-500', size: 10, expected: ranges([5, 9]) },
  { name: 'bytes=-0 is unsatisfiable', header: 'bytes=-0', size: 10, expected: { type: 'unsatisfiable' } },
  {
    name: 'a first-pos at the length is unsatisfiable',
    header: 'bytes=10-',
    size: 10,
    expected: { type: 'unsatisfiable' },
  },
  { name: 'unsatisfiable specs are dropped from a set', header: 'bytes=20-30,0-1', size: 10, expected: ranges([0, 1]) },
  { name: 'overlapping specs merge', header: 'bytes=0-5,3-8', size: 10, expected: ranges([0, 8]) },
  { name: 'adjacent specs merge', header: 'bytes=0-4,5-9', size: 20, expected: ranges([0, 9]) },
  {
    name: 'merged parts keep the order of the first spec of each group',
    header: 'bytes=8-9,0-1,2-3',
    size: 10,
    expected: ranges([8, 9], [0, 3]),
  },
  {
    name: 'a group keeps the order of its first spec even when that spec sorts last inside it',
    header: 'bytes=-1,0-0,-2',
    size: 37,
    expected: ranges([35, 36], [0, 0]),
  },
  {
    name: 'a spec contained in a later one gives the group its position',
    header: 'bytes=5-5,0-0,4-6',
    size: 10,
    expected: ranges([4, 6], [0, 0]),
  },
  {
    name: 'empty list elements and OWS are accepted',
    header: 'bytes= ,\t0-1 , ,3-4\t,',
    size: 10,
    expected: ranges([0, 1], [3, 4]),
  },
  {
    name: 'more ranges than maxRanges are ignored',
    header: 'bytes=0-0,2-2,4-4',
    size: 10,
    maxRanges: 2,
    expected: ignored('too-many-ranges'),
  },
  {
    name: 'a zero-length representation is never ranged',
    header: 'bytes=0-1',
    size: 0,
    expected: ignored('empty-representation'),
  },
  {
    name: 'a last-pos past MAX_SAFE_INTEGER is clamped, not rounded',
    header: 'bytes=3-99999999999999999999',
    size: 10,
    expected: ranges([3, 9]),
  },
  {
    name: 'a first-pos past MAX_SAFE_INTEGER is past the end',
    header: 'bytes=9007199254740993-',
    size: 10,
    expected: { type: 'unsatisfiable' },
  },
  {
    name: 'a suffix past MAX_SAFE_INTEGER is the whole representation',
    header: 'bytes=-99999999999999999999',
    size: 10,
    expected: ranges([0, 9]),
  },
];

describe('parseRange', () => {
  for (const row of rows) {
    it(row.name, () => {
      assert.deepEqual(parseRange(row.header, row.size, { maxRanges: row.maxRanges }), row.expected);
    });
  }
  it('an absent header is absent', () => {
    assert.deepEqual(parseRange(undefined, 10), { type: 'absent' });
  });
});
