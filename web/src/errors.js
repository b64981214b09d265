// Errors of docs/FORMAT.md, "Reading": one class, `kind` is the label, and
// `label` is the form the vector files use (crates/sealstream-format/tests/vectors).

/** An error of the object format, named by its FORMAT.md label. */
export class FormatError extends Error {
  /**
   * @param {string} kind NotSealstream | UnsupportedVersion | UnsupportedSuite | MalformedHeader |
   *   LimitExceeded | NameMismatch | Truncated | CommitmentMismatch | ChunkAuthentication | TrailingData
   * @param {string} message what is wrong, where, and what to do
   * @param {object} [detail] field, value, chunk, final
   */
  constructor(kind, message, detail = {}) {
    super(message);
    this.name = 'FormatError';
    this.kind = kind;
    Object.assign(this, detail);
  }

  /** `MalformedHeader(padding)`, `ChunkAuthentication(3, final)`, `Truncated`, ... */
  get label() {
    switch (this.kind) {
      case 'MalformedHeader':
        return `MalformedHeader(${this.field})`;
      case 'UnsupportedVersion':
      case 'UnsupportedSuite':
        return `${this.kind}(${this.value})`;
      case 'ChunkAuthentication':
        return this.final ? `ChunkAuthentication(${this.chunk}, final)` : `ChunkAuthentication(${this.chunk})`;
      default:
        return this.kind;
    }
  }
}

export const malformed = (field, why) =>
  new FormatError('MalformedHeader', `malformed header (${field}): ${why}`, { field });
export const limit = (field, why) =>
  new FormatError('LimitExceeded', `limit exceeded (${field}): ${why}`, { field });
export const truncated = (why) =>
  new FormatError('Truncated', `truncated: ${why}; the object is incomplete (an interrupted upload or a cut download)`);
