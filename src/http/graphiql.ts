// The GraphiQL page: the project's own bundle (no CDN), opened with the example operations of
// schema/operations/graphiql.graphql, and a small script that fetches the schema again when a
// token is pasted.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import type { YogaServerOptions } from 'graphql-yoga';
import { projectRoot } from '../db/migrate.js';

export const GRAPHIQL_EXAMPLES_FILE = path.join(projectRoot, 'schema', 'operations', 'graphiql.graphql');

/** The operations GraphiQL opens with (typed like every other operation by `npm run codegen`). */
export function graphiqlExamples(): string {
  return readFileSync(GRAPHIQL_EXAMPLES_FILE, 'utf8');
}

/**
 * Added to the GraphiQL page. GraphiQL fetches the schema once, when the page opens, before a
 * token could have been pasted (the server answers that anonymous introspection while GraphiQL is
 * on, see useRequestAuth); GraphiQL itself fetches it again only on a manual re-fetch. This fetches
 * it again whenever the bearer token in the Headers tab changes, after GraphiQL's own editor
 * debounce, so a schema fetch that failed (e.g. introspection refused) recovers with the token.
 */
const REFETCH_SCHEMA_ON_TOKEN = `<script>
(() => {
  let lastToken = null;
  let timer;
  const currentToken = () => {
    const editors = document.querySelectorAll('.graphiql-editor-tool .graphiql-editor');
    const headers = editors[editors.length - 1];
    if (!headers) return null;
    const text = (headers.textContent || '').replace(/\\u00a0/g, ' ');
    const match = /"authorization"\\s*:\\s*"bearer\\s+([^"\\s]+)"/i.exec(text);
    return match ? match[1] : null;
  };
  const check = () => {
    const token = currentToken();
    if (!token || token === lastToken) return;
    lastToken = token;
    const refetch = document.querySelector('button[aria-label^="Re-fetch GraphQL schema"]');
    if (refetch) refetch.click();
  };
  new MutationObserver(() => {
    clearTimeout(timer);
    timer = setTimeout(check, 800);
  }).observe(document.body, { subtree: true, childList: true, characterData: true });
})();
</script>`;

type YogaGraphiQL = Pick<YogaServerOptions<object, object>, 'graphiql' | 'renderGraphiQL'>;

/** Yoga's GraphiQL options: off, or the page described above, rendered once. */
export function graphiqlOptions(enabled: boolean): YogaGraphiQL {
  if (!enabled) return { graphiql: false };
  // The page inlines GraphiQL's ~9 MB bundle: render it once.
  let page: string | undefined;
  return {
    graphiql: {
      title: 'Ops release gates',
      defaultQuery: graphiqlExamples(),
      // No placeholder header: it would be sent with the page's first request (the schema) and
      // refused as a malformed token. The examples say what to paste. Tokens stay out of the
      // browser's storage.
      shouldPersistHeaders: false,
    },
    renderGraphiQL: (options) => {
      if (page === undefined) {
        // Before the page's own closing tag (the bundle itself contains the string '</body>').
        const rendered = renderGraphiQL(options);
        const end = rendered.lastIndexOf('</body>');
        page = `${rendered.slice(0, end)}${REFETCH_SCHEMA_ON_TOKEN}${rendered.slice(end)}`;
      }
      return page;
    },
  };
}
