/** Ticks scheduled at once, and how many times, before the gateway starts: a few milliseconds. */
const TICKS_PER_ROUND = 2000;
const ROUNDS = 20;

/**
 * Has V8 optimize `process.nextTick` on plain ticks before the gateway starts, and returns how
 * many ran. Node's streams call it about ten times a request. When its first optimization came
 * during start-up instead (a gateway that starts its tracer did so in most runs here), the three
 * properties of each tick's object were compiled as runtime calls, from feedback that start-up's
 * ticks had left polymorphic: ~5 µs more CPU a request (a tenth of it), seen in `--cpu-prof` on
 * the object's lines and in `--print-opt-code`. Optimized here first, it keeps the inline stores.
 */
export async function warmUpNextTick(): Promise<number> {
  let ran = 0;
  const tick = () => void ran++;
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < TICKS_PER_ROUND; i++) process.nextTick(tick);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return ran;
}
