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
}

/**
 * Returns the parts of `data` that PostgreSQL's jsonb cannot store or that exceed MAX_DEPTH:
 * strings and keys containing U+0000 or an unpaired UTF-16 surrogate, and numbers outside
 * the range of a double (JSON.parse turned them into Infinity). An empty list means valid.
 * Paths are JSON Pointers rooted at `/body`.
 */
export function findInvalidEventData(data: unknown): FieldError[] {
  const problems: FieldError[] = [];
  const stack: Pending[] = [{ value: data, pointer: "/body", depth: 1 }];

  while (stack.length > 0 && problems.length < MAX_REPORTED) {
    const { value, pointer, depth } = stack.pop() as Pending;

    if (typeof value === "string") {
      const problem = describeInvalidString(value);
      if (problem !== undefined) problems.push({ path: pointer, message: problem });
    } else if (typeof value === "number") {
      if (!Number.isFinite(value)) {
        problems.push({ path: pointer, message: "number is too large to represent" });
      }
    } else if (typeof value === "object" && value !== null) {
      if (depth > MAX_DEPTH) {
        problems.push({ path: pointer, message: `nesting exceeds ${MAX_DEPTH} levels` });
        continue;
      }
      for (const [key, child] of Object.entries(value)) {
        const childPointer = `${pointer}/${escapePointerToken(key)}`;
        const keyProblem = describeInvalidString(key);
        if (keyProblem !== undefined) {
          problems.push({ path: childPointer, message: `key ${keyProblem}` });
        }
        stack.push({ value: child, pointer: childPointer, depth: depth + 1 });
      }
    }
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

/**
 * Removes the whitespace between tokens of valid JSON text, keeping everything else byte
 * for byte. Unlike JSON.stringify(JSON.parse(text)), this keeps every digit of numbers
 * beyond 2^53 and the producer's key order.
 */
export function compactJson(text: string): string {
  let output = "";
  let runStart = 0;
  let inString = false;

  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (inString) {
      if (code === BACKSLASH) index++;
      else if (code === QUOTE) inString = false;
    } else if (code === QUOTE) {
      inString = true;
    } else if (code === SPACE || code === TAB || code === LINE_FEED || code === CARRIAGE_RETURN) {
      output += text.slice(runStart, index);
      runStart = index + 1;
    }
  }
  return runStart === 0 ? text : output + text.slice(runStart);
}
