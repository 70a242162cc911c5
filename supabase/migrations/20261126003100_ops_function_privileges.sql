-- Functions are executable by PUBLIC when created, and a schema's default privileges can only add
-- grants, never take this one away. So: nothing in ops is callable by PUBLIC; each persona keeps
-- exactly what the earlier migrations granted it. (Every later migration that creates a function
-- ends the same way; test/db/function-privileges.test.ts holds it to that.)
revoke execute on all functions in schema ops from public;
