/** s3rver, the local S3: a real HTTP S3 API over a folder (it does not check SigV4 signatures). */
import S3rver from 's3rver';

export interface LocalS3 {
  url: string;
  bucket: string;
  stop(): Promise<void>;
}

export async function startS3(o: { directory: string; bucket: string; port: number }): Promise<LocalS3> {
  const server = new S3rver({ address: '127.0.0.1', port: o.port, silent: true, directory: o.directory, configureBuckets: [{ name: o.bucket, configs: [] }] });
  const { address, port } = await server.run();
  let closed: Promise<void> | undefined;
  // Idempotent: s3rver rejects a second close, and a test may stop S3 before the stack does.
  return { url: `http://${address}:${port}`, bucket: o.bucket, stop: () => (closed ??= server.close()) };
}
