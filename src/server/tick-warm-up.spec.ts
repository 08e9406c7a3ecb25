import { warmUpNextTick } from './tick-warm-up.js';

describe("the start-up's warm-up of process.nextTick", () => {
  it('runs every tick it schedules before it resolves', async () => {
    await expect(warmUpNextTick()).resolves.toBe(40_000);
  });
});
