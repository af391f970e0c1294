/**
 * Checks on the event data that JSON Schema cannot express, and the compact form of the
 * JSON text that the gateway stores and publishes.
 */
import type { FieldError } from "../errors.js";

/** Maximum nesting of objects and arrays in event data; the body object is level 1. */
export const MAX_DEPTH = 64;

/** At most this many problems are reported for one body. */
const MAX_REPORTED = 20;

interface Pending {
  readonly value: unknown;
  readonly pointer: string;
  readonly depth: number;
  /** The member's key when the value is an object member, checked before the value. */
  readonly key?: string;
}

/**
 * Returns the parts of `data` that PostgreSQL's jsonb cannot store or that exceed MAX_DEPTH,
 * in document order. These are strings and keys containing U+0000 or an unpaired UTF-16
 * surrogate, numbers outside the range of a double (JSON.parse turned them into Infinity),
 * and objects with duplicate keys. An empty list means valid. Paths are JSON Pointers
 * rooted at `root`.
 *
 * `compacted` is the compacted text that `data` was parsed from. JSON.parse keeps only the
 * last of duplicate keys, so the data has fewer keys than the text exactly when an object
 * in the text has duplicate keys.
 */
export function findInvalidEventData(
  data: unknown,
  compacted: CompactedJson,
  root = "/body",
): FieldError[] {
  const problems: FieldError[] = [];
  const stack: Pending[] = [{ value: data, pointer: root, depth: 1 }];
  let keyCount = 0;

  while (stack.length > 0 && problems.length < MAX_REPORTED) {
    const { value, pointer, depth, key } = stack.pop() as Pending;

    if (key !== undefined) {
      const keyProblem = describeInvalidString(key);
      if (keyProblem !== undefined) problems.push({ path: pointer, message: `key ${keyProblem}` });
    }
    if (typeof value === "string") {
      const problem = describeInvalidString(value);
      if (problem !== undefined) problems.push({ path: pointer, message: problem });
    } else if (typeof value === "number") {
      if (!Number.isFinite(value)) {
        problems.push({ path: pointer, message: "number is too large to represent" });
      }
    } else if (Array.isArray(value)) {
      if (depth > MAX_DEPTH) {
        problems.push({ path: pointer, message: `nesting exceeds ${MAX_DEPTH} levels` });
        continue;
      }
      // The stack pops last in, first out, so items go in from the end.
      for (let index = value.length - 1; index >= 0; index--) {
        stack.push({ value: value[index], pointer: `${pointer}/${index}`, depth: depth + 1 });
      }
    } else if (typeof value === "object" && value !== null) {
      if (depth > MAX_DEPTH) {
        problems.push({ path: pointer, message: `nesting exceeds ${MAX_DEPTH} levels` });
        continue;
      }
      const entries = Object.entries(value);
      keyCount += entries.length;
      for (let index = entries.length - 1; index >= 0; index--) {
        const [childKey, child] = entries[index] as [string, unknown];
        const childPointer = `${pointer}/${escapePointerToken(childKey)}`;
        stack.push({ value: child, pointer: childPointer, depth: depth + 1, key: childKey });
      }
    }
  }

  // Only a complete walk has counted every key, and any cut-off reports a problem.
  if (problems.length === 0 && keyCount !== compacted.keyCount) {
    return findObjectsWithDuplicateKeys(compacted.text, root);
  }
  if (problems.length === 0 && hasNumberOutsideNumericRange(compacted.text)) {
    problems.push({ path: root, message: NUMERIC_RANGE_MESSAGE });
  }
  return problems;
}

function describeInvalidString(text: string): string | undefined {
  if (text.includes("\u0000")) return "contains U+0000, which PostgreSQL cannot store";
  if (!text.isWellFormed()) return "contains an unpaired UTF-16 surrogate";
  return undefined;
}

/** Escapes a key for a JSON Pointer (RFC 6901, section 3): `~` as `~0`, `/` as `~1`. */
function escapePointerToken(key: string): string {
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const SPACE = 0x20;
const TAB = 0x09;
const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** Valid JSON text without whitespace between tokens, and the number of keys in it. */
export interface CompactedJson {
  readonly text: string;
  /** Keys in all objects, each duplicate counted. */
  readonly keyCount: number;
}

/**
 * Removes the whitespace between tokens of valid JSON text, keeping everything else byte
 * for byte. Unlike JSON.stringify(JSON.parse(text)), this keeps every digit of numbers
 * beyond 2^53 and the producer's key order.
 */
export function compactJson(text: string): string {
  return compactJsonCountingKeys(text).text;
}

/**
 * Compacts valid JSON text as compactJson does and counts its keys in the same pass. In
 * valid JSON every key is followed by one ':' outside strings, and no other ':' occurs
 * outside strings, so the count is the number of those colons.
 */
export function compactJsonCountingKeys(text: string): CompactedJson {
  let output = "";
  let runStart = 0;
  let inString = false;
  let keyCount = 0;

  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (inString) {
      if (code === BACKSLASH) index++;
      else if (code === QUOTE) inString = false;
    } else if (code === QUOTE) {
      inString = true;
    } else if (code === COLON) {
      keyCount++;
    } else if (code === SPACE || code === TAB || code === LINE_FEED || code === CARRIAGE_RETURN) {
      output += text.slice(runStart, index);
      runStart = index + 1;
    }
  }
  return { text: runStart === 0 ? text : output + text.slice(runStart), keyCount };
}

/** An object or array that findObjectsWithDuplicateKeys is inside of. */
interface Container {
  readonly pointer: string;
  /** Keys seen so far, for an object; undefined for an array. */
  readonly keys: Set<string> | undefined;
  /** The current member's key, or the current item's index as text. */
  current: string;
  expectingKey: boolean;
  reported: boolean;
}

/**
 * Reports, in document order, each object in valid JSON `text` that has a key more than
 * once. Keys are compared after unescaping, so "a" and "\u0061" are the same key. This
 * pass decodes every key, so it runs only once the key counts showed a duplicate.
 */
function findObjectsWithDuplicateKeys(text: string, root: string): FieldError[] {
  const problems: FieldError[] = [];
  const stack: Container[] = [];

  for (let index = 0; index < text.length && problems.length < MAX_REPORTED; index++) {
    const code = text.charCodeAt(index);
    const container = stack.at(-1);
    if (code === QUOTE) {
      const end = endOfString(text, index);
      if (container?.keys !== undefined && container.expectingKey) {
        const key = JSON.parse(text.slice(index, end + 1)) as string;
        if (container.keys.has(key) && !container.reported) {
          problems.push({ path: container.pointer, message: "has duplicate keys" });
          container.reported = true;
        }
        container.keys.add(key);
        container.current = escapePointerToken(key);
        container.expectingKey = false;
      }
      index = end;
    } else if (code === OPEN_BRACE || code === OPEN_BRACKET) {
      const pointer = container === undefined ? root : `${container.pointer}/${container.current}`;
      const isObject = code === OPEN_BRACE;
      stack.push({
        pointer,
        keys: isObject ? new Set() : undefined,
        current: "0",
        expectingKey: isObject,
        reported: false,
      });
    } else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
      stack.pop();
    } else if (code === COMMA && container !== undefined) {
      if (container.keys === undefined) container.current = String(Number(container.current) + 1);
      else container.expectingKey = true;
    }
  }
  return problems;
}

/** Returns the index of the quote that ends the string starting at `start`. */
function endOfString(text: string, start: number): number {
  for (let index = start + 1; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code === BACKSLASH) index++;
    else if (code === QUOTE) return index;
  }
  return text.length;
}

/**
 * Splits compact JSON text of an array into the texts of its elements, without parsing
 * them, so that each element keeps its exact numbers.
 */
export function splitJsonArray(text: string): string[] {
  const elements: string[] = [];
  let depth = 0;
  let start = 1;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code === QUOTE) {
      index = endOfString(text, index);
    } else if (code === OPEN_BRACE || code === OPEN_BRACKET) {
      depth++;
    } else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
      depth--;
      if (depth === 0 && index > start) elements.push(text.slice(start, index));
    } else if (code === COMMA && depth === 1) {
      elements.push(text.slice(start, index));
      start = index + 1;
    }
  }
  return elements;
}

/** Maximum digits of PostgreSQL's numeric type, which jsonb uses for numbers. */
const MAX_DIGITS_BEFORE_POINT = 131_072;
const MAX_DIGITS_AFTER_POINT = 16_383;

const NUMERIC_RANGE_MESSAGE =
  "contains a number outside PostgreSQL's numeric range " +
  `(at most ${MAX_DIGITS_BEFORE_POINT} digits before the point and ${MAX_DIGITS_AFTER_POINT} after)`;

/**
 * Finds an exponent of four digits or more, which a number outside the range needs unless
 * it is written with more digits than the limit. It may match inside strings; the exact
 * scan below then decides.
 */
const LARGE_EXPONENT = /[eE][+-]?\d{4}/;

/**
 * Returns whether compact JSON `text` has a number that PostgreSQL's numeric rejects, such
 * as 1e-20000. JSON.parse turns that into 0, so only the text shows it. Finding it here
 * rejects the request with 400 before the number reaches an insert shared with other
 * requests.
 */
export function hasNumberOutsideNumericRange(text: string): boolean {
  if (text.length <= MAX_DIGITS_AFTER_POINT && !LARGE_EXPONENT.test(text)) return false;
  const number = /-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?/y;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code === QUOTE) {
      index = endOfString(text, index);
      continue;
    }
    if (code !== 0x2d && (code < 0x30 || code > 0x39)) continue;
    number.lastIndex = index;
    const match = number.exec(text);
    if (match === null) continue;
    const [token, integer = "", fraction = "", exponentText = "0"] = match;
    const exponent = Number(exponentText);
    const significantInteger = integer.replace(/^0+/, "").length;
    if (significantInteger + exponent > MAX_DIGITS_BEFORE_POINT) return true;
    if (fraction.length - exponent > MAX_DIGITS_AFTER_POINT) return true;
    index += token.length - 1;
  }
  return false;
}
