import { isNumberText, QosExpressionError, scanQosExpression, type QosToken } from './scanner.js';

export type QosOperator = '|' | '&' | '\\';
export type QosComparator = '=' | '<' | '<=' | '>' | '>=';

/**
 * A parsed QoS expression in its JSON form: `"anyStorage"`, a comparison
 * `[comparator, key, value]`, or a set operation `[operator, left, right]`.
 */
export type QosExpressionTree = 'anyStorage' | [QosComparator, string, string | number] | [QosOperator, QosExpressionTree, QosExpressionTree];

/** Largest number of tokens (keys, values, operators, parentheses) an expression may have. */
export const MAX_QOS_TOKENS = 1000;

/**
 * Parse an expression. All three operators have the same precedence and group to the
 * left, so `a=1 | b=2 & c=3` is `(a=1 | b=2) & c=3`. Comparators other than `=` need a
 * number on the right. Throws `QosExpressionError` on any scanner or parser failure.
 */
export function parseQosExpression(expression: string): QosExpressionTree {
  const tokens = scanQosExpression(expression);
  if (tokens.length === 0) throw new QosExpressionError(expression, 'the expression is empty');
  // Parsing, evaluation and printing recurse once per nesting level or operator, so a bound on tokens keeps them off the stack limit.
  if (tokens.length > MAX_QOS_TOKENS) throw new QosExpressionError(`${expression.slice(0, 100)}...`, `the expression has ${tokens.length} tokens, more than the limit of ${MAX_QOS_TOKENS}`);
  const parser = new Parser(expression, tokens);
  const tree = parser.expression();
  parser.expectEnd();
  return tree;
}

class Parser {
  private index = 0;

  constructor(
    private readonly source: string,
    private readonly tokens: QosToken[],
  ) {}

  expression(): QosExpressionTree {
    let tree = this.operand();
    for (let token = this.peek(); token?.type === 'operator'; token = this.peek()) {
      this.index += 1;
      tree = [token.value, tree, this.operand()];
    }
    return tree;
  }

  expectEnd(): void {
    const token = this.peek();
    if (token) this.fail(token, 'an operator or the end of the expression');
  }

  private operand(): QosExpressionTree {
    const token = this.next('a comparison, anyStorage or "("');
    if (token.type === 'anyStorage') return 'anyStorage';
    if (token.type === 'lparen') {
      const inner = this.expression();
      const closing = this.next('")"');
      if (closing.type !== 'rparen') this.fail(closing, '")"');
      return inner;
    }
    if (token.type !== 'string') this.fail(token, 'a parameter key, anyStorage or "("');
    return this.comparison(token.value);
  }

  private comparison(key: string): QosExpressionTree {
    const relation = this.next('"=" or a comparator');
    if (relation.type === 'eq') {
      const value = this.next('a value');
      if (value.type !== 'string' && value.type !== 'number') this.fail(value, 'a string or number value');
      return ['=', key, value.value];
    }
    if (relation.type !== 'comparator') this.fail(relation, '"=" or a comparator');
    const value = this.next('a number');
    if (value.type !== 'number') this.fail(value, `a number after "${relation.value}"`);
    return [relation.value, key, value.value];
  }

  private peek(): QosToken | undefined {
    return this.tokens[this.index];
  }

  private next(expected: string): QosToken {
    const token = this.tokens[this.index];
    if (!token) throw new QosExpressionError(this.source, `unexpected end of the expression, expected ${expected}`);
    this.index += 1;
    return token;
  }

  private fail(token: QosToken, expected: string): never {
    throw new QosExpressionError(this.source, `unexpected ${describe(token)} at position ${token.position}, expected ${expected}`);
  }
}

function describe(token: QosToken): string {
  switch (token.type) {
    case 'string':
      return `"${token.value}"`;
    case 'number':
      return `number ${token.value}`;
    case 'operator':
    case 'comparator':
      return `"${token.value}"`;
    case 'eq':
      return '"="';
    case 'lparen':
      return '"("';
    case 'rparen':
      return '")"';
    case 'anyStorage':
      return 'anyStorage';
  }
}

/** Render a tree in infix form, with parentheses around compound operands: `(a=b|c=d)&e>2`. */
export function qosExpressionToInfix(tree: QosExpressionTree): string {
  if (tree === 'anyStorage') return tree;
  const [op, left, right] = tree;
  if (isOperator(op)) {
    return `${operandToInfix(left as QosExpressionTree)}${op}${operandToInfix(right as QosExpressionTree)}`;
  }
  return `${left as string}${op}${typeof right === 'number' ? JSON.stringify(right) : (right as string)}`;
}

function operandToInfix(tree: QosExpressionTree): string {
  const text = qosExpressionToInfix(tree);
  return tree !== 'anyStorage' && isOperator(tree[0]) ? `(${text})` : text;
}

function isOperator(value: string): value is QosOperator {
  return value === '|' || value === '&' || value === '\\';
}

/** QoS parameters of one storage. `storageId` and `providerId` are always among them. */
export interface QosStorageParameters {
  storageId: string;
  parameters: Record<string, string | number>;
}

/**
 * Ids of the storages an expression selects. `k=v` matches where the parameter equals
 * the value (the number 8 equals 8.0 but never the string "8"); `<`, `<=`, `>`, `>=` match
 * only numeric parameters. A parameter stored as text that is a whole number token (the
 * admin API stores parameter values as strings) counts as that number.
 */
export function evaluateQosExpression(tree: QosExpressionTree, storages: readonly QosStorageParameters[]): Set<string> {
  if (tree === 'anyStorage') return new Set(storages.map((storage) => storage.storageId));
  const [op, left, right] = tree;
  if (isOperator(op)) {
    const a = evaluateQosExpression(left as QosExpressionTree, storages);
    const b = evaluateQosExpression(right as QosExpressionTree, storages);
    if (op === '|') return new Set([...a, ...b]);
    if (op === '&') return new Set([...a].filter((id) => b.has(id)));
    return new Set([...a].filter((id) => !b.has(id)));
  }

  const matching = storages.filter((storage) => compare(op, parameterValue(storage.parameters[left as string]), right as string | number));
  return new Set(matching.map((storage) => storage.storageId));
}

function parameterValue(raw: string | number | undefined): string | number | undefined {
  if (typeof raw === 'string' && isNumberText(raw)) return Number(raw);
  return raw;
}

function compare(op: QosComparator, actual: string | number | undefined, expected: string | number): boolean {
  if (actual === undefined) return false;
  if (op === '=') return actual === expected;
  if (typeof actual !== 'number' || typeof expected !== 'number') return false;
  switch (op) {
    case '<':
      return actual < expected;
    case '<=':
      return actual <= expected;
    case '>':
      return actual > expected;
    case '>=':
      return actual >= expected;
  }
}
