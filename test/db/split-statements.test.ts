// splitStatements records a migration's statements as the Supabase CLI does. Each expectation here
// is what the real CLI (2.117.0) recorded for the same text; test/db/supabase-cli.test.ts checks the
// cases that PostgreSQL accepts against the CLI itself.
import { describe, expect, it } from 'vitest';
import { splitStatements } from '../../src/db/migrate.js';

describe('splitStatements', () => {
  it('splits on top-level semicolons, keeps the comments before a statement, trims, drops empties', () => {
    expect(splitStatements('-- header\n\n-- more\nselect 1;\n\n\n-- between\nselect 2;\n')).toEqual([
      '-- header\n\n-- more\nselect 1',
      '-- between\nselect 2',
    ]);
    expect(splitStatements('select 1;;\nselect 2 ;  ;\n')).toEqual(['select 1', 'select 2']);
    // A comment after a semicolon belongs to the next statement; one at the end is a statement.
    expect(splitStatements('select 1; -- same line\nselect 2;')).toEqual([
      'select 1',
      '-- same line\nselect 2',
    ]);
    expect(splitStatements('select 1;\n-- trailing comment only\n')).toEqual([
      'select 1',
      '-- trailing comment only',
    ]);
    expect(splitStatements('select 1;\r\n-- crlf\r\nselect 2;\r\n')).toEqual([
      'select 1',
      '-- crlf\r\nselect 2',
    ]);
    expect(splitStatements('select 1 -- trailing; comment\n;\nselect 2\n')).toEqual([
      'select 1 -- trailing; comment',
      'select 2',
    ]);
  });

  it('does not split inside quotes, dollar quotes or comments', () => {
    expect(splitStatements(`select 'a''b;c'; select 1 as "x""y;"; select '--;', '$$;';`)).toEqual([
      `select 'a''b;c'`,
      `select 1 as "x""y;"`,
      `select '--;', '$$;'`,
    ]);
    expect(splitStatements('/* outer /* nested; */ still; */ select 1;\nselect 2 /* ; */;')).toEqual([
      '/* outer /* nested; */ still; */ select 1',
      'select 2 /* ; */',
    ]);
    expect(splitStatements('select $tag$ x; $$ y $tag$; select $_$;$_$; select $a$ $b$ ; $b$ $a$;')).toEqual([
      'select $tag$ x; $$ y $tag$',
      'select $_$;$_$',
      'select $a$ $b$ ; $b$ $a$',
    ]);
  });

  it('accepts digits and non-ASCII letters in dollar-quote tags', () => {
    expect(
      splitStatements(
        'create function f1() returns int language plpgsql as $f1$ begin return 1; end $f1$;\nselect 1;',
      ),
    ).toEqual([
      'create function f1() returns int language plpgsql as $f1$ begin return 1; end $f1$',
      'select 1',
    ]);
    expect(splitStatements('select $é1$ ; $é1$;')).toEqual(['select $é1$ ; $é1$']);
  });

  it('keeps a BEGIN ATOMIC body whole, up to its END', () => {
    expect(
      splitStatements(
        'create function f2() returns int language sql begin atomic select 1; select 2; end;\nselect 3;',
      ),
    ).toEqual([
      'create function f2() returns int language sql begin atomic select 1; select 2; end',
      'select 3',
    ]);
    expect(
      splitStatements(
        'create function f3(x int) returns int language sql\nBEGIN ATOMIC\n  select x + 1;\nEND;\nselect 4;',
      ),
    ).toEqual([
      'create function f3(x int) returns int language sql\nBEGIN ATOMIC\n  select x + 1;\nEND',
      'select 4',
    ]);
    // ATOMIC as a word and END inside a longer word count too, as in the CLI.
    expect(splitStatements("select 1 as atomic, 'x' as legend; select 2;")).toEqual([
      "select 1 as atomic, 'x' as legend",
      'select 2',
    ]);
  });

  it('does not split inside parentheses (multi-action rules), though one ) closes them all', () => {
    expect(
      splitStatements('create rule r as on insert to t do also (delete from a; delete from b);\nselect 1;'),
    ).toEqual(['create rule r as on insert to t do also (delete from a; delete from b)', 'select 1']);
    expect(
      splitStatements(
        'create rule r as on insert to t do also (insert into a values (1); insert into b values (2));',
      ),
    ).toEqual([
      'create rule r as on insert to t do also (insert into a values (1)',
      'insert into b values (2))',
    ]);
  });

  it('treats backslashes as the CLI does: not as escapes inside strings, as escapes outside them', () => {
    // PostgreSQL reads E'it\'s; ok' as one string; the CLI (and so this) does not, and fails to apply it.
    expect(splitStatements(`select E'it\\'s; ok';`)).toEqual([`select E'it\\'s`, `ok'`]);
    expect(splitStatements(`select 'x\\'; select E'a\\\\'; select 3;`)).toEqual([
      `select 'x\\'`,
      `select E'a\\\\'`,
      'select 3',
    ]);
    expect(splitStatements('select 1 \\; select 2;')).toEqual(['select 1 \\; select 2']);
  });
});
