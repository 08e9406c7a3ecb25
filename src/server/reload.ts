import { readFileSync, watch as watchDirectory } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { LoggerService } from '@nestjs/common';
import type { GatewayOptions } from '../config/gateway-options.interface.js';
import { loadConfigFile, overridesFromEnvironment } from '../config/load-config-file.js';
import type { WorkerPool } from './workers.js';

/** Editors write a file in several steps: one reload once they are done. */
const WATCH_SETTLE_MS = 300;

/**
 * Reloads the pool's config on SIGHUP and, with `watch`, when the file's content changes. The
 * directory is watched, not the file, and any event in it has the file read again: an editor
 * replaces the file by a rename, and a Kubernetes ConfigMap volume swaps a `..data` symlink
 * (the file itself, a link through it, never changes). The file is
 * validated first: an invalid one is logged with each field at fault and the running workers
 * keep serving; a valid one replaces the workers one by one, and the new workers (and any that
 * later replace one that died) run what was validated here, never the file read again. Requests
 * during a reload queue one more. Returns a function that stops listening.
 */
export function reloadOnChange(pool: WorkerPool, configFile: string, logger: LoggerService, watch: boolean): () => void {
  let running = false;
  let again = false;

  const reload = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        let options: GatewayOptions;
        try {
          options = await loadConfigFile(configFile, overridesFromEnvironment());
        } catch (error) {
          logger.error(`Reload refused, the running config stays: ${(error as Error).message}`);
          continue;
        }
        logger.log(`Reloading ${configFile}: replacing the workers one by one`);
        await pool.reload(options).then(
          () => logger.log(`Reload done: workers ${pool.pids().join(', ')}`),
          (error: Error) => logger.error(`Reload stopped, the workers left keep serving: ${error.message}`),
        );
      } while (again);
    } finally {
      running = false;
    }
  };

  const onSignal = () => void reload();
  process.on('SIGHUP', onSignal);
  let settle: NodeJS.Timeout | undefined;
  // The file the pool was started from, read moments ago.
  let content = watch ? readFileSync(configFile, 'utf8') : undefined;
  const reloadIfChanged = () =>
    void readFile(configFile, 'utf8').then(
      (now) => {
        if (now === content) return;
        content = now;
        onSignal();
      },
      // Gone for a moment between two steps of a rename: the next event reads it again.
      () => undefined,
    );
  const watcher = watch
    ? watchDirectory(dirname(configFile), () => {
        clearTimeout(settle);
        settle = setTimeout(reloadIfChanged, WATCH_SETTLE_MS);
      })
    : undefined;
  return () => {
    process.off('SIGHUP', onSignal);
    clearTimeout(settle);
    watcher?.close();
  };
}
