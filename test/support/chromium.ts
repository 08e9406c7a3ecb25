import { existsSync } from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';

/** Debian's chromium (`apt-get install chromium`), or `CHROMIUM_PATH`. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) => existsSync(path));

export interface RunningBrowser {
  browser: Browser;
  /** Closes the browser, and kills its processes by PID when it does not close within a few seconds. */
  close(): Promise<void>;
}

/**
 * Headless chromium driven by puppeteer-core. Without a sandbox: tests run as root, where
 * chromium refuses one. Puppeteer starts it as the leader of its own process group, so its
 * renderers go with it when the group is killed.
 */
export async function launchChromium(): Promise<RunningBrowser> {
  if (!CHROMIUM) throw new Error('chromium not found: apt-get install -y chromium, or set CHROMIUM_PATH');
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'],
  });
  const pid = browser.process()?.pid;
  return {
    browser,
    close: async () => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([browser.close().catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, 5000)))]);
      clearTimeout(timer);
      if (pid === undefined) return;
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    },
  };
}
