// What is still running, for the tests that start `npm start` and stop or kill it: processes by
// what their command line names, process groups, and the PostgreSQL server of a data folder.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The PIDs (other than this process) whose command line contains text, e.g. a cluster folder: the
 * embedded server is started as `postgres -D <folder> ...` and its supervisor names it too. Reads
 * /proc (Linux); a process that ends while being read is skipped.
 */
export function processesNaming(text: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').includes(text)) found.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Whether any process of the process group pgid is left (zombies included, until reaped). */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the process pid exists (EPERM: it does, under another user). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The PID in a cluster folder's lock file (postmaster.pid), or null when there is none. */
export function postmasterPid(clusterDir: string): number | null {
  const lock = path.join(clusterDir, 'postmaster.pid');
  if (!existsSync(lock)) return null;
  const pid = Number(readFileSync(lock, 'utf8').split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}
