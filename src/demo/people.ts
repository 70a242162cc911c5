// Who does what in the demo data (src/demo/seed.ts), and so whom the development tokens that
// `npm start` prints speak for: the developer token is the developer who created the demo
// releases, so it sees them (a developer reads their own releases only).
import type { Persona } from '../auth/personas.js';

export const DEMO_PEOPLE: Record<Persona, string> = {
  developer: 'dana.developer',
  ci_service_role: 'github_actions',
  qa_tester: 'quinn.qa',
  release_manager: 'riley.release-manager',
  sre: 'sam.sre',
  audit_reader: 'avery.auditor',
};
