import { createConnection } from 'node:net';

/** Does something answer on the Unix socket at `path` (a server listening, not a file left behind)? */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}
