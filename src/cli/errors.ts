/** How the CLI reports a failure. */
import { ProblemError } from '../platform/errors.ts';

/**
 * What went wrong, in one line or a few: never empty and never "undefined". An error without a
 * message (a library's bare reject(), node's AggregateError of refused connections) still says
 * what it is: its code, its name, or the errors inside it.
 */
export function describeError(error: unknown): string {
  if (error instanceof ProblemError) return `${error.type}: ${error.message}`;
  if (error instanceof AggregateError && error.errors.length) {
    return [error.message, ...error.errors.map(describeError)].filter((m) => m).join('; ');
  }
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (!error.message) return code ? `${error.name} ${code}` : `${error.name} (no message)`;
    // A database error's SQLSTATE tells the operator what kind it is.
    return code && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
  }
  if (error === undefined || error === null) return `failed without saying why (the error was ${error}); this is a bug in tenure, please report it`;
  if (typeof error === 'string') return error || 'failed with an empty error';
  try {
    return JSON.stringify(error);
  } catch {
    return String(error);
  }
}
