import { expect } from "chai";

import { compactJson, findInvalidEventData, MAX_DEPTH } from "../../../src/events/event-data.js";

const NUL_MESSAGE = "contains U+0000, which PostgreSQL cannot store";
const SURROGATE_MESSAGE = "contains an unpaired UTF-16 surrogate";

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

    expect(findInvalidEventData(data)).to.deep.equal([]);
  });

  it("findInvalidEventData reports U+0000 in a value", () => {
    expect(findInvalidEventData({ a: "x\u0000y" })).to.deep.equal([
      { path: "/body/a", message: NUL_MESSAGE },
    ]);
  });

  it("findInvalidEventData reports U+0000 in a key", () => {
    expect(findInvalidEventData({ "a\u0000": 1 })).to.deep.equal([
      { path: "/body/a\u0000", message: `key ${NUL_MESSAGE}` },
    ]);
  });

  it("findInvalidEventData reports a lone high surrogate in a value", () => {
    expect(findInvalidEventData({ a: "x\uD83Dy" })).to.deep.equal([
      { path: "/body/a", message: SURROGATE_MESSAGE },
    ]);
  });

  it("findInvalidEventData reports a lone low surrogate in a key", () => {
    expect(findInvalidEventData({ "\uDE00": "x" })).to.deep.equal([
      { path: "/body/\uDE00", message: `key ${SURROGATE_MESSAGE}` },
    ]);
  });

  it("findInvalidEventData accepts a surrogate pair", () => {
    expect(findInvalidEventData({ "\uD83D\uDE00": "\uD83D\uDE00" })).to.deep.equal([]);
  });

  it("findInvalidEventData reports a number that parsed to Infinity", () => {
    const data = JSON.parse('{"big":1e400,"small":-1e400}');

    expect(findInvalidEventData(data)).to.have.deep.members([
      { path: "/body/big", message: "number is too large to represent" },
      { path: "/body/small", message: "number is too large to represent" },
    ]);
  });

  it("findInvalidEventData reports invalid array items by index", () => {
    expect(findInvalidEventData({ items: ["ok", "\u0000"] })).to.deep.equal([
      { path: "/body/items/1", message: NUL_MESSAGE },
    ]);
  });

  it("findInvalidEventData accepts nesting of exactly MAX_DEPTH", () => {
    expect(findInvalidEventData(nestedObjects(MAX_DEPTH))).to.deep.equal([]);
  });

  it("findInvalidEventData rejects nesting of MAX_DEPTH + 1", () => {
    const path = `/body${"/a".repeat(MAX_DEPTH)}`;

    expect(findInvalidEventData(nestedObjects(MAX_DEPTH + 1))).to.deep.equal([
      { path, message: `nesting exceeds ${MAX_DEPTH} levels` },
    ]);
  });

  it("findInvalidEventData counts arrays as nesting levels", () => {
    let data: unknown = [];
    for (let level = 1; level <= MAX_DEPTH; level++) data = [data];

    expect(findInvalidEventData(data)).to.deep.equal([
      { path: `/body${"/0".repeat(MAX_DEPTH)}`, message: `nesting exceeds ${MAX_DEPTH} levels` },
    ]);
  });

  it("findInvalidEventData escapes ~ and / in paths", () => {
    expect(findInvalidEventData({ "a~b/c": "\u0000" })).to.deep.equal([
      { path: "/body/a~0b~1c", message: NUL_MESSAGE },
    ]);
  });

  it("findInvalidEventData escapes ~ before /", () => {
    expect(findInvalidEventData({ "~1": "\u0000" })).to.deep.equal([
      { path: "/body/~01", message: NUL_MESSAGE },
    ]);
  });

  it("findInvalidEventData reports at most 20 problems", () => {
    const data = Object.fromEntries(
      Array.from({ length: 30 }, (_, index) => [`k${index}`, "\u0000"]),
    );

    expect(findInvalidEventData(data)).to.have.lengthOf(20);
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
