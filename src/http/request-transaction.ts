// Plugin (1c): finishes the request's read transaction (src/db/request-transaction.ts) when
// execution is done: committed after a result, rolled back if the response goes out without one.
import { getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { requestInfo } from '../context.js';

export function useRequestTransaction(): Plugin {
  return {
    onExecute({ args }) {
      const request = (args.contextValue as { request?: Request }).request;
      if (!request) return;
      const info = requestInfo(request);
      info.operationType = getOperationAST(args.document, args.operationName)?.operation;
      return {
        async onExecuteDone() {
          await info.readTransaction?.finish('commit');
        },
      };
    },
    async onResponse({ request }) {
      await requestInfo(request).readTransaction?.finish('rollback');
    },
  };
}
