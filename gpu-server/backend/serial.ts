/**
 * Calls run one after another, each after every call queued before it settled (a failure does
 * not stop the ones behind it). A backend owns one device or one set of onnxruntime thread pools
 * that already use every core; overlapping calls would only contend for them.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(call: () => Promise<T>): Promise<T> {
    const result = this.tail.then(call);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Settles once every call queued so far has. */
  drained(): Promise<unknown> {
    return this.tail;
  }
}
