import bytes from 'bytes';
import { closestMatch } from 'leven';
import ms from 'ms';
import { z } from 'zod';

/** The known name closest to `given`, when it looks like a typo of it: two edits, or one per three letters for longer ones. */
export function closestName(given: string, known: readonly string[]): string | undefined {
  return closestMatch(given, known, { maxDistance: Math.max(2, Math.floor(given.length / 3)) });
}

/** `(did you mean "prefix"?)` for a typo of a known name, or nothing. */
export function didYouMean(given: string, known: readonly string[]): string {
  const match = closestName(given, known);
  return match === undefined ? '' : ` (did you mean "${match}"?)`;
}

/**
 * A strict object whose unknown keys are named with the known key they look like a typo of:
 * `Unrecognized key: "prefx" (did you mean "prefix"?)`.
 */
export function closedObject<Shape extends z.core.$ZodLooseShape>(shape: Shape) {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((key) => `Unrecognized key: "${key}"${didYouMean(key, known)}`).join('; ')
        : undefined,
  });
}

const DURATION_FORM = "expected a duration: milliseconds (1000) or a string such as '500ms', '5s', '1m'";
const SIZE_FORM = "expected a size: bytes (1048576) or a string such as '512kb', '1mb'";

/** A duration in `ms` notation, in milliseconds; NaN when it is none. */
const parseDuration = (value: string): number => (value.trim() === '' ? Number.NaN : (ms(value as ms.StringValue) ?? Number.NaN));

/** Milliseconds, or `ms` notation (`'5s'`, `'1 minute'`), read as milliseconds. `min` is 1 (positive) or 0. */
export function duration(min: 0 | 1 = 1) {
  return z.union([z.number(), z.string()], { error: DURATION_FORM }).transform((value, context) => {
    const milliseconds = typeof value === 'number' ? value : parseDuration(value);
    if (!Number.isInteger(milliseconds) || milliseconds < min) {
      context.addIssue({ code: 'custom', message: `${DURATION_FORM}${min ? ', above 0' : ''}; got ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    return milliseconds;
  });
}

const SIZE_TEXT = /^\s*\d+(\.\d+)?\s*(b|kb|mb|gb|tb|pb)?\s*$/i;

/** Bytes, or a size string as the `bytes` package reads it (`'1mb'`, `'512kb'`: powers of 1024), read as bytes. */
export function size(min: 0 | 1 = 1) {
  return z.union([z.number(), z.string()], { error: SIZE_FORM }).transform((value, context) => {
    // `bytes` reads what it cannot parse as a number of bytes ('1xb' is 1): the form is checked first.
    const count = typeof value === 'number' ? value : SIZE_TEXT.test(value) ? bytes.parse(value)! : Number.NaN;
    if (!Number.isInteger(count) || count < min) {
      context.addIssue({ code: 'custom', message: `${SIZE_FORM}${min ? ', above 0' : ''}; got ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    return count;
  });
}
