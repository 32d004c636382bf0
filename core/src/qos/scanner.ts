import { OpError } from '../errors.js';

/**
 * Tokens of Onedata's QoS expression language. Operators `|`, `&` and `\` are set union,
 * intersection and difference; `=` and the numeric comparators relate a parameter key to a value.
 */
export type QosToken =
  | { type: 'operator'; value: '|' | '&' | '\\'; position: number }
  | { type: 'eq'; position: number }
  | { type: 'comparator'; value: '<' | '<=' | '>' | '>='; position: number }
  | { type: 'anyStorage'; position: number }
  | { type: 'lparen'; position: number }
  | { type: 'rparen'; position: number }
  | { type: 'number'; value: number; position: number }
  | { type: 'string'; value: string; position: number };

/** The error of a scanner or parser failure; REST reports it as `invalidQosExpression` (400). */
export class QosExpressionError extends OpError {
  constructor(expression: string, reason: string) {
    super('badValue', `invalid QoS expression "${expression}": ${reason}`, { key: 'expression', errorId: 'invalidQosExpression', reason });
  }

  static isQos(error: unknown): error is QosExpressionError {
    return OpError.is(error) && error.details['errorId'] === 'invalidQosExpression';
  }
}

/** A JSON number: optional minus, no leading zeros, optional fraction and exponent. */
const NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/u;

/**
 * A string token: letters, digits, `_`, `.` and U+00A0–U+1FFF, with spaces and `-`
 * allowed inside but not at either end (so `New York` and `disk-fast` are one token).
 */
const STRING = /^[a-zA-Z0-9_.\u00A0-\u1FFF](?:[a-zA-Z0-9_.\u00A0-\u1FFF \t-]*[a-zA-Z0-9_.\u00A0-\u1FFF])?/u;

const ANY_STORAGE = 'anyStorage';

/** Whether a whole text is a number token, e.g. `8`, `8.5`, `1e3` (but not `007` or `8a`). */
export function isNumberText(text: string): boolean {
  const match = NUMBER.exec(text);
  return match !== null && match[0].length === text.length;
}

/**
 * Split an expression into tokens. Among the rules that match at a position, the longest
 * match wins and a tie goes to the number rule, then to `anyStorage`, so `8` is a number,
 * `8a` and `007` are strings, and `anyStorage x` is the string "anyStorage x".
 * Whitespace and double quotes are skipped; `%` starts a comment to the end of the line.
 */
export function scanQosExpression(expression: string): QosToken[] {
  const tokens: QosToken[] = [];
  let position = 0;
  while (position < expression.length) {
    const rest = expression.slice(position);
    const char = rest[0] as string;

    if (char === ' ' || char === '\t' || char === '\n' || char === '\r' || char === '"') {
      position += 1;
      continue;
    }
    if (char === '%') {
      const newline = rest.indexOf('\n');
      position = newline === -1 ? expression.length : position + newline + 1;
      continue;
    }

    const symbol = scanSymbol(rest, position);
    if (symbol) {
      tokens.push(symbol.token);
      position += symbol.length;
      continue;
    }

    const word = scanWord(rest, position);
    if (!word) throw new QosExpressionError(expression, `unexpected character "${char}" at position ${position}`);
    tokens.push(word.token);
    position += word.length;
  }
  return tokens;
}

function scanSymbol(rest: string, position: number): { token: QosToken; length: number } | undefined {
  const two = rest.slice(0, 2);
  if (two === '<=' || two === '>=') return { token: { type: 'comparator', value: two, position }, length: 2 };

  const char = rest[0];
  switch (char) {
    case '|':
    case '&':
    case '\\':
      return { token: { type: 'operator', value: char, position }, length: 1 };
    case '<':
    case '>':
      return { token: { type: 'comparator', value: char, position }, length: 1 };
    case '=':
      return { token: { type: 'eq', position }, length: 1 };
    case '(':
      return { token: { type: 'lparen', position }, length: 1 };
    case ')':
      return { token: { type: 'rparen', position }, length: 1 };
    default:
      return undefined;
  }
}

function scanWord(rest: string, position: number): { token: QosToken; length: number } | undefined {
  const numberLength = NUMBER.exec(rest)?.[0].length ?? 0;
  const stringLength = STRING.exec(rest)?.[0].length ?? 0;
  const anyStorageLength = rest.startsWith(ANY_STORAGE) ? ANY_STORAGE.length : 0;
  const longest = Math.max(numberLength, stringLength, anyStorageLength);
  if (longest === 0) return undefined;

  if (numberLength === longest) {
    return { token: { type: 'number', value: Number(rest.slice(0, longest)), position }, length: longest };
  }
  if (anyStorageLength === longest) return { token: { type: 'anyStorage', position }, length: longest };
  return { token: { type: 'string', value: rest.slice(0, longest), position }, length: longest };
}
