// The Pothos SchemaBuilder and its plugins; no types here (they live beside their resolvers in
// src/resolvers/*.ts). Scope-auth mirrors the RLS matrix so a forbidden call fails early with
// an error naming who may make it; RLS stays the backstop.
import SchemaBuilder from '@pothos/core';
import ErrorsPlugin from '@pothos/plugin-errors';
import ScopeAuthPlugin, { type AuthFailure, AuthScopeFailureType } from '@pothos/plugin-scope-auth';
import { isPersona, PERSONAS, type Persona } from './auth/personas.js';
import type { AuthenticatedContext, Context } from './context.js';
import { ForbiddenError } from './errors.js';

export type PersonaScopes = Record<Persona, boolean>;
export type AuthScopes = PersonaScopes & { authenticated: boolean };

/** Every scope implies a verified identity, so resolvers behind one may use ctx.identity directly. */
type AuthContexts = { [K in keyof AuthScopes]: AuthenticatedContext };

/** The personas that would have satisfied a failed check, in PERSONAS order. */
export function personasFromFailure(failure: AuthFailure): Persona[] {
  const found = new Set<Persona>();
  const walk = (f: AuthFailure): void => {
    if (f.kind === AuthScopeFailureType.AuthScope && isPersona(f.scope)) found.add(f.scope);
    if (f.kind === AuthScopeFailureType.AnyAuthScopes || f.kind === AuthScopeFailureType.AllAuthScopes) {
      f.failures.forEach(walk);
    }
  };
  walk(failure);
  return PERSONAS.filter((p) => found.has(p));
}

/**
 * The error a scope check raises: on a mutation it becomes the ForbiddenError member of the result
 * union (the errors plugin wraps scope-auth); elsewhere a GraphQL error with code FORBIDDEN.
 */
export function forbiddenError(coordinate: string, failure: AuthFailure): ForbiddenError {
  const requiredPersonas = personasFromFailure(failure);
  const message = requiredPersonas.length
    ? `${coordinate} requires one of the personas: ${requiredPersonas.join(', ')}`
    : `${coordinate} requires an authenticated caller`;
  return new ForbiddenError(message, requiredPersonas);
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function scopeMap(persona: string | null, authenticated: boolean): Readonly<AuthScopes> {
  const scopes = Object.fromEntries(PERSONAS.map((p) => [p, persona === p])) as PersonaScopes;
  return Object.freeze({ ...scopes, authenticated });
}

const PERSONA_SCOPES = new Map(PERSONAS.map((p) => [p as string, scopeMap(p, true)]));
const NO_PERSONA = scopeMap(null, true);
const ANONYMOUS = scopeMap(null, false);

/** The scopes of a caller: its persona's alone (a token naming none is authenticated, nothing more). */
export function scopesOf(identity: Context['identity']): Readonly<AuthScopes> {
  if (!identity) return ANONYMOUS;
  return PERSONA_SCOPES.get(identity.persona as string) ?? NO_PERSONA;
}

export const builder = new SchemaBuilder<{
  Context: Context;
  AuthScopes: AuthScopes;
  AuthContexts: AuthContexts;
  // Implemented in src/resolvers/scalars.ts.
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    JSON: { Input: unknown; Output: unknown };
  };
}>({
  // Errors first: it wraps scope-auth, so a refused mutation answers with its ForbiddenError union
  // member; scope-auth still runs before any resolver touches the database.
  plugins: [ErrorsPlugin, ScopeAuthPlugin],
  errors: {
    directResult: false,
    // createRelease → CreateReleaseResult = CreateReleaseSuccess | ValidationError | ...
    defaultResultOptions: { name: ({ fieldName }) => `${capitalize(fieldName)}Success` },
    defaultUnionOptions: { name: ({ fieldName }) => `${capitalize(fieldName)}Result` },
  },
  scopeAuth: {
    // Scopes are plain booleans from the verified token, the same few maps for every request
    // (scope-auth only reads them).
    authScopes: (context) => scopesOf(context.identity),
    authorizeOnSubscribe: true,
    unauthorizedError: (_parent, _context, info, result) =>
      forbiddenError(`${info.parentType.name}.${info.fieldName}`, result.failure),
  },
});
