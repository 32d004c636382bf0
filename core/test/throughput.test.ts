import test from 'ava';
import { addMeasurement, emptyThroughput, selectWindows, THROUGHPUT_METRICS } from '../src/transfers/throughput.js';

/** A time 30 s into a minute, an hour, a day and a 30-day month window, in seconds. */
const T0 = 30 * 86_400 * 600 + 30;

test('measurements sum within a window', (t) => {
  const doc = emptyThroughput('t1');
  addMeasurement(doc, 'bytes', 100, T0);
  addMeasurement(doc, 'bytes', 50, T0 + 20);

  t.deepEqual(doc.series.bytes.minute, [{ timestamp: T0 - 30, value: 150, firstMeasurementTimestamp: T0, lastMeasurementTimestamp: T0 + 20 }]);
  for (const metric of ['hour', 'day', 'month'] as const) t.is(doc.series.bytes[metric][0]?.value, 150, metric);
  t.deepEqual(doc.series.files.minute, [], 'other series stay empty');
});

test('new window opens after its start', (t) => {
  const doc = emptyThroughput('t1');
  addMeasurement(doc, 'files', 1, T0);
  addMeasurement(doc, 'files', 2, T0 + 60);
  addMeasurement(doc, 'files', 4, T0 + 3 * 60);

  t.deepEqual(
    doc.series.files.minute.map((window) => [window.timestamp, window.value]),
    [
      [T0 - 30 + 180, 4],
      [T0 - 30 + 60, 2],
      [T0 - 30, 1],
    ],
  );
  t.deepEqual(doc.series.files.hour.map((window) => window.value), [7]);
});

test('earlier time counts in the newest window', (t) => {
  const doc = emptyThroughput('t1');
  addMeasurement(doc, 'bytes', 10, T0 + 60);
  addMeasurement(doc, 'bytes', 5, T0);

  t.is(doc.series.bytes.minute.length, 1);
  t.is(doc.series.bytes.minute[0]?.value, 15);
  t.is(doc.series.bytes.minute[0]?.lastMeasurementTimestamp, T0 + 60);
});

test('window count is bounded', (t) => {
  const doc = emptyThroughput('t1');
  const { windows } = THROUGHPUT_METRICS.minute;
  for (let index = 0; index < windows + 10; index++) addMeasurement(doc, 'bytes', 1, T0 + index * 60);

  t.is(doc.series.bytes.minute.length, windows);
  t.is(doc.series.bytes.minute[0]?.timestamp, T0 - 30 + (windows + 9) * 60, 'the newest window stays');
  t.is(doc.series.bytes.hour.reduce((sum, window) => sum + window.value, 0), windows + 10);
});

test('windows are selected between start and stop', (t) => {
  const doc = emptyThroughput('t1');
  for (let index = 0; index < 5; index++) addMeasurement(doc, 'bytes', index, T0 + index * 60);
  const windows = doc.series.bytes.minute;
  const base = T0 - 30;

  t.is(selectWindows(windows, 'minute', {}).length, 5);
  t.deepEqual(selectWindows(windows, 'minute', { startTimestamp: base + 2 * 60 + 59 }).map((window) => window.value), [2, 1, 0]);
  t.deepEqual(selectWindows(windows, 'minute', { stopTimestamp: base + 3 * 60 + 1 }).map((window) => window.value), [4, 3]);
  t.deepEqual(selectWindows(windows, 'minute', { windowLimit: 2 }).map((window) => window.value), [4, 3]);
  t.deepEqual(selectWindows(windows, 'minute', { startTimestamp: base - 1 }), []);
});
