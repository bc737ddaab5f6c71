import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One key the service holds. */
export interface ServiceKey {
  readonly id: string;
  readonly name: string;
  readonly value: string;
  revoked: boolean;
}

/** A failure the service answers with, once, for one operation. */
export interface Fault {
  readonly operation: 'issue' | 'check' | 'revoke' | 'list';
  readonly status: number;
  /** Do the work first, then answer with the failure (the answer is lost, the effect is not). */
  readonly afterWork?: boolean;
  /** How many requests it hits. @default 1 */
  times?: number;
}

/** Options of the local key service. */
export interface KeyServiceOptions {
  /** The admin credential the management API requires (`Authorization: Bearer <token>`). */
  readonly adminToken: string;
  /** Whether the service generates keys (or takes the caller's `key`). */
  readonly generatesValue: boolean;
  /** Replaces the service's own key check for the data API (a service verifying self-issued keys). */
  readonly authorize?: (key: string) => Promise<boolean>;
}

/**
 * A key service on loopback, as a SaaS API with API keys would have it: a management API behind an admin
 * credential (issue, list, revoke) and a data API that requires a key (`x-api-key`). It counts every refused
 * data request, and answers with injected faults.
 */
export class LocalKeyService {
  readonly keys = new Map<string, ServiceKey>();
  readonly faults: Fault[] = [];
  /** Data requests refused for their key. */
  refused = 0;
  /** Data requests served. */
  served = 0;
  /** Management requests refused for a missing or wrong admin credential. */
  adminRefused = 0;
  url = '';
  readonly #server: Server;
  readonly #options: KeyServiceOptions;
  #next = 0;

  private constructor(options: KeyServiceOptions) {
    this.#options = options;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
  }

  static async start(options: KeyServiceOptions): Promise<LocalKeyService> {
    const service = new LocalKeyService(options);
    await new Promise<void>((resolve) => service.#server.listen(0, '127.0.0.1', resolve));
    service.url = `http://127.0.0.1:${(service.#server.address() as AddressInfo).port}`;
    return service;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Issues a key directly (a secret's initial key). */
  issueDirect(name: string, value = randomBytes(20).toString('hex')): ServiceKey {
    const key = { id: `k${++this.#next}`, name, value, revoked: false };
    this.keys.set(key.id, key);
    return key;
  }

  live(): ServiceKey[] {
    return [...this.keys.values()].filter((k) => !k.revoked);
  }

  accepts(value: string): boolean {
    return this.live().some((k) => same(k.value, value));
  }

  async #handle(req: IncomingMessage, res: ServiceResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    const body = await readBody(req);
    if (url.pathname.startsWith('/v1/')) return this.#data(req, res, url);
    if (!url.pathname.startsWith('/admin/')) return json(res, 404, { error: 'not found' });
    const auth = req.headers.authorization ?? '';
    if (!same(auth, `Bearer ${this.#options.adminToken}`)) {
      this.adminRefused++;
      return json(res, 401, { error: 'admin credential required' });
    }
    const match = /^\/admin\/keys(?:\/([^/]+))?$/.exec(url.pathname);
    if (!match) return json(res, 404, { error: 'not found' });
    const id = match[1] ? decodeURIComponent(match[1]) : undefined;
    if (req.method === 'POST' && !id) {
      const fault = this.#fault('issue');
      if (fault && !fault.afterWork) return json(res, fault.status, { error: 'injected' });
      const request = JSON.parse(body || '{}') as { name?: string; key?: string };
      if (!request.name) return json(res, 400, { error: 'name required' });
      if (!this.#options.generatesValue && (!request.key || request.key.length < 20)) {
        return json(res, 400, { error: 'key of 20 characters or more required' });
      }
      const key = this.issueDirect(request.name, this.#options.generatesValue ? undefined : request.key);
      if (fault) return json(res, fault.status, { error: 'injected after issuing' });
      return json(res, 201, {
        data: { id: key.id, name: key.name, ...(this.#options.generatesValue ? { secret: key.value } : {}) },
      });
    }
    if (req.method === 'GET' && !id) {
      const fault = this.#fault('list');
      if (fault) return json(res, fault.status, { error: 'injected' });
      const prefix = url.searchParams.get('prefix') ?? '';
      return json(res, 200, {
        items: this.live()
          .filter((k) => k.name.startsWith(prefix))
          .map((k) => ({ id: k.id, label: k.name })),
      });
    }
    if (req.method === 'DELETE' && id) {
      const fault = this.#fault('revoke');
      if (fault && !fault.afterWork) return json(res, fault.status, { error: 'injected' });
      const key = this.keys.get(id);
      if (!key || key.revoked) return json(res, 404, { error: 'no such key' });
      key.revoked = true;
      if (fault) return json(res, fault.status, { error: 'injected after revoking' });
      res.writeHead(204).end();
      return;
    }
    return json(res, 405, { error: 'method not allowed' });
  }

  async #data(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (url.pathname === '/v1/whoami') {
      const fault = this.#fault('check');
      if (fault) return json(res, fault.status, { error: 'injected' });
    }
    const presented = String(req.headers['x-api-key'] ?? '');
    const ok = this.#options.authorize ? await this.#options.authorize(presented) : this.accepts(presented);
    if (!ok) {
      this.refused++;
      return json(res, 401, { error: 'invalid api key' });
    }
    this.served++;
    return json(res, 200, { ok: true });
  }

  #fault(operation: Fault['operation']): Fault | undefined {
    const index = this.faults.findIndex((f) => f.operation === operation);
    const fault = this.faults[index];
    if (!fault) return undefined;
    fault.times = (fault.times ?? 1) - 1;
    if (fault.times <= 0) this.faults.splice(index, 1);
    return fault;
  }
}

type ServiceResponse = ServerResponse;

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
