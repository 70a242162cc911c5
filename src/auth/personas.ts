// The six database roles the control plane knows. Anything else is "no persona".
export const PERSONAS = [
  'ci_service_role',
  'release_manager',
  'qa_tester',
  'sre',
  'developer',
  'audit_reader',
] as const;

export type Persona = (typeof PERSONAS)[number];

export function isPersona(x: unknown): x is Persona {
  return typeof x === 'string' && (PERSONAS as readonly string[]).includes(x);
}
