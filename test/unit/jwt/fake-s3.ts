import { GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';

/** One stored object. */
export interface FakeObject {
  body: string;
  contentType?: string;
  cacheControl?: string;
  metadata: Record<string, string>;
  lastModified: Date;
}

function notFound(): S3ServiceException {
  return new S3ServiceException({
    name: 'NoSuchKey',
    message: 'The specified key does not exist.',
    $fault: 'client',
    $metadata: { httpStatusCode: 404 },
  });
}

/**
 * A stateful in-memory S3 for the two calls the JWKS publisher makes, served through aws-sdk-client-mock.
 * `failNextPut` makes the next PutObject throw (a crash or outage in the middle of a step).
 */
export class FakeS3 {
  readonly client = new S3Client({ region: 'us-east-1' });
  readonly mock: AwsClientStub<S3Client>;
  readonly objects = new Map<string, FakeObject>();
  failNextPut: Error | undefined;
  /** Bodies of every PutObject, in order. */
  readonly puts: Array<{ key: string; body: string; metadata: Record<string, string> }> = [];
  /** LastModified given to the next writes; real S3 stamps its own clock. */
  clock: () => number = Date.now;

  constructor() {
    this.mock = mockClient(this.client);
    this.mock.on(GetObjectCommand).callsFake((input) => {
      const object = this.objects.get(`${input.Bucket}/${input.Key}`);
      if (!object) throw notFound();
      return {
        Body: { transformToString: async () => object.body } as never,
        ContentType: object.contentType,
        CacheControl: object.cacheControl,
        Metadata: { ...object.metadata },
        LastModified: object.lastModified,
      };
    });
    this.mock.on(PutObjectCommand).callsFake((input) => {
      if (this.failNextPut) {
        const error = this.failNextPut;
        this.failNextPut = undefined;
        throw error;
      }
      const body = String(input.Body ?? '');
      const metadata = { ...(input.Metadata ?? {}) };
      this.objects.set(`${input.Bucket}/${input.Key}`, {
        body,
        ...(input.ContentType ? { contentType: input.ContentType } : {}),
        ...(input.CacheControl ? { cacheControl: input.CacheControl } : {}),
        metadata,
        lastModified: new Date(Math.floor(this.clock() / 1000) * 1000),
      });
      this.puts.push({ key: String(input.Key), body, metadata });
      return { ETag: '"etag"' };
    });
  }

  /** The object's body parsed as JSON. */
  json(bucket: string, key: string): { keys: Array<Record<string, string>> } {
    const object = this.objects.get(`${bucket}/${key}`);
    if (!object) throw new Error(`no object ${bucket}/${key}`);
    return JSON.parse(object.body);
  }

  object(bucket: string, key: string): FakeObject | undefined {
    return this.objects.get(`${bucket}/${key}`);
  }
}
