import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { createTransport, type Transporter } from 'nodemailer';
import { ServiceUnavailableError } from '@encedeus/contracts';
import { AUTH_OPTIONS, type AuthModuleOptions } from '../auth.options';

/** Sends mail over SMTP (config.smtp; no auth and no TLS on loopback). */
@Injectable()
export class Mailer implements OnApplicationShutdown {
  private readonly logger = new Logger('Mailer');
  private readonly transport: Transporter;

  constructor(@Inject(AUTH_OPTIONS) private readonly options: AuthModuleOptions) {
    const loopback = /^(127\.|localhost$|::1$)/.test(options.smtp.host);
    this.transport = createTransport({
      host: options.smtp.host,
      port: options.smtp.port,
      secure: false,
      ignoreTLS: loopback,
      connectionTimeout: 5000,
      greetingTimeout: 5000,
    });
  }

  async send(to: string, subject: string, text: string): Promise<void> {
    try {
      await this.transport.sendMail({ from: this.options.smtp.from, to, subject, text });
    } catch (error) {
      // The message text holds the code: log only where it failed to go.
      this.logger.error(`auth/mail: failed to send "${subject}" to ${to}: ${(error as Error).message}`);
      throw new ServiceUnavailableError('The mail server is not reachable', { smtp: `${this.options.smtp.host}:${this.options.smtp.port}` });
    }
  }

  onApplicationShutdown(): void {
    this.transport.close();
  }
}
