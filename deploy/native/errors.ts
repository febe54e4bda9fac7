/** A stack operation failed; the message says what failed and what to do. */
export class StackError extends Error {
  override readonly name = 'StackError';
}
