// The one rule for ID arguments and input fields that name a row: a UUID, or a ValidationError
// naming the argument (never a silent null or an ignored filter).
import { z } from 'zod';
import { ValidationError } from '../errors.js';

export const uuid = z.uuid({ message: 'must be a UUID' });

/** An ID argument that must be a UUID: a clear ValidationError naming the argument otherwise. */
export function uuidArg(value: string | number, name: string): string {
  const text = String(value);
  if (!uuid.safeParse(text).success) throw new ValidationError(`${name} must be a UUID`);
  return text;
}

/** The same rule for an optional argument: absent stays null, present must be a UUID. */
export function optionalUuidArg(value: string | number | null | undefined, name: string): string | null {
  return value === null || value === undefined ? null : uuidArg(value, name);
}
