// Bytes on the wire, counted on the client side: the sockets of an ioredis client (every node
// connection of a Cluster; Node's socket.bytesWritten / bytesRead, so RESP framing, keys and
// replies are included) or a byte counter kept by a transport (the TCP ring's stats). Used for
// the step's bytes per part (worker_sync.ts) against the formula in BENCHMARKS.md.
import type { Socket } from 'node:net';
import type { Cluster, Redis } from 'ioredis';

export interface WireBytes {
  sent: number;
  received: number;
}

/**
 * Bytes written to / read from every connection `client` has open now. A connection that closed
 * (a failover) takes its counts with it: deltas across one are lower bounds.
 */
export function clientBytes(client: Cluster | Redis): WireBytes {
  const nodes: Redis[] = 'nodes' in client && typeof client.nodes === 'function' ? (client as Cluster).nodes('all') : [client as Redis];
  let sent = 0, received = 0;
  for (const n of nodes) {
    const s = (n as unknown as { stream?: Socket }).stream;
    if (!s) continue;
    sent += s.bytesWritten ?? 0;
    received += s.bytesRead ?? 0;
  }
  return { sent, received };
}

export const minus = (a: WireBytes, b: WireBytes): WireBytes => ({ sent: a.sent - b.sent, received: a.received - b.received });

/** Running totals of several named parts. */
export class WireTotals {
  readonly parts = new Map<string, WireBytes>();
  add(part: string, d: WireBytes): void {
    const t = this.parts.get(part) ?? { sent: 0, received: 0 };
    t.sent += d.sent;
    t.received += d.received;
    this.parts.set(part, t);
  }
  /** "part sent/received" per step, in bytes. */
  perStep(steps: number): Record<string, WireBytes> {
    const n = Math.max(1, steps);
    return Object.fromEntries([...this.parts].map(([k, v]) => [k, { sent: Math.round(v.sent / n), received: Math.round(v.received / n) }]));
  }
}
