/**
 * What the tables' row mapping shares: timestamps read as ISO strings, the version columns
 * every versioned table ends with, and whole-row reads through the table's one mapper.
 */
import { queryOne, queryRows, type Tx } from '../../platform/db.ts';

export const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());
export const isoRequired = (d: Date): string => d.toISOString();

/** version, created_at and updated_at, the last columns of every versioned entity. */
export function versionColumns(r: any): { version: number; createdAt: string; updatedAt: string } {
  return { version: r.version, createdAt: isoRequired(r.created_at), updatedAt: isoRequired(r.updated_at) };
}

/** A statement's text and values, for a caller that sends it as part of a larger one (history.ts). */
export interface Statement {
  text: string;
  params: unknown[];
}

/** The one row a statement selects, mapped; undefined when there is none. */
export async function selectOne<T>(tx: Tx, fromRow: (row: any) => T, text: string, params: unknown[]): Promise<T | undefined> {
  const row = await queryOne(tx, text, params);
  return row ? fromRow(row) : undefined;
}

/** Every row a statement selects (or returns), mapped. */
export async function selectAll<T>(tx: Tx, fromRow: (row: any) => T, text: string, params: unknown[]): Promise<T[]> {
  return (await queryRows(tx, text, params)).map(fromRow);
}

/**
 * A write meant for exactly one row (an optimistic update: `... and version = $expected`):
 * true when it changed that row, false when the row was no longer as expected — another
 * transaction got there first, and the caller must fail, never reload and overwrite.
 */
export async function writesOne(tx: Tx, text: string, params: unknown[]): Promise<boolean> {
  return (await tx.query(text, params)).rowCount === 1;
}
