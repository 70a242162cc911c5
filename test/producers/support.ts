import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { projectRoot } from '../../src/db/migrate.js';
import { type ProcessResult, runProcess } from '../../src/process.js';
import { type Person, token } from '../cli/support.js';

export async function graphql<TData, TVariables>(
  url: string,
  who: Person,
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
): Promise<TData> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await token(who)}` },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await response.json()) as { data?: TData; errors?: unknown[] };
  if (body.errors?.length || !body.data) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** `bash -c script` with exactly the given environment (plus PATH and HOME), in the project. */
export function runBash(
  script: string,
  env: Record<string, string>,
  cwd = projectRoot,
): Promise<ProcessResult> {
  return runProcess('bash', ['-c', script], {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
  });
}

/**
 * `${{ expr }}` as Actions substitutes it, for the expressions these workflows use: context paths
 * (secrets.X, vars.X, inputs.X, steps.ID.outcome, github.X) joined by `||`, where an empty or
 * missing value falls through to the next.
 */
export function substitute(text: string, contexts: Record<string, unknown>): string {
  return text.replace(/\$\{\{\s*([\s\S]*?)\s*\}\}/g, (_all, expr: string) => {
    for (const part of expr.split('||').map((p) => p.trim())) {
      const value = /^'.*'$/.test(part)
        ? part.slice(1, -1)
        : part
            .split('.')
            .reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], contexts);
      if (value !== undefined && value !== null && value !== '' && value !== false) return String(value);
    }
    return '';
  });
}
