/** Resolves once `condition` holds, polling every 20 ms; throws after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, what = 'a condition', timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
