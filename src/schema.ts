// The GraphQL schema: the root types, then every resolver file, then toSchema().
// To add a domain, create src/resolvers/<domain>.ts (it registers its types and root fields with
// `builder.queryField` / `builder.mutationField`) and add its import below, keeping the list sorted.
import { builder } from './builder.js';
import './resolvers/deployments.js';
import './resolvers/exceptions.js';
import './resolvers/gates.js';
import './resolvers/ingest.js';
import './resolvers/policy.js';
import './resolvers/ledger.js';
import './resolvers/releases.js';
import './resolvers/reports/deployment-history.js';
import './resolvers/reports/eligibility.js';
import './resolvers/reports/evidence-bundle.js';
import './resolvers/reports/evidence-completeness.js';
import './resolvers/reports/exception-status.js';
import './resolvers/reports/gate-summary.js';
import './resolvers/reports/timeline.js';
import './resolvers/subscriptions.js';
import './resolvers/timing/freeze.js';
import './resolvers/timing/policies.js';
import './resolvers/timing/release-timing.js';
import './resolvers/viewer.js';
import './resolvers/webhooks.js';

builder.queryType({ description: 'Read access to the release-governance control plane.' });
builder.mutationType({ description: 'Writes, each one call to a governance function in SQL.' });

export const schema = builder.toSchema({ sortSchema: true });
