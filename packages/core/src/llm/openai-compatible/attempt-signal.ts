/**
 * The abort signal of one HTTP attempt: it follows the caller's signal and fires on its own
 * when the server is silent for `timeoutMs`. The SDK's timeout ends when the headers arrive;
 * this one also covers a stream that stalls.
 */
export class AttemptSignal {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private readonly onCallerAbort = (): void => this.controller.abort();
  /** True when the timer, not the caller, aborted the attempt. */
  timedOut = false;

  constructor(
    private readonly callerSignal: AbortSignal | undefined,
    private readonly timeoutMs: number,
  ) {
    callerSignal?.addEventListener("abort", this.onCallerAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** (Re)starts the silence timer, e.g. after each chunk. */
  arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort();
    }, this.timeoutMs);
  }

  /** Stops the timer while the caller, not the server, has the turn. */
  pause(): void {
    clearTimeout(this.timer);
  }

  /** Stops the timer, lets go of the caller's signal, and closes the connection if still open. */
  dispose(): void {
    clearTimeout(this.timer);
    this.callerSignal?.removeEventListener("abort", this.onCallerAbort);
    this.controller.abort();
  }
}
