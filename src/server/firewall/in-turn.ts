/**
 * Runs async steps one after another, in the order they were asked for: a backend's screen updates
 * (a reload) and its repairs (every sweep's setup) must not overtake each other, or an older
 * screen lands after a newer one.
 * @module
 */
export class InTurn {
  private last: Promise<unknown> = Promise.resolve();

  run<T>(step: () => Promise<T>): Promise<T> {
    const result = this.last.then(step, step);
    this.last = result.catch(() => undefined);
    return result;
  }
}
