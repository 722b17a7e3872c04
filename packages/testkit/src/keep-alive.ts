/**
 * Whether a server keeps an idle keep-alive connection open: two HTTP/1.1 GETs on one raw TCP socket, `idleMs`
 * apart. Resolves with the second answer's status line, or with `closed after <ms> ms` when the server closed the
 * idle socket first (a client that reuses it then gets ECONNRESET).
 */
import { connect } from 'node:net';

export async function secondRequestAfterIdle(url: string, path: string, idleMs: number): Promise<string> {
  const { hostname, port, host } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port) });
  const request = `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n\r\n`;
  let received = '';
  let answers = 0;
  const opened = Date.now();
  let idleSince = opened;
  return await new Promise<string>((resolve, reject) => {
    const finish = (result: string): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish('no second answer'), idleMs + 30_000);
    socket.on('error', reject);
    socket.on('close', () => finish(`closed after ${Date.now() - idleSince} ms idle`));
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
      // each answer here is small and sent with Content-Length: count status lines with their full bodies
      const complete = /^HTTP\/1\.1 \d+[^\r]*\r\n(?:[^\r]+\r\n)*\r\n/;
      for (;;) {
        const head = complete.exec(received);
        if (head === null) return;
        const length = Number(/content-length: (\d+)/i.exec(head[0])?.[1] ?? 0);
        if (received.length < head[0].length + length) return;
        received = received.slice(head[0].length + length);
        answers++;
        if (answers === 2) return finish(head[0].split('\r\n')[0] ?? '');
        idleSince = Date.now();
        setTimeout(() => socket.write(request), idleMs);
      }
    });
    socket.write(request);
  });
}
