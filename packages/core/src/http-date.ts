/**
 * HTTP-date (RFC 9110 §5.6.7): IMF-fixdate, the obsolete RFC 850 form and asctime.
 * Parsing is strict (a malformed date is `undefined`, and the caller ignores the field)
 * and every value is whole seconds since the epoch, times 1000.
 */

const MONTHS: Record<string, number> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11,
};
const SHORT_DAYS = new Set(['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']);
const LONG_DAYS = new Set(['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday']);

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
const IMF_FIXDATE = /^([A-Z][a-z]{2}), (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
// rfc850-date: "Sunday, 06-Nov-94 08:49:37 GMT"
const RFC850_DATE = /^([A-Z][a-z]{5,8}), (\d{2})-([A-Z][a-z]{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
// asctime-date: "Sun Nov  6 08:49:37 1994"
const ASCTIME_DATE = /^([A-Z][a-z]{2}) ([A-Z][a-z]{2}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

/** Parses an HTTP-date in any of its three forms; returns epoch milliseconds (whole seconds) or `undefined`. */
export function parseHttpDate(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  let m = IMF_FIXDATE.exec(text);
  if (m !== null) {
    if (!SHORT_DAYS.has(m[1] as string)) return undefined;
    return toEpoch(+(m[4] as string), m[3] as string, +(m[2] as string), m[5], m[6], m[7]);
  }
  m = RFC850_DATE.exec(text);
  if (m !== null) {
    if (!LONG_DAYS.has(m[1] as string)) return undefined;
    return toEpoch(fullYear(+(m[4] as string), now), m[3] as string, +(m[2] as string), m[5], m[6], m[7]);
  }
  m = ASCTIME_DATE.exec(text);
  if (m !== null) {
    if (!SHORT_DAYS.has(m[1] as string)) return undefined;
    return toEpoch(+(m[7] as string), m[2] as string, +(m[3] as string).trim(), m[4], m[5], m[6]);
  }
  return undefined;
}

/** RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is the most recent past year with those digits. */
function fullYear(twoDigits: number, now: number): number {
  const thisYear = new Date(now).getUTCFullYear();
  let year = Math.floor(thisYear / 100) * 100 + twoDigits;
  if (year > thisYear + 50) year -= 100;
  // §5.6.7: only a year more than 50 years ahead goes back a century; late in a century, a small
  // two-digit year is in the next one (in 2099, "00" is 2100, not 2000).
  else if (year <= thisYear - 50) year += 100;
  return year;
}

function toEpoch(
  year: number,
  monthName: string,
  day: number,
  hh: string | undefined,
  mm: string | undefined,
  ss: string | undefined,
): number | undefined {
  const month = MONTHS[monthName];
  const hour = Number(hh);
  const minute = Number(mm);
  // §5.6.7 allows second 60 (a leap second); it is folded into the next minute like most clocks do.
  const second = Number(ss);
  if (month === undefined || hour > 23 || minute > 59 || second > 60 || day < 1) return undefined;
  const daysInMonth = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  if (day > daysInMonth) return undefined;
  const ms = Date.UTC(year, month, day, hour, minute, second);
  return Number.isFinite(ms) ? ms : undefined;
}

/** Formats epoch milliseconds as an IMF-fixdate (RFC 9110 §5.6.7), the only form a sender generates. */
export function formatHttpDate(epochMs: number): string {
  // A server formats the same few modification dates over and over: keep the strings.
  let text = formatted.get(epochMs);
  if (text === undefined) {
    if (formatted.size >= FORMATTED_MAX) formatted.clear();
    text = new Date(epochMs).toUTCString();
    formatted.set(epochMs, text);
  }
  return text;
}

const FORMATTED_MAX = 1024;
const formatted = new Map<number, string>();

/** Truncates epoch milliseconds to whole seconds: HTTP dates carry no finer precision (RFC 9110 §8.8.2). */
export function toSeconds(epochMs: number): number {
  return Math.floor(epochMs / 1000) * 1000;
}
