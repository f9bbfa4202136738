/** Finished uploads for the integration stacks: files sent once with tus creation-with-upload. */
import http from 'node:http';

/**
 * Uploads `bytes` to the tus endpoint `endpoint` (e.g. `/files`) in one creation-with-upload request,
 * declaring `type` as its media type; resolves with the upload's URL path once the server answered 201
 * with every byte acknowledged.
 */
export function uploadFile(baseUrl: string, endpoint: string, bytes: Buffer, type: string): Promise<string> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname,
      port: url.port,
      method: 'POST',
      path: endpoint,
      agent: false,
      headers: {
        'tus-resumable': '1.0.0',
        'upload-length': String(bytes.length),
        'upload-metadata': `filetype ${Buffer.from(type).toString('base64')}`,
        'content-type': 'application/offset+octet-stream',
        'content-length': String(bytes.length),
      },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => {
        const location = res.headers.location;
        if (res.statusCode !== 201 || location === undefined || res.headers['upload-offset'] !== String(bytes.length)) {
          reject(new Error(`upload to ${endpoint}: ${res.statusCode}, Upload-Offset ${res.headers['upload-offset']}`));
          return;
        }
        resolve(new URL(location, baseUrl).pathname);
      });
    });
    req.end(bytes);
  });
}

/** The route prefix standing for finished uploads: `/files/upload:<name>` is the upload of that file. */
export const UPLOADS = '/files/upload:';

/** Uploads the text bodies and `big.bin` to `/files`; maps each `/files/upload:<name>` to its upload's path. */
export async function uploadAll(
  baseUrl: string,
  files: { readonly bytes: Readonly<Record<'large.txt' | 'small.txt' | 'big.bin', Buffer>> },
): Promise<Map<string, string>> {
  const targets = new Map<string, string>();
  for (const [name, type] of [
    ['large.txt', 'text/plain'],
    ['small.txt', 'text/plain'],
    ['big.bin', 'application/octet-stream'],
  ] as const) {
    targets.set(`${UPLOADS}${name}`, await uploadFile(baseUrl, '/files', files.bytes[name], type));
  }
  return targets;
}
