/**
 * SASLprep (RFC 4013, the stringprep profile of RFC 3454) as PostgreSQL applies it to a password before it
 * derives the SCRAM verifier (`pg_saslprep`), for the passwords whose result this module can be sure of.
 *
 * PostgreSQL's rules: a pure ASCII password is used as it is. Otherwise the non-ASCII spaces of table
 * C.1.2 become U+0020, the characters of table B.1 are dropped, the result is normalised to NFKC, and when
 * that result holds a prohibited character (tables C.1.2 to C.9, with the ASCII controls of C.2.1) or
 * breaks the bidirectional rules, the server uses the password unprepared instead.
 *
 * RFC 4013 fixes the Unicode version at 3.2, while `String.prototype.normalize` follows the runtime's
 * Unicode: a character unassigned in 3.2 is prohibited for PostgreSQL but normalised by the runtime. So this
 * module only answers for passwords made of ASCII, the two mapping tables, and blocks whose characters were
 * all assigned in Unicode 3.2 and are left-to-right or neutral (Latin-1, Latin Extended-A, Greek, Cyrillic,
 * combining diacritics, the euro sign); for anything else it returns `undefined`, and the caller lets the
 * server compute the verifier from the plaintext.
 */

/** RFC 3454 table C.1.2, non-ASCII space characters, mapped to U+0020 (checked first, as PostgreSQL does). */
const NON_ASCII_SPACE: ReadonlyArray<readonly [number, number]> = [
  [0x00a0, 0x00a0],
  [0x1680, 0x1680],
  [0x2000, 0x200b],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
];

/** RFC 3454 table B.1, commonly mapped to nothing. */
const MAPPED_TO_NOTHING: ReadonlyArray<readonly [number, number]> = [
  [0x00ad, 0x00ad],
  [0x034f, 0x034f],
  [0x1806, 0x1806],
  [0x180b, 0x180d],
  [0x200b, 0x200d],
  [0x2060, 0x2060],
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
];

/**
 * Code points, besides ASCII, whose stringprep treatment is certain: assigned in Unicode 3.2, not
 * prohibited, not right-to-left, and with NFKC forms that are themselves in this set or ASCII.
 */
const CERTAIN: ReadonlyArray<readonly [number, number]> = [
  [0x00a1, 0x00ac], // Latin-1 punctuation and signs (U+00A0 and U+00AD are mapped above)
  [0x00ae, 0x017f], // Latin-1 letters, Latin Extended-A
  [0x0300, 0x034e], // combining diacritical marks (NFKC of ´ ¨ ¸ ¯ and friends)
  [0x0386, 0x0386],
  [0x0388, 0x038a],
  [0x038c, 0x038c],
  [0x038e, 0x03a1],
  [0x03a3, 0x03ce], // Greek
  [0x0400, 0x045f], // Cyrillic
  [0x2044, 0x2044], // fraction slash (NFKC of ¼ ½ ¾)
  [0x20ac, 0x20ac], // euro sign
];

/** RFC 3454 table C.2.1, ASCII control characters: prohibited once the password is not pure ASCII. */
const ASCII_CONTROL: ReadonlyArray<readonly [number, number]> = [
  [0x0000, 0x001f],
  [0x007f, 0x007f],
];

function inTable(code: number, table: ReadonlyArray<readonly [number, number]>): boolean {
  return table.some(([low, high]) => code >= low && code <= high);
}

/**
 * The string PostgreSQL derives the SCRAM verifier from for `password`, or `undefined` when this module
 * cannot be certain of it (the caller then sends the password for the server to hash).
 */
export function saslPrep(password: string): string | undefined {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ASCII is exactly U+0000 to U+007F
  if (/^[\u0000-\u007f]*$/.test(password)) return password;
  let mapped = '';
  for (const character of password) {
    const code = character.codePointAt(0) as number;
    if (inTable(code, NON_ASCII_SPACE)) mapped += ' ';
    else if (inTable(code, MAPPED_TO_NOTHING)) continue;
    else if (code < 0x80 || inTable(code, CERTAIN)) mapped += character;
    else return undefined;
  }
  const normalized = mapped.normalize('NFKC');
  for (const character of normalized) {
    const code = character.codePointAt(0) as number;
    // A prohibited output: PostgreSQL falls back to the unprepared password.
    if (inTable(code, ASCII_CONTROL)) return password;
    if (code >= 0x80 && !inTable(code, CERTAIN)) return undefined;
  }
  return normalized;
}
