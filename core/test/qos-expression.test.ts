import test from 'ava';
import {
  evaluateQosExpression,
  parseQosExpression,
  qosExpressionToInfix,
  type QosExpressionTree,
  type QosStorageParameters,
} from '../src/qos/expression.js';
import { QosExpressionError, scanQosExpression } from '../src/qos/scanner.js';

/** Valid expressions and the tree each parses to. */
const VALID: Array<[string, QosExpressionTree]> = [
  ['anyStorage', 'anyStorage'],
  ['storageType=s3', ['=', 'storageType', 's3']],
  ['a=b', ['=', 'a', 'b']],
  [' a = b ', ['=', 'a', 'b']],
  ['a=8', ['=', 'a', 8]],
  ['a=8.5', ['=', 'a', 8.5]],
  ['a=1e3', ['=', 'a', 1000]],
  ['a=1E-2', ['=', 'a', 0.01]],
  ['a=-3', ['=', 'a', -3]],
  ['a=0', ['=', 'a', 0]],
  ['a=0.5', ['=', 'a', 0.5]],
  ['a=007', ['=', 'a', '007']],
  ['a=8a', ['=', 'a', '8a']],
  ['a=8.', ['=', 'a', '8.']],
  ['a=1.2.3', ['=', 'a', '1.2.3']],
  ['a=v1.0', ['=', 'a', 'v1.0']],
  ['a>5', ['>', 'a', 5]],
  ['a<5', ['<', 'a', 5]],
  ['a>=5', ['>=', 'a', 5]],
  ['a<=5', ['<=', 'a', 5]],
  ['a >= -2.5', ['>=', 'a', -2.5]],
  ['geo=New York', ['=', 'geo', 'New York']],
  ['geo = New York ', ['=', 'geo', 'New York']],
  ['tier=disk-fast', ['=', 'tier', 'disk-fast']],
  ['my key=my value', ['=', 'my key', 'my value']],
  ['"geo"="PL"', ['=', 'geo', 'PL']],
  ['country=Polska', ['=', 'country', 'Polska']],
  ['miasto=Łódź', ['=', 'miasto', 'Łódź']],
  ['città=Zürich', ['=', 'città', 'Zürich']],
  ['город=Москва', ['=', 'город', 'Москва']],
  ['λ=αβγ', ['=', 'λ', 'αβγ']],
  ['under_score=a_b', ['=', 'under_score', 'a_b']],
  ['a=b|c=d', ['|', ['=', 'a', 'b'], ['=', 'c', 'd']]],
  ['a=b&c=d', ['&', ['=', 'a', 'b'], ['=', 'c', 'd']]],
  ['a=b\\c=d', ['\\', ['=', 'a', 'b'], ['=', 'c', 'd']]],
  ['a=1 | b=2 & c=3', ['&', ['|', ['=', 'a', 1], ['=', 'b', 2]], ['=', 'c', 3]]],
  ['a=1 & b=2 | c=3', ['|', ['&', ['=', 'a', 1], ['=', 'b', 2]], ['=', 'c', 3]]],
  ['a=1 \\ b=2 | c=3', ['|', ['\\', ['=', 'a', 1], ['=', 'b', 2]], ['=', 'c', 3]]],
  ['a=1 | (b=2 & c=3)', ['|', ['=', 'a', 1], ['&', ['=', 'b', 2], ['=', 'c', 3]]]],
  ['(a=1)', ['=', 'a', 1]],
  ['((a=1))', ['=', 'a', 1]],
  ['anyStorage \\ type=tape', ['\\', 'anyStorage', ['=', 'type', 'tape']]],
  ['anyStorage\\type=tape', ['\\', 'anyStorage', ['=', 'type', 'tape']]],
  ['(anyStorage)', 'anyStorage'],
  ['a=1 | b=2 | c=3', ['|', ['|', ['=', 'a', 1], ['=', 'b', 2]], ['=', 'c', 3]]],
  ['a=1 \\ b=2 \\ c=3', ['\\', ['\\', ['=', 'a', 1], ['=', 'b', 2]], ['=', 'c', 3]]],
  ['a=1 % a comment', ['=', 'a', 1]],
  ['a=1 % first\n| b=2', ['|', ['=', 'a', 1], ['=', 'b', 2]]],
  ['a=1\n&\nb=2', ['&', ['=', 'a', 1], ['=', 'b', 2]]],
  ['anyStorage x=y', ['=', 'anyStorage x', 'y']],
  ['storageId=0a1b2c', ['=', 'storageId', '0a1b2c']],
  ['latency<0.001', ['<', 'latency', 0.001]],
];

/** Expressions the scanner or parser must reject. */
const INVALID: string[] = [
  '',
  '   ',
  '% only a comment',
  'a',
  'a=',
  '=b',
  'a==b',
  'a>b',
  'a<x',
  'a>=8a',
  'a=b|',
  '|a=b',
  'a=b||c=d',
  'a=b c=d',
  '(a=b',
  'a=b)',
  '()',
  'a=b & (c=d',
  'a=anyStorage',
  'anyStorage anyStorage',
  'a=b!',
  'a=b;',
  'a=中文',
  '-a=b',
  'a=-',
  'a = b - ',
  'a=b & & c=d',
  'a<=>5',
  'anyStorage=',
  '5=5',
  'anyStorage=x',
];

for (const [expression, expected] of VALID) {
  test(`parses ${JSON.stringify(expression)}`, (t) => {
    t.deepEqual(parseQosExpression(expression), expected);
  });
}

for (const expression of INVALID) {
  test(`rejects ${JSON.stringify(expression)}`, (t) => {
    const error = t.throws(() => parseQosExpression(expression));
    t.true(QosExpressionError.isQos(error), String(error));
  });
}

test('table has at least 60 expressions', (t) => {
  t.true(VALID.length + INVALID.length >= 60);
});

test('spaces inside strings stay, around them go', (t) => {
  const tokens = scanQosExpression('  New York  =  x y ');
  t.deepEqual(
    tokens.map((token) => ('value' in token ? token.value : token.type)),
    ['New York', 'eq', 'x y'],
  );
});

test('token limit bounds nesting and length', (t) => {
  const deepest = `${'('.repeat(499)}anyStorage${')'.repeat(499)}`;
  t.is(parseQosExpression(deepest), 'anyStorage');

  const tooDeep = `${'('.repeat(20_000)}anyStorage${')'.repeat(20_000)}`;
  const deepError = t.throws(() => parseQosExpression(tooDeep));
  t.true(QosExpressionError.isQos(deepError));
  t.regex(deepError?.message ?? '', /more than the limit of 1000/);

  const tooLong = Array.from({ length: 10_000 }, (_, index) => `tier=${index}`).join(' | ');
  const longError = t.throws(() => parseQosExpression(tooLong));
  t.true(QosExpressionError.isQos(longError));
  t.true((longError?.message.length ?? 0) < 300);
});

test('error message names the position', (t) => {
  const error = t.throws(() => parseQosExpression('a=b (c'));
  t.regex(error?.message ?? '', /position/);
});

test('infix form round-trips', (t) => {
  const cases: Array<[string, string]> = [
    ['a=1 | b=2 & c=3', '(a=1|b=2)&c=3'],
    ['a=1 | (b=2 & c=3)', 'a=1|(b=2&c=3)'],
    ['anyStorage \\ x>=2.5', 'anyStorage\\x>=2.5'],
    ['geo=New York', 'geo=New York'],
  ];
  for (const [input, infix] of cases) {
    const tree = parseQosExpression(input);
    t.is(qosExpressionToInfix(tree), infix, input);
    t.deepEqual(parseQosExpression(infix), tree, infix);
  }
});

const STORAGES: QosStorageParameters[] = [
  { storageId: 'posix1', parameters: { storageId: 'posix1', providerId: 'p', storageType: 'posix', geo: 'PL', speed: '100', tier: 'disk-fast' } },
  { storageId: 's3a', parameters: { storageId: 's3a', providerId: 'p', storageType: 's3', geo: 'DE', speed: 50, city: 'New York' } },
  { storageId: 's3b', parameters: { storageId: 's3b', providerId: 'p', storageType: 's3', geo: 'PL', speed: '8.0', version: '007' } },
  { storageId: 'tape', parameters: { storageId: 'tape', providerId: 'p', storageType: 'tape', speed: 'slow' } },
];

function matches(expression: string): string[] {
  return [...evaluateQosExpression(parseQosExpression(expression), STORAGES)].sort();
}

test('anyStorage selects all', (t) => {
  t.deepEqual(matches('anyStorage'), ['posix1', 's3a', 's3b', 'tape']);
});

test('equality on strings', (t) => {
  t.deepEqual(matches('storageType=s3'), ['s3a', 's3b']);
  t.deepEqual(matches('city=New York'), ['s3a']);
  t.deepEqual(matches('tier=disk-fast'), ['posix1']);
  t.deepEqual(matches('storageType=nothing'), []);
  t.deepEqual(matches('missing=x'), []);
});

test('storageId is always a parameter', (t) => {
  t.deepEqual(matches('storageId=s3b'), ['s3b']);
  t.deepEqual(matches('anyStorage \\ storageId=tape'), ['posix1', 's3a', 's3b']);
});

test('numbers compare numerically', (t) => {
  t.deepEqual(matches('speed=8'), ['s3b'], '8 equals 8.0');
  t.deepEqual(matches('speed>=50'), ['posix1', 's3a']);
  t.deepEqual(matches('speed<50'), ['s3b']);
  t.deepEqual(matches('speed>1000'), []);
  t.deepEqual(matches('geo>1'), [], 'non-numeric parameters never match a comparator');
});

test('strings that are not numbers stay strings', (t) => {
  t.deepEqual(matches('version=007'), ['s3b']);
  t.deepEqual(matches('version=7'), [], 'the number 7 never equals the string "007"');
});

test('set operators and precedence', (t) => {
  t.deepEqual(matches('storageType=s3 | storageType=posix'), ['posix1', 's3a', 's3b']);
  t.deepEqual(matches('storageType=s3 & geo=PL'), ['s3b']);
  t.deepEqual(matches('storageType=s3 \\ geo=PL'), ['s3a']);
  t.deepEqual(matches('geo=DE | geo=PL & storageType=s3'), ['s3a', 's3b'], 'left to right: (DE | PL) & s3');
  t.deepEqual(matches('geo=DE | (geo=PL & storageType=s3)'), ['s3a', 's3b']);
  t.deepEqual(matches('storageType=posix | geo=DE & speed>60'), ['posix1']);
  t.deepEqual(matches('storageType=posix | (geo=DE & speed>60)'), ['posix1']);
  t.deepEqual(matches('anyStorage \\ storageType=s3 \\ storageType=tape'), ['posix1']);
});

test('empty storage set matches nothing', (t) => {
  t.deepEqual([...evaluateQosExpression(parseQosExpression('anyStorage'), [])], []);
});
