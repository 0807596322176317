// Append-only typed arrays that double their capacity: 20M events without arrays of objects.

type TypedCtor<T> = { new (n: number): T };

class Growable<T extends Uint32Array | Float32Array> {
  private buf: T;
  length = 0;
  constructor(private readonly ctor: TypedCtor<T>, capacity = 1024) {
    this.buf = new ctor(Math.max(16, capacity));
  }
  push(v: number): void {
    if (this.length === this.buf.length) {
      const next = new this.ctor(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = v;
  }
  get(i: number): number {
    return this.buf[i]!;
  }
  set(i: number, v: number): void {
    this.buf[i] = v;
  }
  /** A right-sized copy of the contents. */
  finish(): T {
    return this.buf.slice(0, this.length) as T;
  }
}

export class GrowableU32 extends Growable<Uint32Array> {
  constructor(capacity?: number) {
    super(Uint32Array, capacity);
  }
}

export class GrowableF32 extends Growable<Float32Array> {
  constructor(capacity?: number) {
    super(Float32Array, capacity);
  }
}
