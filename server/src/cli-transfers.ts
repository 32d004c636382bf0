import { setTimeout as sleep } from 'node:timers/promises';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { transferStatus, type Core, type Identity, type TransferDoc } from '@op-worker/core';
import { toRestTransfer } from './rest/transfers.js';

type WithCommonOptions = (command: Command) => Command;
type WithCore = (options: { dataDir?: string; config?: string }, action: (core: Core) => Promise<unknown>) => Promise<void>;

/** The CLI acts for the provider administrator, who may see every space's transfers. */
const CLI_IDENTITY: Identity = { userId: 'op-worker-cli', isAdmin: true };

/** How often `transfer watch` reads the transfer record. Milliseconds. */
const WATCH_INTERVAL_MS = 500;

/** Register `transfer show <id>` and `transfer watch <id>`. */
export function registerTransferCommands(program: Command, withCommonOptions: WithCommonOptions, withCore: WithCore): void {
  const transfer = program.command('transfer').description('inspect transfers');

  withCommonOptions(transfer.command('show <id>'))
    .description('print a transfer as JSON, as GET /transfers/{id} shows it, with its transferId')
    .action((id: string, options: { dataDir?: string; config?: string }) =>
      withCore(options, async (core) => restTransfer(core, await core.transfers.get(CLI_IDENTITY, id))),
    );

  withCommonOptions(transfer.command('watch <id>'))
    .description('show a live progress bar (bytes, rate, ETA) until the transfer ends, then print it as `transfer show` does')
    .action((id: string, options: { dataDir?: string; config?: string }) =>
      withCore(options, async (core) => restTransfer(core, await watchTransfer(core, id))),
    );
}

/** Map a transfer to the REST API's shape, with its id, which that shape leaves to the URL. */
async function restTransfer(core: Core, doc: TransferDoc): Promise<Record<string, unknown>> {
  return { transferId: doc.transferId, ...toRestTransfer(doc, await core.transfers.effective(doc)) };
}

/**
 * Poll a transfer and draw its replication progress on stderr until it ends. The record
 * is read from the metadata store, so the workers running the transfer may be elsewhere.
 */
export async function watchTransfer(core: Core, transferId: string): Promise<TransferDoc> {
  let doc = await core.transfers.get(CLI_IDENTITY, transferId);
  const bar = new cliProgress.SingleBar(
    {
      format: '{status} [{bar}] {percentage}% | {copied}/{totalText} | {rate}/s | ETA {eta_formatted} | files {files}',
      stream: process.stderr,
      hideCursor: true,
      etaBuffer: 20,
      // Without a terminal (a pipe, a log file) a line is written every notTTYSchedule milliseconds.
      noTTYOutput: true,
      notTTYSchedule: 2_000,
      // While nothing moves, cli-progress sets the ETA to 'NULL' or 'INF', which its formatter prints as "LLs".
      formatTime: (seconds, options, roundTo) => (typeof seconds === 'number' ? cliProgress.Format.TimeFormat(seconds, options, roundTo) : '?'),
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(Math.max(1, doc.bytesToReplicate, doc.bytesReplicated), doc.bytesReplicated, payload(doc, 0));

  let previous = { bytes: doc.bytesReplicated, timeMs: Date.now() };
  while (doc.finishTime === 0) {
    await sleep(WATCH_INTERVAL_MS);
    doc = await core.transfers.get(CLI_IDENTITY, transferId);
    const now = Date.now();
    const rate = ((doc.bytesReplicated - previous.bytes) * 1000) / Math.max(1, now - previous.timeMs);
    previous = { bytes: doc.bytesReplicated, timeMs: now };
    bar.setTotal(Math.max(1, doc.bytesToReplicate, doc.bytesReplicated));
    bar.update(doc.bytesReplicated, payload(doc, rate));
  }
  bar.update(doc.bytesReplicated, payload(doc, 0));
  bar.stop();
  return doc;
}

function payload(doc: TransferDoc, bytesPerSecond: number): Record<string, string> {
  return {
    status: transferStatus(doc),
    copied: formatBytes(doc.bytesReplicated),
    totalText: formatBytes(doc.bytesToReplicate),
    rate: formatBytes(bytesPerSecond),
    files: `${doc.filesProcessed}/${doc.filesToProcess}`,
  };
}

/** Format a byte count with binary prefixes, e.g. `1.5 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}
