/** Keys of secret JSON whose values identify rather than authenticate; they stay readable in messages. */
const NON_SECRET_KEYS = new Set([
  'engine',
  'host',
  'port',
  'username',
  'dbname',
  'masterarn',
  'dbInstanceIdentifier',
  'dbClusterIdentifier',
  'ssl',
  'kid',
  'kty',
  'alg',
  'use',
  'crv',
  'state',
  'keyId',
  'provider',
]);

/**
 * Shortest value registered. Three characters or fewer cannot be told from ordinary text (every `abc` in
 * a message would go), and no value we generate is that short.
 */
export const MIN_REDACTED_LENGTH = 4;

/**
 * Below this length a form of a value is only matched as a whole token (not next to a letter or digit, and
 * not inside an ARN), so that a short value such as `secret` does not eat `secretsmanager` or an ARN's
 * `:secret:`. At this length and above a form is matched anywhere: a random string that long does not occur
 * in ordinary text by chance.
 */
const ANYWHERE_LENGTH = 12;

/** Forms at least this long are also found when a line break splits them (wrapped output, PEM-like text). */
const SPLIT_LENGTH = 16;

/** The replacement of a redacted value. */
export const REDACTED = '[REDACTED]';

/** One searchable form of a registered value. */
interface Form {
  readonly text: string;
  /** Matched ignoring ASCII case (the raw, escaped, URL-encoded and hex forms; never base64). */
  readonly ignoreCase: boolean;
  /** Matched only as a whole token. */
  readonly bounded: boolean;
  /** A base64 encoding: the characters next to it also carry bits of the value, and go with it. */
  readonly base64?: boolean;
}

interface CompiledForm {
  readonly bounded: boolean;
  readonly base64: boolean;
  readonly pattern: RegExp;
  /** The same form with line breaks removed, searched in the text with line breaks removed. */
  readonly splitPattern?: RegExp;
}

const ARN = /arn:aws[a-z-]*:[a-z0-9-]*:[a-z0-9-]*:\d{0,12}:[^\s"'`,;()[\]{}<>]+/gi;
/** Line breaks, raw or JSON-escaped, that may split a value in a message. */
const LINE_BREAK = /\r\n|\r|\n|\\r\\n|\\n|\\r/g;

/**
 * Remembers every secret value an invocation has seen and scrubs them from text: the last line of defence
 * for error messages of drivers and SDKs, which we do not control.
 *
 * Besides the value as it is, it finds the forms a value takes on its way into a message: JSON-escaped
 * (once or twice, and with non-ASCII characters as `\uXXXX`), URL-encoded (including `+` for spaces), hex,
 * base64 and base64url at any byte alignment (a password inside `Basic base64(user:password)`), in upper or
 * lower case, and split across lines.
 */
export class Redactor {
  readonly #values = new Set<string>();
  #compiled: CompiledForm[] | undefined;

  /** Registers a raw secret string, and each sensitive string inside it when it is JSON. */
  addSecretString(secretString: string): void {
    this.add(secretString);
    try {
      this.#addLeaves(JSON.parse(secretString), undefined);
    } catch {
      // Not JSON: the whole string is the secret, registered above.
    }
  }

  /** Registers one sensitive value. Values shorter than {@link MIN_REDACTED_LENGTH} are ignored. */
  add(value: string): void {
    if (value.length < MIN_REDACTED_LENGTH || this.#values.has(value)) return;
    this.#values.add(value);
    this.#compiled = undefined;
  }

  /** `text` with every form of every registered value replaced by {@link REDACTED}. */
  redact(text: string): string {
    const spans = this.#spans(text);
    if (spans.length === 0) return text;
    let out = '';
    let at = 0;
    for (const [start, end] of spans) {
      out += text.slice(at, start) + REDACTED;
      at = end;
    }
    return out + text.slice(at);
  }

  /** Whether `text` contains any form of any registered value. */
  contains(text: string): boolean {
    return this.#spans(text).length > 0;
  }

  /**
   * A copy of an error, and of what it wraps, with every registered value removed from messages and
   * stacks. Errors leave the function (the Lambda runtime reports them, callers log them with their
   * causes), so none may carry the raw text a driver or provider put in it.
   */
  scrubError(error: unknown, depth = 0): Error {
    const name = error instanceof Error ? error.name : typeof error;
    const copy = new Error(this.redact(error instanceof Error ? error.message : String(error)));
    copy.name = name;
    copy.stack =
      error instanceof Error && error.stack ? this.redact(error.stack) : `${name}: ${copy.message}`;
    const cause = error instanceof Error ? error.cause : undefined;
    if (cause !== undefined && depth < 4) {
      Object.defineProperty(copy, 'cause', { value: this.scrubError(cause, depth + 1), enumerable: false });
    }
    return copy;
  }

  /** Sorted, merged [start, end) spans of `text` to replace. */
  #spans(text: string): Array<[number, number]> {
    if (this.#values.size === 0 || text.length === 0) return [];
    const compiled = this.#compile();
    const arns = [...text.matchAll(ARN)].map((m): [number, number] => [m.index, m.index + m[0].length]);
    const insideArn = (start: number, end: number) => arns.some(([s, e]) => start >= s && end <= e);
    const found: Array<[number, number]> = [];
    for (const form of compiled) {
      for (const match of text.matchAll(form.pattern)) {
        const span: [number, number] = [match.index, match.index + match[0].length];
        if (form.bounded && insideArn(span[0], span[1])) continue;
        found.push(form.base64 ? widenBase64(text, span) : span);
      }
    }
    const split = stripLineBreaks(text);
    if (split.stripped.length !== text.length) {
      for (const form of compiled) {
        if (!form.splitPattern) continue;
        for (const match of split.stripped.matchAll(form.splitPattern)) {
          const start = split.origin[match.index] ?? 0;
          const last = split.origin[match.index + match[0].length - 1] ?? start;
          found.push([start, last + 1]);
        }
      }
    }
    return merge(found);
  }

  #compile(): CompiledForm[] {
    if (this.#compiled) return this.#compiled;
    const forms = new Map<string, Form>();
    for (const value of this.#values) {
      for (const form of formsOf(value)) {
        const key = `${form.ignoreCase ? 'i' : 'c'}${form.bounded ? 'b' : 'a'}:${form.text}`;
        if (!forms.has(key)) forms.set(key, form);
      }
    }
    this.#compiled = [...forms.values()].map((form) => {
      const flags = form.ignoreCase ? 'gi' : 'g';
      const body = escapeRegExp(form.text);
      const pattern = new RegExp(form.bounded ? `(?<![A-Za-z0-9])${body}(?![A-Za-z0-9])` : body, flags);
      const unbroken = form.text.replace(LINE_BREAK, '');
      return {
        bounded: form.bounded,
        base64: form.base64 === true,
        pattern,
        ...(unbroken.length >= SPLIT_LENGTH
          ? { splitPattern: new RegExp(escapeRegExp(unbroken), flags) }
          : {}),
      };
    });
    return this.#compiled;
  }

  #addLeaves(node: unknown, key: string | undefined): void {
    // Strings only: numbers in our secrets are settings (ports, lifetimes), and redacting every `3600` in a
    // message would hide more than it protects.
    if (typeof node === 'string') {
      if (key === undefined || !NON_SECRET_KEYS.has(key)) this.add(node);
    } else if (Array.isArray(node)) {
      for (const item of node) this.#addLeaves(item, key);
    } else if (typeof node === 'object' && node !== null) {
      for (const [childKey, child] of Object.entries(node)) this.#addLeaves(child, childKey);
    }
  }
}

/** Every form `value` may take in a message. */
function formsOf(value: string): Form[] {
  const texts = new Set<string>([value]);
  const escaped = JSON.stringify(value).slice(1, -1);
  texts.add(escaped);
  texts.add(asciiEscaped(escaped));
  texts.add(JSON.stringify(escaped).slice(1, -1));
  const uri = encodeURIComponent(value);
  texts.add(uri);
  texts.add(uri.replace(/%20/g, '+'));
  texts.add(encodeURI(value));
  const bytes = Buffer.from(value, 'utf8');
  texts.add(bytes.toString('hex'));
  const forms: Form[] = [...texts].map((text) => ({
    text,
    ignoreCase: true,
    bounded: text.length < ANYWHERE_LENGTH,
  }));
  for (const text of base64Forms(bytes)) {
    forms.push({ text, ignoreCase: false, bounded: text.length < ANYWHERE_LENGTH, base64: true });
  }
  return forms.filter((form) => form.text.length >= MIN_REDACTED_LENGTH);
}

/**
 * The base64 and base64url text that encodes `bytes` whatever precedes them: for each of the three byte
 * alignments, the characters fully determined by the value's own bytes. The value as a whole encoding
 * (with and without padding) is one of them.
 */
function base64Forms(bytes: Buffer): string[] {
  const out = new Set<string>();
  const whole = bytes.toString('base64');
  out.add(whole);
  out.add(whole.replace(/=+$/, ''));
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    const start = offset === 0 ? 0 : 4;
    const end = Math.floor((offset + bytes.length) / 3) * 4;
    if (end - start >= 8) out.add(encoded.slice(start, end));
  }
  for (const text of [...out]) out.add(text.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''));
  return [...out];
}

/**
 * A base64 match widened by the group of four characters on each side: at another byte alignment those
 * mix the value's first and last bytes with their neighbours' (`Basic base64(user:password)`).
 */
function widenBase64(text: string, [start, end]: [number, number]): [number, number] {
  const isBase64 = (c: string | undefined) => c !== undefined && /[A-Za-z0-9+/=_-]/.test(c);
  let from = start;
  while (from > 0 && start - from < 4 && isBase64(text[from - 1])) from--;
  let to = end;
  while (to < text.length && to - end < 4 && isBase64(text[to])) to++;
  return [from, to];
}

function asciiEscaped(text: string): string {
  return text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** `text` without line breaks, and for each remaining character its index in `text`. */
function stripLineBreaks(text: string): { stripped: string; origin: number[] } {
  const origin: number[] = [];
  let stripped = '';
  let at = 0;
  for (const match of text.matchAll(LINE_BREAK)) {
    for (let i = at; i < match.index; i++) origin.push(i);
    stripped += text.slice(at, match.index);
    at = match.index + match[0].length;
  }
  for (let i = at; i < text.length; i++) origin.push(i);
  stripped += text.slice(at);
  return { stripped, origin };
}

function merge(spans: Array<[number, number]>): Array<[number, number]> {
  spans.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  const out: Array<[number, number]> = [];
  for (const span of spans) {
    const last = out.at(-1);
    if (last && span[0] <= last[1]) last[1] = Math.max(last[1], span[1]);
    else out.push([span[0], span[1]]);
  }
  return out;
}
