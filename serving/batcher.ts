// The batching window of M-FALCON serving: jobs (microbatches, history encodes) from concurrent
// requests wait at most `windowMs` after the first of them arrives, then as many as fit in one
// pass (`maxWeight`, e.g. tokens) run together in ONE GPU pass. While a pass runs, new jobs
// queue up and go in the next pass right after it: the wait is bounded by the window plus one
// pass. One GpuLock per device keeps passes from different batchers strictly one at a time.

/** Runs async sections one at a time, in call order. */
export class GpuLock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const out = this.tail.then(fn, fn);
    this.tail = out.catch(() => undefined);
    return out;
  }
}

interface Pending<J, R> {
  job: J;
  resolve(r: R): void;
  reject(e: unknown): void;
}

export interface BatcherOptions<J> {
  /** Longest wait of the first queued job before its pass starts (ms, ≥ 0). */
  windowMs: number;
  /** Capacity of one pass in weight units; a single heavier job still runs (alone). */
  maxWeight: number;
  weight(job: J): number;
  lock: GpuLock;
}

export class PassBatcher<J, R> {
  private queue: Pending<J, R>[] = [];
  private queuedWeight = 0;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  /** Sizes of the passes run so far (jobs per pass), for metrics and tests. */
  onPass?: (jobs: number, weight: number, ms: number) => void;

  constructor(private readonly runPass: (jobs: J[]) => Promise<R[]>, private readonly o: BatcherOptions<J>) {
    if (!(o.windowMs >= 0 && Number.isFinite(o.windowMs))) throw new Error(`batcher: expected windowMs ≥ 0, got ${o.windowMs}`);
    if (!(o.maxWeight >= 1)) throw new Error(`batcher: expected maxWeight ≥ 1, got ${o.maxWeight}`);
  }

  push(job: J): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.queuedWeight += this.o.weight(job);
      this.schedule();
    });
  }

  get pending(): number {
    return this.queue.length;
  }

  private schedule(): void {
    if (this.running || this.queue.length === 0) return;
    if (this.queuedWeight >= this.o.maxWeight || this.o.windowMs === 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      void this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.flush();
      }, this.o.windowMs);
    }
  }

  private async flush(): Promise<void> {
    if (this.running || this.queue.length === 0) return;
    this.running = true;
    const take: Pending<J, R>[] = [];
    let w = 0;
    while (this.queue.length > 0) {
      const next = this.o.weight(this.queue[0]!.job);
      if (take.length > 0 && w + next > this.o.maxWeight) break;
      take.push(this.queue.shift()!);
      w += next;
    }
    this.queuedWeight -= w;
    const t0 = performance.now();
    try {
      const results = await this.o.lock.run(() => this.runPass(take.map((p) => p.job)));
      take.forEach((p, i) => p.resolve(results[i]!));
    } catch (e) {
      take.forEach((p) => p.reject(e));
    } finally {
      this.onPass?.(take.length, w, performance.now() - t0);
      this.running = false;
      // Jobs that arrived during the pass have waited already: run them now.
      if (this.queue.length > 0) {
        if (this.timer) clearTimeout(this.timer);
        this.timer = null;
        setImmediate(() => void this.flush());
      }
    }
  }
}
