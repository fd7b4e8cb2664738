/**
 * The edge's only state: objects in S3 (or R2, or any S3-compatible store), every one of them
 * sealed by the Keyring before it leaves the isolate. An unreachable store is a 503, never a
 * silent miss.
 */
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, NoSuchKey, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import type { Keyring } from '../crypto';
import { unavailable } from '../errors';
import type { Config } from '../env';

export class ObjectStore {
  private readonly s3: S3Client;

  constructor(private readonly config: Config) {
    this.s3 = new S3Client({
      endpoint: config.S3_ENDPOINT,
      region: config.S3_REGION,
      forcePathStyle: true,
      credentials: { accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: config.S3_SECRET_ACCESS_KEY },
      // Plain PUTs with a Content-Length: what every S3-compatible store (and s3rver) accepts.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 2,
    });
  }

  private async call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      if (e instanceof NoSuchKey) throw e;
      const detail = e instanceof S3ServiceException ? `${e.name} (HTTP ${e.$metadata.httpStatusCode ?? '?'})` : (e as Error).message;
      throw unavailable(`the adapter store is unavailable (${what}: ${detail})`);
    }
  }

  async get(key: string): Promise<Uint8Array | null> {
    try {
      // Reading the body is part of the call: a store that fails mid-answer is unavailable too.
      return await this.call(`get ${key}`, async () => {
        const res = await this.s3.send(new GetObjectCommand({ Bucket: this.config.S3_BUCKET, Key: key }));
        return res.Body!.transformToByteArray();
      });
    } catch (e) {
      if (e instanceof NoSuchKey) return null;
      throw e;
    }
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    await this.call(`put ${key}`, () => this.s3.send(new PutObjectCommand({ Bucket: this.config.S3_BUCKET, Key: key, Body: bytes, ContentLength: bytes.length, ContentType: 'application/octet-stream' })));
  }

  async delete(key: string): Promise<void> {
    await this.call(`delete ${key}`, () => this.s3.send(new DeleteObjectCommand({ Bucket: this.config.S3_BUCKET, Key: key })));
  }

  /** Every key under a prefix, following continuation tokens. */
  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const res = await this.call(`list ${prefix}`, () => this.s3.send(new ListObjectsV2Command({ Bucket: this.config.S3_BUCKET, Prefix: prefix, ContinuationToken: token })));
      for (const o of res.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }
}

/** Objects sealed under a tenant's key, with the object's key as associated data. */
export class SealedStore {
  constructor(
    readonly objects: ObjectStore,
    private readonly keyring: Keyring,
  ) {}

  async put(tenant: string, key: string, plaintext: Uint8Array): Promise<void> {
    await this.objects.put(key, await this.keyring.seal(tenant, key, plaintext));
  }

  async get(tenant: string, key: string): Promise<Uint8Array | null> {
    const sealed = await this.objects.get(key);
    return sealed && this.keyring.open(tenant, key, sealed);
  }

  async putJson(tenant: string, key: string, value: unknown): Promise<void> {
    await this.put(tenant, key, new TextEncoder().encode(JSON.stringify(value)));
  }

  async getJson(tenant: string, key: string): Promise<unknown> {
    const bytes = await this.get(tenant, key);
    return bytes && JSON.parse(new TextDecoder().decode(bytes));
  }
}
