// bench:compare reads what two revisions' benchmarks print and judges HEAD against base: the
// figures it takes from each output, which way is better, and when a difference is only noise.
import { describe, expect, it } from 'vitest';
import {
  compare,
  type Figures,
  formatTable,
  median,
  parseIngest,
  parseReads,
} from '../../bench/compare-revisions.js';

// The outputs below are fixed text for the parser, not measurements: each figure is a distinct
// marker value, and the assertions check that the parser returns the marker it was given.
const phase = (rate: number, p50: number, p99: number) => ({
  count: rate * 2,
  errors: 0,
  rate,
  p50,
  p99,
  max: p99,
});

/** The figures an earlier revision's bench:ingest result line carries: no (r) phase, no a/r ratio. */
const INGEST_BASE_RESULT = {
  short: true,
  a: phase(11.5, 12.5, 13.5),
  b: phase(21, 22, 23),
  c: phase(31.5, 32.5, 33.5),
  d: { with: { rate: 41 }, without: { rate: 42.5 } },
  ratios: { ca: 0.34, cb: 0.1, ledger: 0.8 },
  verifyMs: { release: 51.5, releaseEntries: 1009, all: 52.5, allEntries: 5066 },
};

/** That revision's whole output: a human line, the result line, the closing line. */
const INGEST_BASE = [
  '(a) database: select ops.ingest_event   <figures as printed>',
  `BENCH_RESULT ${JSON.stringify(INGEST_BASE_RESULT)}`,
  'done in 1.0 s',
].join('\n');

/** A bench:reads output as this revision prints it, a row name longer than the column included. */
const READS_HEAD = [
  'read benchmark (short): 500 releases',
  '',
  'query                                          p50 ms   p99 ms  statements/request',
  'dashboard: 20 releases, gates, eligibility      324.1    571.6  5',
  'one release timeline                             29.8    123.6  4-5',
  'one release: gates, checks, approvals, evidence     34.5     63.8  8',
  '',
  'dashboard first page with 500 releases: p50 324.1 ms (target < 50 ms), 5 statements per request -> target NOT met',
  'GraphQL/baseline (throughput, from p50): dashboard page 0.68, one release 0.48',
  'total 42.7 s',
].join('\n');

const figures = (entries: [string, number, 'higher' | 'lower' | 'neither'][]): Figures =>
  new Map(entries.map(([name, value, better]) => [name, { value, better }]));

describe('bench:compare parsing', () => {
  it("takes bench:ingest's figures from its BENCH_RESULT line, with which way is better", () => {
    const f = parseIngest(INGEST_BASE);
    // Which field of the result line each measure is read from: every marker must arrive under
    // its measure's name, with the direction that measure is judged in.
    const mapping: [string, number, 'higher' | 'lower' | 'neither'][] = [
      ['ingest (a) ops.ingest_event, ev/s', INGEST_BASE_RESULT.a.rate, 'higher'],
      ['ingest (c) ingest route, p99 ms', INGEST_BASE_RESULT.c.p99, 'lower'],
      ['ingest (d) ledger off, ev/s', INGEST_BASE_RESULT.d.without.rate, 'higher'],
      ['verify_ledger(), entries', INGEST_BASE_RESULT.verifyMs.allEntries, 'neither'],
    ];
    for (const [measure, marker, better] of mapping)
      expect(f.get(measure), measure).toEqual({ value: marker, better });
    const { all, allEntries } = INGEST_BASE_RESULT.verifyMs;
    expect(f.get('verify_ledger(), ms per 1,000 entries')?.value).toBeCloseTo((all / allEntries) * 1000);
    // What this revision's output lacks is absent from the figures, not read as zero.
    for (const absent of ['ingest (r) minimal RPC baseline, ev/s', 'ingest ratio a/r']) {
      expect(f.has(absent), absent).toBe(false);
    }
  });

  it('takes the (k) phase and a/k of a revision that prints them', () => {
    const head = {
      ...INGEST_BASE_RESULT,
      k: phase(61.5, 62.5, 63.5),
      ratios: { ...INGEST_BASE_RESULT.ratios, ak: 0.71 },
    };
    const f = parseIngest(`BENCH_RESULT ${JSON.stringify(head)}`);
    expect(f.get('ingest (k) minimal RPC with the rule and the ledger, ev/s')).toEqual({
      value: 61.5,
      better: 'higher',
    });
    expect(f.get('ingest (k) minimal RPC with the rule and the ledger, p99 ms')).toEqual({
      value: 63.5,
      better: 'lower',
    });
    expect(f.get('ingest ratio a/k')).toEqual({ value: 0.71, better: 'higher' });
  });

  it('refuses an ingest output without its result line (a benchmark that did not finish)', () => {
    expect(() => parseIngest('(a) database ...\ndone')).toThrow(/no BENCH_RESULT/);
  });

  it("takes bench:reads' table rows and its GraphQL/baseline ratios", () => {
    const f = parseReads(READS_HEAD);
    expect(f.get('reads dashboard: 20 releases, gates, eligibility, p50 ms')).toEqual({
      value: 324.1,
      better: 'lower',
    });
    expect(f.get('reads one release timeline, p99 ms')?.value).toBe(123.6);
    expect(f.get('reads one release timeline, statements')).toEqual({ value: 4, better: 'neither' });
    expect(f.get('reads one release: gates, checks, approvals, evidence, p50 ms')?.value).toBe(34.5);
    expect(f.get('reads GraphQL/baseline, one release')).toEqual({ value: 0.48, better: 'higher' });
    // The table ends at its blank line: the target line after it is no row.
    expect([...f.keys()].filter((k) => k.endsWith('p50 ms'))).toHaveLength(3);
  });

  it('refuses a reads output without its table', () => {
    expect(() => parseReads('read benchmark\ntotal 1.0 s')).toThrow(/no p50\/p99 table/);
  });
});

describe('bench:compare verdicts', () => {
  it('takes the median of each side and HEAD/base of the medians', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    const { rows } = compare(
      [100, 120, 110].map((v) => figures([['rate', v, 'higher']])),
      [130, 140, 150].map((v) => figures([['rate', v, 'higher']])),
    );
    expect(rows[0]).toMatchObject({ baseMedian: 110, headMedian: 140, verdict: 'faster' });
    expect(rows[0]!.ratio).toBeCloseTo(140 / 110);
  });

  it('calls a latency that grew beyond both ranges slower, and overlapping ranges noise', () => {
    // One run's p50 and p99 (ms) per round.
    const rounds = (runs: [number, number][]) =>
      runs.map(([p50, p99]) =>
        figures([
          ['p50', p50, 'lower'],
          ['p99', p99, 'lower'],
        ]),
      );
    const { rows } = compare(
      rounds([
        [10, 50],
        [12, 60],
        [11, 55],
      ]),
      rounds([
        [20, 58],
        [22, 70],
        [21, 40],
      ]),
    );
    expect(rows.find((r) => r.measure === 'p50')?.verdict).toBe('slower');
    expect(rows.find((r) => r.measure === 'p99')?.verdict).toBe('within noise');
  });

  it('gives no verdict from one round, and lists what only one side prints', () => {
    const { rows, headOnly, baseOnly } = compare(
      [figures([['rate', 100, 'higher']])],
      [
        figures([
          ['rate', 50, 'higher'],
          ['new', 1, 'higher'],
        ]),
      ],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.verdict).toBe('one round');
    expect(headOnly).toEqual(['new']);
    expect(baseOnly).toEqual([]);
  });

  it('prints a table row per measure with both medians and the ratio', () => {
    const { rows } = compare([figures([['rate', 100, 'higher']])], [figures([['rate', 50, 'higher']])]);
    const table = formatTable(rows).split('\n');
    expect(table).toHaveLength(3);
    expect(table[2]).toMatch(
      /^\| rate +\| higher is better \| 100 \(100–100\) +\| 50\.0 \(50\.0–50\.0\) +\| 0\.50 +\| one round/,
    );
  });
});
