import { expect } from "chai";

import type { FieldError } from "../../../src/errors.js";
import {
  compactJson,
  compactJsonCountingKeys,
  findInvalidEventData,
  hasNumberOutsideNumericRange,
  MAX_DEPTH,
} from "../../../src/events/event-data.js";

const NUL_MESSAGE = "contains U+0000, which PostgreSQL cannot store";
const SURROGATE_MESSAGE = "contains an unpaired UTF-16 surrogate";

/** Checks `data` with the text that JSON.stringify makes of it, which has no duplicate keys. */
function problemsIn(data: unknown): FieldError[] {
  return findInvalidEventData(data, compactJsonCountingKeys(JSON.stringify(data)));
}

/** Checks JSON `text` as the handler does: the parsed value with the compacted text. */
function problemsInText(text: string): FieldError[] {
  return findInvalidEventData(JSON.parse(text), compactJsonCountingKeys(text));
}

/** Objects nested `depth` levels deep, each under key "a", the innermost holding `leaf`. */
function nestedObjects(depth: number, leaf: unknown = 1): unknown {
  let value: unknown = { a: leaf };
  for (let level = 1; level < depth; level++) value = { a: value };
  return value;
}

describe("findInvalidEventData", () => {
  it("findInvalidEventData accepts a valid nested object", () => {
    const data = {
      order_id: 42,
      customer: { name: "Zoë 😀", tags: ["vip", "new"] },
      lines: [{ sku: "A-1", quantity: 2, price: 9.99 }, null, true],
      note: "",
    };

    expect(problemsIn(data)).to.deep.equal([]);
  });

  it("findInvalidEventData reports U+0000 in a value", () => {
    expect(problemsIn({ a: "x\u0000y" })).to.deep.equal([
      { path: "/body/a", message: NUL_MESSAGE },
    ]);
  });

  it("findInvalidEventData reports U+0000 in a key", () => {
    expect(problemsIn({ "a\u0000": 1 })).to.deep.equal([
      { path: "/body/a\u0000", message: `key ${NUL_MESSAGE}` },
    ]);
  });

  it("findInvalidEventData reports a lone high surrogate in a value", () => {
    expect(problemsIn({ a: "x\uD83Dy" })).to.deep.equal([
      { path: "/body/a", message: SURROGATE_MESSAGE },
    ]);
  });

  it("findInvalidEventData reports a lone low surrogate in a key", () => {
    expect(problemsIn({ "\uDE00": "x" })).to.deep.equal([
      { path: "/body/\uDE00", message: `key ${SURROGATE_MESSAGE}` },
    ]);
  });

  it("findInvalidEventData accepts a surrogate pair", () => {
    expect(problemsIn({ "\uD83D\uDE00": "\uD83D\uDE00" })).to.deep.equal([]);
  });

  it("findInvalidEventData reports a number that parsed to Infinity", () => {
    const data = JSON.parse('{"big":1e400,"small":-1e400}');

    expect(problemsIn(data)).to.have.deep.members([
      { path: "/body/big", message: "number is too large to represent" },
      { path: "/body/small", message: "number is too large to represent" },
    ]);
  });

  it("findInvalidEventData reports invalid array items by index", () => {
    expect(problemsIn({ items: ["ok", "\u0000"] })).to.deep.equal([
      { path: "/body/items/1", message: NUL_MESSAGE },
    ]);
  });

  it("findInvalidEventData accepts nesting of exactly MAX_DEPTH", () => {
    expect(problemsIn(nestedObjects(MAX_DEPTH))).to.deep.equal([]);
  });

  it("findInvalidEventData rejects nesting of MAX_DEPTH + 1", () => {
    const path = `/body${"/a".repeat(MAX_DEPTH)}`;

    expect(problemsIn(nestedObjects(MAX_DEPTH + 1))).to.deep.equal([
      { path, message: `nesting exceeds ${MAX_DEPTH} levels` },
    ]);
  });

  it("findInvalidEventData counts arrays as nesting levels", () => {
    let data: unknown = [];
    for (let level = 1; level <= MAX_DEPTH; level++) data = [data];

    expect(problemsIn(data)).to.deep.equal([
      { path: `/body${"/0".repeat(MAX_DEPTH)}`, message: `nesting exceeds ${MAX_DEPTH} levels` },
    ]);
  });

  it("findInvalidEventData escapes ~ and / in paths", () => {
    expect(problemsIn({ "a~b/c": "\u0000" })).to.deep.equal([
      { path: "/body/a~0b~1c", message: NUL_MESSAGE },
    ]);
  });

  it("findInvalidEventData escapes ~ before /", () => {
    expect(problemsIn({ "~1": "\u0000" })).to.deep.equal([
      { path: "/body/~01", message: NUL_MESSAGE },
    ]);
  });

  it("findInvalidEventData reports at most 20 problems", () => {
    const data = Object.fromEntries(
      Array.from({ length: 30 }, (_, index) => [`k${index}`, "\u0000"]),
    );

    expect(problemsIn(data)).to.have.lengthOf(20);
  });

  it("findInvalidEventData reports problems in document order", () => {
    const data = { a: "\u0000", b: ["\u0000", { c: "\u0000" }], "d\u0000": "\u0000" };

    expect(problemsIn(data)).to.deep.equal([
      { path: "/body/a", message: NUL_MESSAGE },
      { path: "/body/b/0", message: NUL_MESSAGE },
      { path: "/body/b/1/c", message: NUL_MESSAGE },
      { path: "/body/d\u0000", message: `key ${NUL_MESSAGE}` },
      { path: "/body/d\u0000", message: NUL_MESSAGE },
    ]);
  });

  it("findInvalidEventData reports duplicate keys at the top level", () => {
    expect(problemsInText('{"a": 1, "a": 2}')).to.deep.equal([
      { path: "/body", message: "has duplicate keys" },
    ]);
  });

  it("findInvalidEventData reports duplicate keys in nested objects", () => {
    const text = '{"b": {"c": 1, "c": 2}, "items": [{"x": 1}, {"y": 1, "y": 2, "y": 3}]}';

    expect(problemsInText(text)).to.deep.equal([
      { path: "/body/b", message: "has duplicate keys" },
      { path: "/body/items/1", message: "has duplicate keys" },
    ]);
  });

  it("findInvalidEventData compares keys after unescaping", () => {
    expect(problemsInText('{"a": 1, "\\u0061": 2}')).to.deep.equal([
      { path: "/body", message: "has duplicate keys" },
    ]);
  });

  it("findInvalidEventData escapes the pointer of duplicate keys", () => {
    expect(problemsInText('{"x/y": [0, {"k~": 1, "k~": 2}]}')).to.deep.equal([
      { path: "/body/x~1y/1", message: "has duplicate keys" },
    ]);
  });

  it("findInvalidEventData accepts a key repeated in different objects", () => {
    expect(problemsInText('{"a": {"a": 1}, "b": [{"a": 2}, {"a": 3}]}')).to.deep.equal([]);
  });

  it("findInvalidEventData ignores colons and quotes inside strings", () => {
    expect(problemsInText('{"a:b": "c:d", "e\\"": ":", "f": {"g": "\\\\:"}}')).to.deep.equal([]);
  });
});

describe("compactJson", () => {
  it("compactJson removes whitespace between tokens", () => {
    const text = '\r\n{ "a" : [ 1 ,\t2 ] ,\n  "b" : null }\n';

    expect(compactJson(text)).to.equal('{"a":[1,2],"b":null}');
  });

  it("compactJson keeps whitespace inside strings", () => {
    expect(compactJson('{ "a b" : " c  d " }')).to.equal('{"a b":" c  d "}');
  });

  it("compactJson keeps escaped quotes inside strings", () => {
    expect(compactJson(String.raw`{ "say" : "\"hi there\" ok" }`)).to.equal(
      String.raw`{"say":"\"hi there\" ok"}`,
    );
  });

  it("compactJson ends a string after an escaped backslash", () => {
    expect(compactJson(String.raw`{ "path" : "C:\\ dir\\" , "n" : 1 }`)).to.equal(
      String.raw`{"path":"C:\\ dir\\","n":1}`,
    );
  });

  it("compactJson keeps every digit of a big integer", () => {
    expect(compactJson('{ "n" : 123456789012345678901234567890 }')).to.equal(
      '{"n":123456789012345678901234567890}',
    );
  });

  it("compactJson returns compact text unchanged", () => {
    const text = '{"a":[1,2,{"b":"c d"}],"e":"\\u0041"}';

    expect(compactJson(text)).to.equal(text);
  });

  const samples = [
    {
      name: "non-ASCII text and escapes",
      text: '{ "name" : "Zoë 😀" , "escaped" : "\\u00e9 \\ud83d\\ude00" }',
    },
    { name: "nested arrays", text: '[ [ 1 , [ 2 , [ ] ] ] , { } , [ { "a" : [ [ ] ] } ] ]' },
    {
      name: "numbers and literals",
      text: '{ "n" : -1.5e+10 , "z" : 0 , "f" : false , "t" : true , "x" : null }',
    },
    { name: "escape sequences", text: '{ "s" : "tab\\tnew\\nline \\\\ \\" \\/" , "" : "" }' },
    { name: "a lone string", text: '\n\t"  just a string  "\r\n' },
  ];
  for (const sample of samples) {
    it(`compactJson keeps the value of ${sample.name}`, () => {
      expect(JSON.parse(compactJson(sample.text))).to.deep.equal(JSON.parse(sample.text));
    });
  }
});

describe("compactJsonCountingKeys", () => {
  it("compactJsonCountingKeys counts keys outside strings", () => {
    const text = '{ "a" : { "b:c" : [ 1 , { "d" : "e:f" } ] } , "g\\":" : null }';

    expect(compactJsonCountingKeys(text)).to.deep.equal({
      text: '{"a":{"b:c":[1,{"d":"e:f"}]},"g\\":":null}',
      keyCount: 4,
    });
  });

  it("compactJsonCountingKeys counts each duplicate key", () => {
    expect(compactJsonCountingKeys('{"a":1,"a":2}').keyCount).to.equal(2);
  });

  it("compactJsonCountingKeys counts no keys in an array of strings", () => {
    expect(compactJsonCountingKeys('[":", "a:b"]').keyCount).to.equal(0);
  });
});

describe("hasNumberOutsideNumericRange", () => {
  const cases: [string, boolean][] = [
    ['{"a":1e-20000}', true],
    ['{"a":0e-999999}', true],
    ['{"a":3e-16383}', false],
    ["[3e-16384]", true],
    ['{"a":1e131071}', false],
    ['{"a":12e131071}', true],
    ['{"a":1e-400}', false],
    ['{"a":"1e-20000"}', false],
    [`{"a":0.${"0".repeat(16382)}1}`, false],
    [`{"a":0.${"0".repeat(16383)}1}`, true],
  ];
  for (const [text, expected] of cases) {
    it(`hasNumberOutsideNumericRange is ${expected} for ${text.slice(0, 24)}`, () => {
      expect(hasNumberOutsideNumericRange(text)).to.equal(expected);
    });
  }
});
