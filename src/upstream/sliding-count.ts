/**
 * A count over the last `seconds` seconds, kept in one-second slots: adding is an increment,
 * and slots older than the window are cleared as time moves on.
 */
export class SlidingCount {
  private readonly slots: number[];
  private slot = 0;
  private slotSecond = 0;

  constructor(seconds = 10) {
    this.slots = new Array<number>(seconds).fill(0);
  }

  add(now = Date.now()): void {
    this.slots[this.advance(now)] += 1;
  }

  total(now = Date.now()): number {
    this.advance(now);
    return this.slots.reduce((sum, count) => sum + count, 0);
  }

  clear(): void {
    this.slots.fill(0);
  }

  private advance(now: number): number {
    const second = Math.floor(now / 1000);
    const elapsed = Math.min(second - this.slotSecond, this.slots.length);
    for (let step = 0; step < elapsed; step++) {
      this.slot = (this.slot + 1) % this.slots.length;
      this.slots[this.slot] = 0;
    }
    this.slotSecond = second;
    return this.slot;
  }
}
