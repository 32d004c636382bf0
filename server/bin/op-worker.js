#!/usr/bin/env node
// Entry point of the `op-worker` command; the implementation is compiled to dist/.
// Node 20 is a supported platform here, so the AWS SDK's notice about it is noise at every start.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { main } = await import('../dist/src/cli.js');

await main(process.argv);
