import test from 'ava';
import { RestartPolicy } from '../src/index.js';

const OPTIONS = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, stableAfterMs: 10_000, maxRestarts: 5, windowMs: 60_000 };

test('backoff doubles up to the maximum', (t) => {
  const policy = new RestartPolicy({ ...OPTIONS, maxRestarts: 100 });
  const delays = [0, 1, 2, 3, 4, 5].map((step) => policy.onFailure(step * 1000, 0));
  t.deepEqual(
    delays.map((decision) => (decision.restart ? decision.delayMs : -1)),
    [100, 200, 400, 800, 1000, 1000],
  );
});

test('stable run resets the backoff', (t) => {
  const policy = new RestartPolicy(OPTIONS);
  policy.onFailure(0, 0);
  policy.onFailure(1000, 0);
  const decision = policy.onFailure(30_000, 20_000);
  t.deepEqual(decision, { restart: true, delayMs: 100 });
});

test('crash loop stops restarts', (t) => {
  const policy = new RestartPolicy(OPTIONS);
  for (let i = 0; i < 5; i += 1) t.true(policy.onFailure(i * 100, 0).restart);
  const decision = policy.onFailure(600, 0);
  t.false(decision.restart);
  if (!decision.restart) t.regex(decision.reason, /crash loop: 5 restarts within 60000 ms/);
});

test('old restarts leave the window', (t) => {
  const policy = new RestartPolicy(OPTIONS);
  for (let i = 0; i < 5; i += 1) policy.onFailure(i * 100, 0);
  t.true(policy.onFailure(61_000, 0).restart);
});

test('invalid policy is rejected', (t) => {
  t.throws(() => new RestartPolicy({ ...OPTIONS, maxDelayMs: 10 }), { message: /maxDelayMs/ });
});
