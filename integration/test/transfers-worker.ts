/**
 * A second worker process for the transfer tests: it opens the data folder given as
 * its argument and runs background jobs until the test kills it.
 */
import { openTestCore } from './transfers-fixture.js';

const core = await openTestCore(process.argv[2] as string);
core.jobs.start();
process.stdout.write('ready\n');
setInterval(() => undefined, 60_000);
