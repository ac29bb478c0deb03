/**
 * A stand-in for the Hugging Face hub on 127.0.0.1: `/<repo>/resolve/<rev>/<file>` answers small
 * files directly (git-style ETag) and "LFS" files with a 302 to `/cdn/...` carrying
 * X-Linked-Etag (sha256) and X-Linked-Size, as the hub does. The CDN honours Range. Faults can be
 * injected per file: drop the connection mid-body, or serve corrupted bytes.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface Faults {
  /** Requests (1-based, counted per file on the CDN) whose body is cut after this many bytes. */
  drop?: { readonly requests: readonly number[]; readonly afterBytes: number };
  /** Requests whose bytes are corrupted (one byte flipped), or 'always'. */
  corrupt?: readonly number[] | 'always';
}

export interface HubServer {
  readonly endpoint: string;
  readonly requests: { path: string; range: string | undefined; status: number }[];
  close(): Promise<void>;
}

export const startHub = async (repo: string, files: Record<string, Uint8Array | string>, faults: Record<string, Faults> = {}, lfs: (f: string) => boolean = (f) => f.endsWith('.safetensors')): Promise<HubServer> => {
  const bytes = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, typeof v === 'string' ? new TextEncoder().encode(v) : v]));
  const requests: HubServer['requests'] = [];
  const cdnCount = new Map<string, number>();
  const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    const range = req.headers['range'];
    const done = (status: number): void => void requests.push({ path: url.pathname, range, status });
    const prefix = `/${repo}/resolve/main/`;
    if (url.pathname.startsWith(prefix)) {
      const file = decodeURIComponent(url.pathname.slice(prefix.length));
      const body = bytes[file];
      if (body === undefined) {
        done(404);
        res.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end('Entry not found');
        return;
      }
      if (lfs(file)) {
        done(302);
        res.writeHead(302, { location: `/cdn/${encodeURIComponent(file)}`, 'x-linked-etag': `"${sha(body)}"`, 'x-linked-size': String(body.length), etag: `"${sha(body)}"` }).end();
        return;
      }
      done(200);
      res.writeHead(200, { 'content-length': String(body.length), etag: `"${createHash('sha1').update(body).digest('hex')}"` }).end(body);
      return;
    }
    if (url.pathname.startsWith('/cdn/')) {
      const file = decodeURIComponent(url.pathname.slice(5));
      const n = (cdnCount.get(file) ?? 0) + 1;
      cdnCount.set(file, n);
      let body = bytes[file]!;
      const f = faults[file] ?? {};
      if (f.corrupt === 'always' || f.corrupt?.includes(n)) {
        body = body.slice();
        body[Math.floor(body.length / 2)]! ^= 0xff;
      }
      let start = 0;
      let status = 200;
      const headers: Record<string, string> = { etag: '"0123456789abcdef0123456789abcdef"' }; // a CDN etag: not a sha256
      const m = typeof range === 'string' ? /^bytes=(\d+)-$/.exec(range) : null;
      if (m) {
        start = Number(m[1]);
        if (start >= body.length) {
          done(416);
          res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
          return;
        }
        status = 206;
        headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
      }
      const slice = body.subarray(start);
      headers['content-length'] = String(slice.length);
      done(status);
      res.writeHead(status, headers);
      if (f.drop?.requests.includes(n)) {
        // Part of the body in small paced writes, a pause so the client consumes it, then FIN.
        // (Sent at once with the FIN, a client stream that errors may drop chunks it had queued.)
        const part = slice.subarray(0, f.drop.afterBytes);
        const send = (off: number): void => {
          if (off >= part.length) {
            setTimeout(() => res.socket?.end(), 50);
            return;
          }
          res.write(part.subarray(off, off + 1000), () => setTimeout(() => send(off + 1000), 2));
        };
        send(0);
        return;
      }
      res.end(slice);
      return;
    }
    done(404);
    res.writeHead(404).end();
  };
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
};
