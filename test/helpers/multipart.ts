/** Parses a multipart/byteranges body back into its parts with dicer, a real MIME parser. */
import Dicer from 'dicer';

/** One parsed part: its header fields (lowercase names) and bytes. */
export interface ParsedPart {
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/** One parsed part with each header field's values as dicer gives them (a field sent twice has two). */
export interface RawPart {
  readonly headers: Record<string, string[]>;
  readonly body: Buffer;
}

/** The parts of `body`, framed by the boundary taken from `contentType`, each field's values joined. */
export async function parseMultipart(body: Buffer, contentType: string): Promise<ParsedPart[]> {
  const match = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (match === null) throw new Error(`no boundary in ${contentType}`);
  const parts = await parseMultipartParts(body, (match[1] ?? match[2]) as string);
  return parts.map((part) => ({
    headers: Object.fromEntries(Object.entries(part.headers).map(([name, values]) => [name, values.join(', ')])),
    body: part.body,
  }));
}

/** The parts of a multipart body framed by `boundary`, parsed by dicer, in order. */
export function parseMultipartParts(body: Buffer, boundary: string): Promise<RawPart[]> {
  return new Promise((resolve, reject) => {
    const parts: RawPart[] = [];
    const pending: Promise<void>[] = [];
    const dicer = new Dicer({ boundary });
    dicer.on('part', (part) => {
      pending.push(
        new Promise((done, fail) => {
          const headers: Record<string, string[]> = {};
          const chunks: Buffer[] = [];
          const index = parts.length;
          parts.push({ headers, body: Buffer.alloc(0) });
          part.on('header', (fields: Record<string, string[]>) => {
            for (const [name, values] of Object.entries(fields)) headers[name.toLowerCase()] = values;
          });
          part.on('data', (chunk: Buffer) => chunks.push(chunk));
          part.on('end', () => {
            parts[index] = { headers, body: Buffer.concat(chunks) };
            done();
          });
          part.on('error', fail);
        }),
      );
    });
    dicer.on('error', reject);
    dicer.on('finish', () => Promise.all(pending).then(() => resolve(parts), reject));
    dicer.end(body);
  });
}
