import test from 'ava';
import '../src/app.js';
import { compileAllValidators } from '../src/http/validate.js';

// Schemas compile on first use at run time, so this is where a bad one shows up early.
test('every route schema compiles', (t) => {
  const count = compileAllValidators();
  t.true(count >= 40, `only ${count} validators were made; is a router module no longer imported by app.ts?`);
});
