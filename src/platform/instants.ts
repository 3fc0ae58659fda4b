/** Instants as Tenure accepts them from outside (API bodies, catalog documents) and stores them. */

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/**
 * An RFC 3339 date-time that JavaScript and PostgreSQL both read as the same instant: a real
 * calendar day, no leap second (`:60`), no hour 24, and a UTC year from 1 to 9999. The
 * `date-time` format of every schema uses this (see server.ts), so a value that passes
 * validation never turns into an Invalid Date or a database error later.
 */
export function isInstant(value: string): boolean {
  const m = RFC3339.exec(value);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  if (days === undefined || day < 1 || day > days || hour > 23 || minute > 59 || second > 59) return false;
  if (m[8] !== undefined && (Number(m[8]) > 23 || Number(m[9]) > 59)) return false;
  const time = Date.parse(value.toUpperCase());
  if (Number.isNaN(time)) return false;
  const utcYear = new Date(time).getUTCFullYear();
  return utcYear >= 1 && utcYear <= 9999;
}

/** The canonical form of an instant that passed `isInstant`: UTC, milliseconds, `Z`. */
export function canonicalInstant(value: string): string {
  return new Date(value.toUpperCase()).toISOString();
}
