/**
 * A strict parser for Content-Type values, following RFC 9110, section 8.3.1:
 *   media-type = type "/" subtype parameters
 *   parameters = *( OWS ";" OWS [ parameter ] ), parameter = name "=" ( token / quoted-string )
 */

export interface MediaType {
  /** `type/subtype` in lower case. */
  readonly essence: string;
  /** Parameter names in lower case; quoted values unquoted. */
  readonly parameters: ReadonlyMap<string, string>;
}

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED_STRING = '"(?:[^"\\\\]|\\\\.)*"';
const PARAMETER = `(${TOKEN})=(${TOKEN}|${QUOTED_STRING})`;
const MEDIA_TYPE = new RegExp(
  `^(${TOKEN}/${TOKEN})((?:[ \\t]*;[ \\t]*(?:${PARAMETER})?)*)[ \\t]*$`,
);
const PARAMETERS = new RegExp(PARAMETER, "g");

/** Parses a Content-Type value; returns undefined when it does not follow the grammar. */
export function parseMediaType(value: string): MediaType | undefined {
  const match = MEDIA_TYPE.exec(value.trim());
  if (match === null) return undefined;

  const parameters = new Map<string, string>();
  for (const [, name, raw] of (match[2] ?? "").matchAll(PARAMETERS)) {
    if (name === undefined || raw === undefined) continue;
    const unquoted = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, "$1") : raw;
    parameters.set(name.toLowerCase(), unquoted);
  }
  return { essence: (match[1] ?? "").toLowerCase(), parameters };
}
