// Reading a Fetch body into memory under a byte limit: one loop for the ingest route (in Node and
// in the Edge Function, hence no imports) and the GraphQL body limit (body-limit.ts).

/** The body passed the limit; what was not read yet was not read at all. */
export class BodyTooLarge extends Error {}

/**
 * Reads the whole body (null: no body, an empty array) into one byte array. Throws BodyTooLarge as
 * soon as more than `limit` bytes have arrived, cancelling the stream so the rest is never buffered.
 */
export async function readBodyWithin(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<Uint8Array<ArrayBuffer>> {
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    size += next.value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLarge();
    }
    chunks.push(next.value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.byteLength;
  }
  return all;
}
