// The six database roles the control plane knows. Anything else is "no persona".
import { PERSONAS } from '../vocabulary.ts';

export { PERSONAS };

export type Persona = (typeof PERSONAS)[number];

export function isPersona(x: unknown): x is Persona {
  return typeof x === 'string' && (PERSONAS as readonly string[]).includes(x);
}
