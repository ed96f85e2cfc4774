/**
 * Preloaded into every replica process of the multi-process testnet (`node --import
 * orphan-guard.js main.js`): when the launcher that started this process is gone (killed with
 * SIGKILL, crashed), the replica is sent SIGTERM, so it shuts down the way it always does instead
 * of living on as an orphan holding ports and consumer groups. Does nothing when
 * SAFE_TESTNET_PARENT_PID is not set.
 */
import { processAlive } from '@safe/core';

const parent = Number(process.env.SAFE_TESTNET_PARENT_PID);

if (Number.isInteger(parent) && parent > 1) {
  /** Checks since SIGTERM was sent; the replica's own shutdown gets this many seconds before a hard exit. */
  const HARD_EXIT_AFTER = 30;
  let sinceSignal = -1;
  const timer = setInterval(() => {
    if (sinceSignal >= 0) {
      if (++sinceSignal >= HARD_EXIT_AFTER) process.exit(1);
      return;
    }
    // Reparented (to init or a subreaper) or the pid is gone: the launcher died.
    if (process.ppid === parent && processAlive(parent)) return;
    sinceSignal = 0;
    process.kill(process.pid, 'SIGTERM');
  }, 1000);
  timer.unref();
}
