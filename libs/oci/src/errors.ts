/**
 * Every rejection of bad input in libs/oci is an OciError: a one-line message
 * that says what was wrong and, for documents, which field.
 */
export class OciError extends Error {
  override name = 'OciError';
  constructor(message: string, readonly field?: string) {
    super(field ? `${field}: ${message}` : message);
  }
}
