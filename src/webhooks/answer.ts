// A receiver's answer, kept as bytes and shown losslessly. The answer comes from any server on
// the internet: it may hold a NUL, invalid UTF-8 or be endless, so it is never decoded on the
// way in and never read further than the part kept.

/** How much of the receiver's answer is kept in the attempt log. */
export const RESPONSE_BODY_BYTES_MAX = 1024;

export type AnswerEncoding = 'utf8' | 'base64';

export interface AnswerView {
  /** The kept answer: as text when it is valid UTF-8, else base64 of its bytes. */
  response_body: string | null;
  /** How response_body is written; null when no answer came back. */
  response_body_encoding: AnswerEncoding | null;
}

// fatal: invalid UTF-8 must be seen, not replaced; ignoreBOM: a BOM the receiver sent stays in the text.
const strictUtf8 = () => new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The first `limit` bytes of an answer. When the cut falls inside a character of a text answer,
 * the kept part ends before that character (at most 3 bytes less), so a long text answer still
 * shows as text rather than as base64 for its last few bytes.
 */
export function keptPrefix(bytes: Buffer, limit = RESPONSE_BODY_BYTES_MAX): Buffer {
  if (bytes.length <= limit) return bytes;
  const cut = bytes.subarray(0, limit);
  try {
    // stream: an incomplete character at the end is held back instead of being an error.
    return cut.subarray(0, Buffer.byteLength(strictUtf8().decode(cut, { stream: true }), 'utf8'));
  } catch {
    return cut;
  }
}

export function answerView(bytes: Uint8Array | null): AnswerView {
  if (bytes === null) return { response_body: null, response_body_encoding: null };
  try {
    return { response_body: strictUtf8().decode(bytes), response_body_encoding: 'utf8' };
  } catch {
    return { response_body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'), response_body_encoding: 'base64' };
  }
}
