import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/**
 * A tiny HTTP server on loopback that serves the JWKS object from S3 (moto) the way CloudFront would: it keeps
 * the origin's copy for the object's `s-maxage` on the simulated clock, then fetches it again. Verifiers fetch
 * from it over real HTTP.
 */
export class JwksCdn {
  readonly #server: Server;
  #cached:
    | { body: string; contentType: string; cacheControl: string; fetchedAt: number; ttlMs: number }
    | undefined;
  /** GetObject calls to the origin. */
  originFetches = 0;
  /** HTTP requests served. */
  requests = 0;

  constructor(
    private readonly options: {
      readonly s3: S3Client;
      readonly bucket: string;
      readonly key: string;
      readonly now: () => number;
    },
  ) {
    this.#server = createServer((req, res) => {
      this.requests++;
      this.#document()
        .then((document) => {
          if (!document || req.url !== `/${options.key}`) {
            res.writeHead(404).end();
            return;
          }
          res
            .writeHead(200, { 'content-type': document.contentType, 'cache-control': document.cacheControl })
            .end(document.body);
        })
        .catch(() => res.writeHead(502).end());
    });
  }

  /** Starts listening; returns the document's URL. */
  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/${this.options.key}`;
  }

  /** Fetches from the origin now, whatever the cache holds (the worst moment for a verifier to be served). */
  async refresh(): Promise<void> {
    this.#cached = undefined;
    await this.#document();
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  async #document() {
    const now = this.options.now();
    if (this.#cached && now - this.#cached.fetchedAt < this.#cached.ttlMs) return this.#cached;
    this.originFetches++;
    try {
      const out = await this.options.s3.send(
        new GetObjectCommand({ Bucket: this.options.bucket, Key: this.options.key }),
      );
      const cacheControl = out.CacheControl ?? '';
      const sMaxAge =
        /s-maxage=(\d+)/.exec(cacheControl)?.[1] ?? /max-age=(\d+)/.exec(cacheControl)?.[1] ?? '0';
      this.#cached = {
        body: (await out.Body?.transformToString()) ?? '',
        contentType: out.ContentType ?? 'application/octet-stream',
        cacheControl,
        fetchedAt: now,
        ttlMs: Number(sMaxAge) * 1000,
      };
      return this.#cached;
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw error;
    }
  }
}
