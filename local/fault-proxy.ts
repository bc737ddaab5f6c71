import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A named operation to fail, as AWS would answer it. */
export interface OperationFault {
  /** The operation, as in `X-Amz-Target` after the dot: `PutSecretValue`, `GetSecretValue`, `PutEvents`. */
  readonly operation: string;
  /** The error code returned. @default 'InternalServiceError' */
  readonly code?: string;
  /** HTTP status of the error. @default 500 */
  readonly status?: number;
  /** Fail only the first `times` calls, then pass them through. @default every call */
  readonly times?: number;
}

/** What the proxy does to the requests it forwards. */
export interface FaultProxyOptions {
  /** The real endpoint behind the proxy (moto's server). */
  readonly target: string;
  /**
   * Requests per second the endpoint accepts; above it, requests get `ThrottlingException` (JSON protocols)
   * or `SlowDown` (S3), as AWS answers a quota. @default unlimited
   */
  readonly ratePerSecond?: number;
  /** Requests that may arrive at once before the rate applies. @default a tenth of a second's worth, at least 1 */
  readonly burst?: number;
  /**
   * Quotas per group of operations, as Secrets Manager enforces them (one bucket a group, shared by its
   * operations); a request of an operation in no group is not throttled by them. Applies in addition to
   * `ratePerSecond`. @default none
   */
  readonly quotas?: readonly OperationQuota[];
  /** Milliseconds added before every forwarded request. @default 0 */
  readonly latencyMs?: number;
  /** Operations to fail. */
  readonly failures?: readonly OperationFault[];
  /** Milliseconds since an arbitrary origin; injectable for tests. */
  readonly now?: () => number;
}

/** One quota: a request rate shared by a group of operations. */
export interface OperationQuota {
  readonly name: string;
  readonly ratePerSecond: number;
  readonly operations: readonly string[];
  /** Requests that may arrive at once. @default a tenth of a second's worth, at least 1 */
  readonly burst?: number;
}

/** What the proxy saw, per operation. */
export interface FaultProxyStats {
  /** Requests forwarded to the target. */
  forwarded: number;
  /** Requests answered with a throttling error. */
  throttled: number;
  /** Requests answered with an injected failure. */
  failed: number;
  /** Forwarded requests by operation. */
  readonly byOperation: Record<string, number>;
  /** Throttled requests by quota name (`rate` for `ratePerSecond`). */
  readonly throttledByQuota: Record<string, number>;
}

/** A running fault-injection proxy. */
export interface FaultProxy {
  /** The endpoint to give the AWS SDK instead of the target's. */
  readonly endpoint: string;
  readonly stats: FaultProxyStats;
  stop(): Promise<void>;
}

/** The operation a request calls: `X-Amz-Target`'s action for JSON protocols, else method and first path part. */
export function operationOf(req: Pick<IncomingMessage, 'headers' | 'method' | 'url'>): string {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string' && target.includes('.')) return target.slice(target.lastIndexOf('.') + 1);
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  return `${req.method ?? 'GET'} /${path.split('/')[1] ?? ''}`;
}

/**
 * A token bucket: `rate` tokens a second, at most `burst` saved up. `take()` says whether a request may go
 * now; a refused request does not consume a token, as a service quota behaves.
 */
export class TokenBucket {
  #tokens: number;
  #last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number,
  ) {
    this.#tokens = burst;
    this.#last = now();
  }

  take(): boolean {
    const t = this.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((t - this.#last) / 1000) * this.rate);
    this.#last = t;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/**
 * Starts a proxy on a free loopback port in front of `target`: throttling at a request rate, added latency,
 * failures of named operations. The unmodified AWS SDK reaches it through `endpoint` like any other.
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const now = options.now ?? (() => performance.now());
  const bucket =
    options.ratePerSecond !== undefined
      ? new TokenBucket(
          options.ratePerSecond,
          options.burst ?? Math.max(1, Math.floor(options.ratePerSecond / 10)),
          now,
        )
      : undefined;
  const remaining = new Map<string, number>();
  for (const fault of options.failures ?? [])
    remaining.set(fault.operation, fault.times ?? Number.POSITIVE_INFINITY);
  const faults = new Map((options.failures ?? []).map((f) => [f.operation, f]));
  const stats: FaultProxyStats = {
    forwarded: 0,
    throttled: 0,
    failed: 0,
    byOperation: {},
    throttledByQuota: {},
  };
  const quotaBuckets = new Map<string, { name: string; bucket: TokenBucket }>();
  for (const quota of options.quotas ?? []) {
    const bucket = new TokenBucket(
      quota.ratePerSecond,
      quota.burst ?? Math.max(1, Math.floor(quota.ratePerSecond / 10)),
      now,
    );
    for (const operation of quota.operations) quotaBuckets.set(operation, { name: quota.name, bucket });
  }
  const throttledBy = (): string | undefined => {
    if (bucket && !bucket.take()) return 'rate';
    return undefined;
  };

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const upstream = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`fault proxy: target unreachable (${error.message})`);
    });
    req.pipe(upstream);
  };

  const server: Server = createServer((req, res) => {
    const operation = operationOf(req);
    const json = typeof req.headers['x-amz-target'] === 'string';
    const quota = quotaBuckets.get(operation);
    const throttled = throttledBy() ?? (quota && !quota.bucket.take() ? quota.name : undefined);
    if (throttled) {
      stats.throttled++;
      stats.throttledByQuota[throttled] = (stats.throttledByQuota[throttled] ?? 0) + 1;
      req.resume();
      if (json) reject(res, 400, 'ThrottlingException', 'Rate exceeded');
      else rejectXml(res, 503, 'SlowDown', 'Please reduce your request rate.');
      return;
    }
    const left = remaining.get(operation);
    if (left !== undefined && left > 0) {
      remaining.set(operation, left - 1);
      stats.failed++;
      req.resume();
      const fault = faults.get(operation);
      const code = fault?.code ?? 'InternalServiceError';
      const status = fault?.status ?? 500;
      if (json) reject(res, status, code, `fault proxy: injected failure of ${operation}`);
      else rejectXml(res, status, code, `fault proxy: injected failure of ${operation}`);
      return;
    }
    stats.forwarded++;
    stats.byOperation[operation] = (stats.byOperation[operation] ?? 0) + 1;
    if (options.latencyMs) setTimeout(() => forward(req, res), options.latencyMs);
    else forward(req, res);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function reject(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'x-amzn-errortype': code,
    'x-amzn-requestid': crypto.randomUUID(),
  });
  res.end(JSON.stringify({ __type: code, message }));
}

function rejectXml(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/xml', 'x-amz-request-id': crypto.randomUUID() });
  res.end(
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`,
  );
}
