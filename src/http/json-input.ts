/**
 * The limits of JSON input, in one place (docs/api.md, "Input limits"). Two checks, each one
 * iterative walk (an explicit stack, never recursion: no input can overflow the call stack):
 *
 * - `parseJsonBody`: what a body must be to be read at all: JSON, nested at most
 *   MAX_JSON_DEPTH deep, without `__proto__` or `constructor.prototype` keys. It is the
 *   `application/json` parser, so nothing after it (idempotency hashing, validation, the
 *   database driver) ever sees a deeper document.
 * - `findUnstorableValue`: what every string, key and number of a body, query or path must be
 *   for PostgreSQL to store it exactly: no lone UTF-16 surrogate (jsonb refuses it, text turns
 *   it into U+FFFD), no U+0000, no number JSON cannot carry exactly (±Infinity, integers
 *   beyond 2^53 − 1).
 */
import { ValidationError, type FieldError } from '../platform/errors.ts';

/** Objects and arrays nested deeper than this are refused; `{}` is depth 1. */
export const MAX_JSON_DEPTH = 32;

interface Node {
  value: unknown;
  depth: number;
  parent: Node | null;
  key: string | null;
}

/** The JSON pointer of a node (RFC 6901), with unstorable code units written as `\uXXXX`. */
function pointerOf(node: Node, prefix: string): string {
  const keys: string[] = [];
  for (let n: Node | null = node; n && n.key !== null; n = n.parent) keys.push(n.key);
  const path = keys.reverse().map((k) => '/' + printable(k.replace(/~/g, '~0').replace(/\//g, '~1'))).join('');
  return prefix + path || '/';
}

/** A key shown in a pointer must itself be storable (the problem is stored under its Idempotency-Key). */
function printable(text: string): string {
  return text.replace(/[\u0000\ud800-\udfff]/g, (c, offset: number, whole: string) => {
    const code = c.charCodeAt(0);
    // A well-formed pair stays as it is.
    if (code >= 0xd800 && code <= 0xdbff && /[\udc00-\udfff]/.test(whole[offset + 1] ?? '')) return c;
    if (code >= 0xdc00 && code <= 0xdfff && /[\ud800-\udbff]/.test(whole[offset - 1] ?? '')) return c;
    return '\\u' + code.toString(16).padStart(4, '0');
  });
}

/**
 * Visits every value and key of `root`, depth first in document order, and returns the first
 * problem `check` reports, with its pointer.
 */
function findFirst(root: unknown, prefix: string, check: (value: unknown, node: Node, isKey: boolean) => string | null): FieldError | null {
  const stack: Node[] = [{ value: root, depth: 0, parent: null, key: null }];
  while (stack.length > 0) {
    const node = stack.pop()!;
    const problem = check(node.value, node, false);
    if (problem !== null) return { field: pointerOf(node, prefix), message: problem };
    const { value } = node;
    if (value === null || typeof value !== 'object') continue;
    const children: Node[] = [];
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) children.push({ value: value[i], depth: node.depth + 1, parent: node, key: String(i) });
    } else {
      for (const key of Object.keys(value)) {
        const child: Node = { value: (value as Record<string, unknown>)[key], depth: node.depth + 1, parent: node, key };
        const keyProblem = check(key, child, true);
        if (keyProblem !== null) return { field: pointerOf(child, prefix), message: keyProblem };
        children.push(child);
      }
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
  }
  return null;
}

function refuse(error: FieldError): never {
  throw new ValidationError(`${error.field}: ${error.message}`, [error]);
}

/** The `application/json` body parser: JSON, not too deep, no prototype keys; else a 400 naming where. */
export function parseJsonBody(text: string): unknown {
  if (text.length === 0) refuse({ field: '/', message: 'is empty; a request with Content-Type application/json needs a JSON body' });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    // V8's message quotes the input; say only where it broke.
    const at = /position (\d+)/.exec(String((error as Error).message));
    refuse({ field: '/', message: `is not valid JSON${at ? ` (at character ${at[1]})` : ''}` });
  }
  const problem = findFirst(value, '', (item, node, isKey) => {
    if (isKey) {
      if (item === '__proto__') return 'is a forbidden key ("__proto__" could change an object\'s prototype); rename it';
      if (item === 'prototype' && node.parent?.key === 'constructor') return 'is a forbidden key ("constructor.prototype" could change an object\'s prototype); rename it';
      return null;
    }
    if (item !== null && typeof item === 'object' && node.depth >= MAX_JSON_DEPTH) {
      return `is nested too deeply: JSON bodies may nest objects and arrays at most ${MAX_JSON_DEPTH} levels deep`;
    }
    return null;
  });
  if (problem) refuse(problem);
  return value;
}

function stringProblem(text: string): string | null {
  if (text.includes('\u0000')) return 'must not contain the NUL character (U+0000)';
  // A high surrogate not followed by a low one, or a low one not preceded by a high one.
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text)) {
    return 'must not contain a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape): it is not a Unicode character';
  }
  return null;
}

/** The first string, key or number of `value` that could not be stored exactly, or null. */
export function findUnstorableValue(value: unknown, prefix = ''): FieldError | null {
  return findFirst(value, prefix, (item) => {
    if (typeof item === 'string') return stringProblem(item);
    if (typeof item === 'number') {
      if (!Number.isFinite(item)) return 'is a number out of range';
      if (Number.isInteger(item) && !Number.isSafeInteger(item)) {
        return 'is an integer beyond ±9007199254740991, which JSON numbers cannot carry exactly; send it as a string';
      }
    }
    return null;
  });
}

/** Throws the 400 for the first unstorable value of a request part (body '', '/querystring', '/params'). */
export function checkStorable(value: unknown, prefix = ''): void {
  // A raw body (the signed callback route parses it itself, after its signature) is not JSON yet.
  if (value instanceof Uint8Array) return;
  const problem = findUnstorableValue(value, prefix);
  if (problem) refuse(problem);
}
