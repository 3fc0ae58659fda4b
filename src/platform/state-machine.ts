/**
 * Lifecycles as transition tables: each command names the states it may run from and the
 * state it leads to. One table per lifecycle lives in its part's model.ts; these two functions
 * are the only code that reads one, so every lifecycle answers a refused command the same way
 * (the commands its current state allows, in the table's order, for illegal-transition).
 */

/** A transition table: command → the states it runs from and the state it leads to. Rows may carry more (event, guard …). */
export type TransitionTable<S extends string = string> = Readonly<Record<string, { readonly from: readonly S[]; readonly to: unknown }>>;

/** The commands of `table` that `state` allows, in the table's order. */
export function allowedCommands<T extends TransitionTable>(table: T, state: string): (keyof T & string)[] {
  return (Object.keys(table) as (keyof T & string)[]).filter((command) => (table[command].from as readonly string[]).includes(state));
}

/** Where `command` leads from `state`, or, when `state` refuses it, the commands it allows. */
export function transition<T extends TransitionTable, C extends keyof T & string>(
  table: T,
  state: string,
  command: C,
): { ok: true; to: T[C]['to'] } | { ok: false; allowed: (keyof T & string)[] } {
  const row = table[command];
  if ((row.from as readonly string[]).includes(state)) return { ok: true, to: row.to };
  return { ok: false, allowed: allowedCommands(table, state) };
}
