// Change freezes from the command line: list the calendar (or what is frozen now), add a one-off
// or weekly window, end one. The rules are SQL's; this only asks and shows.
import {
  AddFreezeWindowDocument,
  EndFreezeWindowDocument,
  FreezeWindowsDocument,
  WhatIsFrozenNowDocument,
} from '../../gql/graphql.js';
import { type Command, choice, durationMs, flag, isoInstant, requiredFlag, UUID } from '../command.js';
import { usageError } from '../errors.js';
import { graphqlRequest, unwrap } from '../graphql.js';
import { table, tick } from '../output.js';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

/** `fri 16:00` → ISO weekday 5 and 16:00. */
function weekdayTime(text: string, what: string): { day: number; time: string } {
  const m = /^\s*([a-z]{3})[a-z]*\s+([01]\d|2[0-3]):([0-5]\d)\s*$/i.exec(text);
  const day = m ? DAYS.indexOf(m[1]!.toLowerCase() as (typeof DAYS)[number]) + 1 : 0;
  if (!m || day === 0)
    throw usageError(
      `${what} must be a weekday and a local time such as "fri 16:00", not ${JSON.stringify(text)}`,
    );
  return { day, time: `${m[2]}:${m[3]}` };
}

const list: Command = {
  path: ['freeze', 'list'],
  summary: 'The freeze calendar: active and scheduled windows (--now: only what is frozen now)',
  usage: '[--now] [--env <staging|production>] [--all]',
  maxPositionals: 0,
  options: {
    now: { type: 'boolean', description: 'only the windows active now, with when each ends' },
    env: { type: 'string', value: '<staging|production>', description: 'one environment' },
    all: { type: 'boolean', description: 'ended and past windows too' },
  },
  async run(ctx) {
    if (ctx.values.now === true) {
      const data = await graphqlRequest(ctx.api, WhatIsFrozenNowDocument, {});
      const active = data.activeFreezes ?? [];
      return {
        data: { active },
        lines:
          active.length === 0
            ? ['nothing is frozen now']
            : table(
                ['Environment', 'Project', 'Window', 'Until', 'Reason'],
                active.map((w) => [
                  w.environment ?? '',
                  w.project ?? '(all)',
                  w.name ?? '',
                  w.until ?? '',
                  w.reason ?? '',
                ]),
              ),
      };
    }
    const env =
      flag(ctx, 'env') === undefined ? undefined : choice(ctx, 'env', ['staging', 'production'] as const);
    const data = await graphqlRequest(ctx.api, FreezeWindowsDocument, { environment: env });
    const windows = (data.freezeWindows ?? []).filter(
      (w) => ctx.values.all === true || w.state === 'ACTIVE' || w.state === 'SCHEDULED',
    );
    return {
      data: { windows },
      lines:
        windows.length === 0
          ? ['no freeze windows']
          : table(
              ['State', 'Environment', 'Project', 'Window', 'Recurrence', 'Next/current', 'Id'],
              windows.map((w) => [
                (w.state ?? '').toLowerCase(),
                w.environment ?? '',
                w.project ?? '(all)',
                w.name ?? '',
                w.weekly
                  ? `${DAYS[(w.weeklyFromDay ?? 1) - 1]} ${w.weeklyFromTime?.slice(0, 5)} - ${DAYS[(w.weeklyUntilDay ?? 1) - 1]} ${w.weeklyUntilTime?.slice(0, 5)} ${w.timeZone}`
                  : 'once',
                w.occurrenceStartsAt ? `${w.occurrenceStartsAt} - ${w.occurrenceEndsAt}` : '',
                w.id ?? '',
              ]),
            ),
    };
  },
};

const add: Command = {
  path: ['freeze', 'add'],
  summary: 'Add a freeze window (release_manager or sre): one-off, or weekly in an IANA time zone',
  usage:
    '--name <text> --env <staging|production> --reason <text> (--until <iso> | --for <duration> | --weekly-from "fri 16:00" --weekly-until "mon 06:00" --tz <zone>) [--from <iso>] [--project <p>]',
  maxPositionals: 0,
  options: {
    name: { type: 'string', value: '<text>', description: 'what the freeze is, e.g. "quarter-end close"' },
    env: { type: 'string', value: '<staging|production>', description: 'the environment frozen' },
    project: { type: 'string', value: '<project>', description: 'one project (default: every project)' },
    reason: { type: 'string', value: '<text>', description: 'why' },
    from: { type: 'string', value: '<iso>', description: 'when it starts (default: now)' },
    until: {
      type: 'string',
      value: '<iso>',
      description: 'when a one-off window ends, or a weekly one stops recurring',
    },
    for: { type: 'string', value: '<duration>', description: 'a one-off window of this length, e.g. 4h, 2d' },
    'weekly-from': {
      type: 'string',
      value: '"<day> <HH:MM>"',
      description: 'weekly: local start, e.g. "fri 16:00"',
    },
    'weekly-until': {
      type: 'string',
      value: '"<day> <HH:MM>"',
      description: 'weekly: local end, e.g. "mon 06:00"',
    },
    tz: { type: 'string', value: '<zone>', description: 'weekly: IANA zone, e.g. Europe/Brussels' },
  },
  notes: [
    'While a window is active, promotion to its environment is refused at the moment of the write, also for a deployment started before it. An approved timing_override exception lifts it for one release.',
    'Example: ops-gates freeze add --name weekend --env production --reason "no weekend changes" --weekly-from "fri 16:00" --weekly-until "mon 06:00" --tz Europe/Brussels',
  ],
  async run(ctx) {
    const startsAt =
      flag(ctx, 'from') === undefined ? new Date().toISOString() : isoInstant(flag(ctx, 'from')!, '--from');
    const weeklyFrom = flag(ctx, 'weekly-from');
    const weeklyUntil = flag(ctx, 'weekly-until');
    const weekly = weeklyFrom !== undefined || weeklyUntil !== undefined;
    let endsAt: string | undefined;
    const forFlag = flag(ctx, 'for');
    const untilFlag = flag(ctx, 'until');
    if (forFlag !== undefined && untilFlag !== undefined) throw usageError('give --until or --for, not both');
    if (untilFlag !== undefined) endsAt = isoInstant(untilFlag, '--until');
    if (forFlag !== undefined)
      endsAt = new Date(Date.parse(startsAt) + durationMs(forFlag, '--for')).toISOString();
    if (!weekly && endsAt === undefined) throw usageError('a one-off window needs --until or --for');
    let recurrence = {};
    if (weekly) {
      if (weeklyFrom === undefined || weeklyUntil === undefined)
        throw usageError('a weekly window needs --weekly-from and --weekly-until');
      const from = weekdayTime(weeklyFrom, '--weekly-from');
      const until = weekdayTime(weeklyUntil, '--weekly-until');
      recurrence = {
        timeZone: requiredFlag(ctx, 'tz', 'an IANA zone such as Europe/Brussels'),
        weeklyFromDay: from.day,
        weeklyFromTime: from.time,
        weeklyUntilDay: until.day,
        weeklyUntilTime: until.time,
      };
    }
    const data = await graphqlRequest(ctx.api, AddFreezeWindowDocument, {
      input: {
        name: requiredFlag(ctx, 'name'),
        environment: choice(ctx, 'env', ['staging', 'production'] as const),
        reason: requiredFlag(ctx, 'reason'),
        startsAt,
        endsAt,
        project: flag(ctx, 'project'),
        ...recurrence,
      },
    });
    const w = unwrap(data.addFreezeWindow, 'freeze window');
    return {
      data: { window: w },
      lines: [
        `${tick(ctx.paint)} freeze ${w.name} (${w.id}) on ${w.environment}${w.project ? ` of ${w.project}` : ''}: ${(w.state ?? '').toLowerCase()}${
          w.occurrenceStartsAt ? `, ${w.occurrenceStartsAt} - ${w.occurrenceEndsAt}` : ''
        }`,
      ],
    };
  },
};

const end: Command = {
  path: ['freeze', 'end'],
  summary: 'End a freeze window now (release_manager)',
  usage: '<window-id> --reason <text>',
  maxPositionals: 1,
  options: { reason: { type: 'string', value: '<text>', description: 'why it ends now' } },
  async run(ctx) {
    const id = ctx.positionals[0];
    if (!id || !UUID.test(id)) throw usageError('which window? give its id (ops-gates freeze list)');
    const data = await graphqlRequest(ctx.api, EndFreezeWindowDocument, {
      input: { windowId: id, reason: requiredFlag(ctx, 'reason') },
    });
    const w = unwrap(data.endFreezeWindow, 'end freeze window');
    return {
      data: { window: w },
      lines: [`${tick(ctx.paint)} freeze ${w.name} (${w.id}) ended at ${w.endedAt} by ${w.endedBy}`],
    };
  },
};

export const freezeCommands: Command[] = [list, add, end];
