/**
 * Undo for multi-step work: `add()` an undo after each step, `success()` at the end, and `fail()` in
 * `finally`. Undos run newest first; an undo that fails is reported to `onError` and the rest still run.
 * @module
 */

type Undo = () => unknown;

export class Reverter {
  private undos: Undo[] = [];
  private done = false;

  constructor(private readonly onError: (err: unknown) => void = () => undefined) {}

  add(undo: Undo): void {
    this.undos.push(undo);
  }

  success(): void {
    this.done = true;
    this.undos = [];
  }

  async fail(): Promise<void> {
    if (this.done) return;
    this.done = true;
    const undos = this.undos.reverse();
    this.undos = [];
    for (const undo of undos) {
      try {
        await undo();
      } catch (err) {
        this.onError(err);
      }
    }
  }
}
