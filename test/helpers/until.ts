/** Waiting in tests for something that happens in another process or connection. */

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Probes every 20 ms until `probe` gives a value, which it returns; fails after `withinMs`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined | false>, withinMs: number): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${withinMs} ms`);
    await sleep(20);
  }
}
