// The part of autocannon's API (npm `autocannon`, untyped) the serving benchmark uses.
declare module 'autocannon' {
  interface Stats {
    average: number;
    p50: number;
    p99: number;
    max: number;
    total: number;
  }
  interface Options {
    url: string;
    connections?: number;
    pipelining?: number;
    duration?: number;
    amount?: number;
    method?: string;
    headers?: Record<string, string>;
    requests?: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer }[];
    timeout?: number;
  }
  interface Result {
    latency: Stats;
    requests: Stats;
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    '2xx': number;
  }
  function autocannon(opts: Options): Promise<Result>;
  export default autocannon;
}
