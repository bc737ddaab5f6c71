import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { countThrottles, isNamed, SDK_RETRY_CONFIG } from '../rotation';
import { type JwksDocument, serializeJwks } from './key-set';

/** `Content-Type` of the published document. */
export const JWKS_CONTENT_TYPE = 'application/json';

/**
 * S3 user metadata of the JWKS object: the publication record. Written in the same `PutObject` as the
 * document, so what it says can never be ahead of what verifiers could fetch.
 */
export const PublicationMetadata = {
  /** `kid=seconds,...`: when each key of the document was first published (seconds since the epoch). */
  PUBLISHED: 'jwks-published',
  /** `kid=seconds`: AWSCURRENT's signing key as of every publication since then. */
  SIGNING: 'jwks-signing',
} as const;

// S3 allows 2 KB of user metadata; stay clear of it.
const MAX_PUBLISHED_METADATA_BYTES = 1800;

/** What the publication record says. Times are milliseconds since the epoch. */
export interface PublicationRecord {
  /** kid → when it was first seen in the document. */
  readonly published: ReadonlyMap<string, number>;
  /** The signing key of AWSCURRENT as of every publication since `at`. */
  readonly signing?: { readonly kid: string; readonly at: number };
}

/** A document as a verifier would fetch it. */
export interface PublishedJwks {
  /** `s3://bucket/key` or `ssm:parameter-name`. */
  readonly location: string;
  readonly body: string;
  /** The parsed body; `undefined` when it is not JSON. */
  readonly document: unknown;
  readonly contentType?: string;
  readonly cacheControl?: string;
  /** S3's LastModified, milliseconds since the epoch. */
  readonly lastModified?: number;
  readonly record: PublicationRecord;
}

/** Outcome of a publication. */
export interface PublishResult {
  /** Whether anything was written (false when every target already had the document). */
  readonly changed: boolean;
  /** Locations written. */
  readonly written: readonly string[];
}

/** Options of the publisher: where to publish and how long verifiers may cache. */
export interface JwksPublisherOptions {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly key: string;
  /** `max-age`: how long a verifier may cache the document. */
  readonly cacheSeconds: number;
  /** `s-maxage`: how long a shared cache (CloudFront) may keep it. */
  readonly cdnCacheSeconds: number;
  /** Also publish to this SSM parameter. */
  readonly ssmParameterName?: string;
  /**
   * The SSM client. @default - one built on first use: the SSM SDK is loaded only by functions that publish
   * to a parameter, so the others never pay for it at cold start
   */
  readonly ssm?: SSMClient;
}

/**
 * Publishes the JWKS to S3 (and optionally an SSM parameter), idempotently: a target that already holds the
 * document is not written again, and the S3 object's publication record keeps the first-publication time of
 * every key it still lists. The SSM parameter is written before S3, so S3's record is never earlier than any
 * target's content.
 */
export class JwksPublisher {
  readonly #options: JwksPublisherOptions;
  readonly cacheControl: string;
  #ssm: Promise<{ client: SSMClient; sdk: typeof import('@aws-sdk/client-ssm') }> | undefined;

  constructor(options: JwksPublisherOptions) {
    this.#options = options;
    // s-maxage is always stated: a CDN put in front later must not keep the document for max-age on top of
    // the verifiers' own cache.
    this.cacheControl = `public, max-age=${options.cacheSeconds}, s-maxage=${options.cdnCacheSeconds}`;
  }

  /** The SSM SDK and client, loaded once, on first use. */
  private ssm() {
    this.#ssm ??= import('@aws-sdk/client-ssm').then((sdk) => ({
      sdk,
      client: countThrottles(this.#options.ssm ?? new sdk.SSMClient(SDK_RETRY_CONFIG)),
    }));
    return this.#ssm;
  }

  /** `s3://bucket/key`. */
  get location(): string {
    return `s3://${this.#options.bucket}/${this.#options.key}`;
  }

  /** Every location that is published to, with a reader for each, S3 first. */
  sources(): Array<{ readonly location: string; readonly read: () => Promise<PublishedJwks | undefined> }> {
    const name = this.#options.ssmParameterName;
    return [
      { location: this.location, read: () => this.readS3() },
      ...(name ? [{ location: `ssm:${name}`, read: () => this.readSsm(name) }] : []),
    ];
  }

  /** The S3 document as a verifier would fetch it (GetObject), or `undefined` when there is none. */
  async readS3(): Promise<PublishedJwks | undefined> {
    const { s3, bucket, key } = this.#options;
    try {
      const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const body = (await out.Body?.transformToString('utf-8')) ?? '';
      return {
        location: this.location,
        body,
        document: parseJson(body),
        ...(out.ContentType ? { contentType: out.ContentType } : {}),
        ...(out.CacheControl ? { cacheControl: out.CacheControl } : {}),
        ...(out.LastModified ? { lastModified: out.LastModified.getTime() } : {}),
        record: decodeRecord(out.Metadata ?? {}),
      };
    } catch (error) {
      if (isNamed(error, 'NoSuchKey') || isNamed(error, 'NotFound')) return undefined;
      throw error;
    }
  }

  /**
   * Publishes `document`. `signingKid` is AWSCURRENT's signing key at the time of the call (`undefined` when
   * AWSCURRENT is a bootstrap value); `now` is milliseconds since the epoch.
   */
  async publish(document: JwksDocument, signingKid: string | undefined, now: number): Promise<PublishResult> {
    const body = serializeJwks(document);
    const written: string[] = [];
    const name = this.#options.ssmParameterName;
    if (name) {
      const existing = await this.readSsm(name);
      if (existing?.body !== body) {
        const { sdk, client } = await this.ssm();
        await client.send(
          new sdk.PutParameterCommand({
            Name: name,
            Value: body,
            Type: 'String',
            Overwrite: true,
            // Grows to the advanced tier only when the document outgrows 4 KB.
            Tier: 'Intelligent-Tiering',
            Description: 'Public JSON Web Key Set, written by the JWT signing key rotation',
          }),
        );
        written.push(`ssm:${name}`);
      }
    }
    const existing = await this.readS3();
    const record = nextRecord(existing, document, signingKid, now);
    const metadata = encodeRecord(record);
    const unchanged =
      existing !== undefined &&
      existing.body === body &&
      existing.contentType === JWKS_CONTENT_TYPE &&
      existing.cacheControl === this.cacheControl &&
      sameMetadata(encodeRecord(existing.record), metadata);
    if (!unchanged) {
      await this.#options.s3.send(
        new PutObjectCommand({
          Bucket: this.#options.bucket,
          Key: this.#options.key,
          Body: body,
          ContentType: JWKS_CONTENT_TYPE,
          CacheControl: this.cacheControl,
          Metadata: metadata,
        }),
      );
      written.push(this.location);
    }
    return { changed: written.length > 0, written };
  }

  private async readSsm(name: string): Promise<PublishedJwks | undefined> {
    try {
      const { sdk, client } = await this.ssm();
      const out = await client.send(new sdk.GetParameterCommand({ Name: name }));
      const body = out?.Parameter?.Value;
      if (body === undefined) return undefined;
      return { location: `ssm:${name}`, body, document: parseJson(body), record: { published: new Map() } };
    } catch (error) {
      if (isNamed(error, 'ParameterNotFound')) return undefined;
      throw error;
    }
  }
}

/**
 * When `kid` was first published, as far as the document shows: the record's time, or, for a key the document
 * lists without a record, its LastModified (it was there at the latest then). `undefined` when not listed.
 */
export function firstPublishedAt(published: PublishedJwks | undefined, kid: string): number | undefined {
  if (!published || !kidsOf(published.document).has(kid)) return undefined;
  return published.record.published.get(kid) ?? published.lastModified;
}

/** The record of a new publication: first-publication times carried over for keys the old document listed. */
export function nextRecord(
  existing: PublishedJwks | undefined,
  document: JwksDocument,
  signingKid: string | undefined,
  now: number,
): PublicationRecord {
  // Whole seconds, rounded up: a recorded time is never earlier than the write that made a key visible.
  const nowSeconds = Math.ceil(now / 1000) * 1000;
  const published = new Map<string, number>();
  for (const key of document.keys) {
    const kid = key.kid ?? '';
    const prior = firstPublishedAt(existing, kid);
    published.set(kid, prior !== undefined ? Math.ceil(prior / 1000) * 1000 : nowSeconds);
  }
  if (signingKid === undefined) return { published };
  const priorSigning = existing?.record.signing;
  return {
    published,
    signing: priorSigning?.kid === signingKid ? priorSigning : { kid: signingKid, at: nowSeconds },
  };
}

/** S3 user metadata for a record. */
export function encodeRecord(record: PublicationRecord): Record<string, string> {
  // Newest first, so that trimming to S3's metadata limit drops the oldest: only the newest (next) key's time
  // still matters to a rotation.
  const entries = [...record.published].sort((a, b) => b[1] - a[1]);
  let published = '';
  for (const [kid, at] of entries) {
    const entry = `${kid}=${Math.floor(at / 1000)}`;
    const candidate = published ? `${published},${entry}` : entry;
    if (Buffer.byteLength(candidate) > MAX_PUBLISHED_METADATA_BYTES) break;
    published = candidate;
  }
  return {
    [PublicationMetadata.PUBLISHED]: published,
    ...(record.signing
      ? { [PublicationMetadata.SIGNING]: `${record.signing.kid}=${Math.floor(record.signing.at / 1000)}` }
      : {}),
  };
}

/** A record from S3 user metadata; malformed entries are ignored (their keys count as just published). */
export function decodeRecord(metadata: Record<string, string>): PublicationRecord {
  const published = new Map<string, number>();
  for (const entry of (metadata[PublicationMetadata.PUBLISHED] ?? '').split(',')) {
    const parsed = parseEntry(entry);
    if (parsed) published.set(parsed.kid, parsed.at);
  }
  const signing = parseEntry(metadata[PublicationMetadata.SIGNING] ?? '');
  return { published, ...(signing ? { signing } : {}) };
}

/** The kids a document lists. */
export function kidsOf(document: unknown): Set<string> {
  const kids = new Set<string>();
  if (typeof document !== 'object' || document === null) return kids;
  const keys = (document as { keys?: unknown }).keys;
  if (!Array.isArray(keys)) return kids;
  for (const key of keys) {
    const kid = (key as { kid?: unknown } | null)?.kid;
    if (typeof kid === 'string') kids.add(kid);
  }
  return kids;
}

function parseEntry(entry: string): { kid: string; at: number } | undefined {
  const match = /^([A-Za-z0-9_-]+)=(\d{1,12})$/.exec(entry.trim());
  if (!match?.[1] || !match[2]) return undefined;
  return { kid: match[1], at: Number(match[2]) * 1000 };
}

function sameMetadata(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) if ((a[key] ?? '') !== (b[key] ?? '')) return false;
  return true;
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}
