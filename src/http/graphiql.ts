// The GraphiQL page: the project's own bundle (no CDN), opened with the example operations of
// schema/operations/graphiql.graphql, and a small script that fetches the schema again when a
// token is pasted.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, gzip, constants as zlib } from 'node:zlib';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import type { Plugin, YogaServerOptions } from 'graphql-yoga';
import Negotiator from 'negotiator';
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

/** Yoga's GraphiQL options, and the plugin that sends the page compressed and revalidated. */
export interface GraphiQLServing {
  options: YogaGraphiQL;
  /** Absent when GraphiQL is off. */
  plugin?: Plugin;
}

const ENCODINGS = ['br', 'gzip', 'identity'];
/** negotiator 1.x's encoding(), with its `preferred` option (not in @types/negotiator). */
type Negotiate = { encoding(available: string[], options: { preferred: string[] }): string | undefined };
const compress = {
  br: (page: Uint8Array) =>
    promisify(brotliCompress)(page, {
      params: { [zlib.BROTLI_PARAM_QUALITY]: 5, [zlib.BROTLI_PARAM_SIZE_HINT]: page.length },
    }).then(asBytes),
  gzip: (page: Uint8Array) => promisify(gzip)(page, { level: 6 }).then(asBytes),
};

/** A Buffer as the plain Uint8Array view a Response body takes (no copy). */
function asBytes(buffer: Buffer): Uint8Array<ArrayBuffer> {
  return new Uint8Array(buffer.buffer as ArrayBuffer, buffer.byteOffset, buffer.length);
}

/**
 * GraphiQL off, or the page described above: rendered once, then sent with an ETag (a reload with
 * If-None-Match is a 304 with no body) and, when the browser accepts it (Accept-Encoding, by
 * `negotiator`), brotli- or gzip-compressed: the page inlines GraphiQL's ~9 MB bundle, about 1.9 MB
 * as brotli and 2.4 MB as gzip. Each encoding is compressed once, off the event loop, when first
 * asked for. The page is the only HTML this server answers with (no landing page).
 */
export function graphiqlServing(enabled: boolean): GraphiQLServing {
  if (!enabled) return { options: { graphiql: false } };
  let page: string | undefined;
  const render: YogaGraphiQL['renderGraphiQL'] = (options) => {
    if (page === undefined) {
      // Before the page's own closing tag (the bundle itself contains the string '</body>').
      const rendered = renderGraphiQL(options);
      const end = rendered.lastIndexOf('</body>');
      page = `${rendered.slice(0, end)}${REFETCH_SCHEMA_ON_TOKEN}${rendered.slice(end)}`;
    }
    return page;
  };
  let bytes: Uint8Array<ArrayBuffer> | undefined;
  let etag = '';
  const encoded = new Map<'br' | 'gzip', Promise<Uint8Array<ArrayBuffer>>>();
  return {
    options: {
      graphiql: {
        title: 'Ops release gates',
        defaultQuery: graphiqlExamples(),
        // No placeholder header: it would be sent with the page's first request (the schema) and
        // refused as a malformed token. The examples say what to paste. Tokens stay out of the
        // browser's storage.
        shouldPersistHeaders: false,
      },
      renderGraphiQL: render,
    },
    plugin: {
      async onResponse({ request, response, setResponse, fetchAPI }) {
        if (request.method !== 'GET' || response.status !== 200 || page === undefined) return;
        if (!response.headers.get('content-type')?.startsWith('text/html')) return;
        if (bytes === undefined) {
          bytes = new TextEncoder().encode(page);
          etag = `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 27)}"`;
        }
        const headers: Record<string, string> = {
          'content-type': 'text/html; charset=utf-8',
          etag,
          'cache-control': 'no-cache',
          vary: 'Accept-Encoding',
        };
        if (
          request.headers
            .get('if-none-match')
            ?.split(/\s*,\s*/)
            .includes(etag)
        ) {
          setResponse(new fetchAPI.Response(null, { status: 304, headers }));
          return;
        }
        const accept = request.headers.get('accept-encoding');
        const encoding = (
          new Negotiator({ headers: accept === null ? {} : { 'accept-encoding': accept } }) as Negotiate
        )
          // Among encodings the client weighs alike, the smallest.
          .encoding(ENCODINGS, { preferred: ENCODINGS });
        if (encoding !== 'br' && encoding !== 'gzip') {
          setResponse(new fetchAPI.Response(bytes, { status: 200, headers }));
          return;
        }
        let body = encoded.get(encoding);
        if (body === undefined) {
          body = compress[encoding](bytes);
          encoded.set(encoding, body);
        }
        setResponse(
          new fetchAPI.Response(await body, {
            status: 200,
            headers: { ...headers, 'content-encoding': encoding },
          }),
        );
      },
    },
  };
}
