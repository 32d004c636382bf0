import type { Logger } from 'pino';
import type { ClusterManager } from './manager.js';

/** Start a manager, print its URLs, and stop it cleanly on SIGTERM or SIGINT; SIGHUP starts a rolling restart. */
export async function runManager(manager: ClusterManager, logger: Logger): Promise<void> {
  const stop = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'stop requested');
    manager.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'cluster manager did not stop cleanly');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.on('SIGHUP', () => {
    manager.rollingRestart().catch((error: unknown) => logger.error({ err: error }, 'rolling restart failed'));
  });

  try {
    await manager.start();
  } catch (error) {
    logger.error({ err: error }, 'cluster manager failed to start');
    await manager.stop().catch(() => undefined);
    throw error;
  }
  process.stdout.write(`op-cluster-manager serving on ${manager.url}\n`);
  process.stdout.write(`status on ${manager.statusUrl}/status\n`);
}
