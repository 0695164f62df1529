import { SMTPServer } from 'smtp-server';
import { freePort } from './free-port';

/** One mail the catcher received. */
export interface CaughtMail {
  from: string;
  to: string[];
  raw: string;
  /** The raw message with quoted-printable soft breaks undone, for matching codes and links. */
  text: string;
}

/** A real SMTP server on loopback that keeps every mail it receives (dev and tests). */
export interface SmtpCatcher {
  host: string;
  port: number;
  mails: CaughtMail[];
  /** Waits for a mail to `to` whose text matches `pattern`; resolves with the first match. */
  waitFor(to: string, pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  stop(): Promise<void>;
}

export async function startSmtpCatcher(options: { port?: number; onMail?: (mail: CaughtMail) => void } = {}): Promise<SmtpCatcher> {
  const port = options.port ?? (await freePort());
  const mails: CaughtMail[] = [];
  const waiters = new Set<() => void>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      let raw = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => (raw += chunk));
      stream.on('end', () => {
        const mail: CaughtMail = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
          raw,
          text: raw.replace(/=\r?\n/g, '').replace(/=3D/g, '='),
        };
        mails.push(mail);
        options.onMail?.(mail);
        for (const wake of waiters) wake();
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    host: '127.0.0.1',
    port,
    mails,
    waitFor(to, pattern, timeoutMs = 10000) {
      const find = () => {
        for (let i = mails.length - 1; i >= 0; i--) {
          const mail = mails[i];
          if (!mail.to.includes(to.toLowerCase())) continue;
          const match = mail.text.match(pattern);
          if (match) return match;
        }
        return undefined;
      };
      return new Promise((resolve, reject) => {
        const found = find();
        if (found) return resolve(found);
        const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`testing: no mail to ${to} matching ${pattern}`)); }, timeoutMs);
        const check = () => {
          const match = find();
          if (match) { clearTimeout(timer); waiters.delete(check); resolve(match); }
        };
        waiters.add(check);
      });
    },
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
