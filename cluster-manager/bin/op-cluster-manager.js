#!/usr/bin/env node
// Entry point of the `op-cluster-manager` command; the implementation is compiled to dist/.
import { main } from '../dist/src/cli.js';

await main(process.argv);
