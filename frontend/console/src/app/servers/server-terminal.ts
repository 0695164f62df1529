import { ChangeDetectionStrategy, Component, DestroyRef, ElementRef, afterNextRender, effect, inject, input, viewChild } from '@angular/core';
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import { Realtime } from '../core/realtime';

interface Scrollback {
  serverId: string;
  lines: string[];
}

interface ConsoleLine {
  serverId: string;
  line: string;
}

/**
 * The server's console as a real terminal: the scrollback arrives when the room is joined
 * (and again after a reconnect, so it replaces what is shown), then live lines follow.
 */
@Component({
  selector: 'adm-server-terminal',
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `<div #screen class="screen" data-testid="terminal"></div>`,
  styles: `
    :host { display: block; }
    .screen { height: 420px; padding: 8px; border-radius: 8px; background: #0f1115; overflow: hidden; }
  `,
})
export class ServerTerminal {
  private readonly realtime = inject(Realtime);
  private readonly screen = viewChild.required<ElementRef<HTMLDivElement>>('screen');
  readonly serverId = input.required<string>();
  private term: Terminal | null = null;
  private readonly fit = new FitAddon();
  private pending: string[] = [];
  private count = 0;
  private readonly resize = new ResizeObserver(() => this.refit());

  constructor() {
    afterNextRender(() => this.open());
    effect((onCleanup) => {
      const id = this.serverId();
      // replay: the server page may have joined the room already; the scrollback must come again for this terminal.
      const leave = this.realtime.join(`server:${id}`, { replay: true });
      const offScrollback = this.realtime.on<Scrollback>('console.scrollback', (m) => {
        if (m.serverId !== id) return;
        this.clear();
        this.write(m.lines ?? []);
      });
      const offLine = this.realtime.on<ConsoleLine>('console.line', (m) => {
        if (m.serverId === id) this.write([m.line]);
      });
      onCleanup(() => {
        leave();
        offScrollback();
        offLine();
      });
    });
    inject(DestroyRef).onDestroy(() => {
      this.resize.disconnect();
      this.term?.dispose();
    });
  }

  private open(): void {
    const term = new Terminal({
      convertEol: true,
      disableStdin: true,
      cursorBlink: false,
      scrollback: 5000,
      fontSize: 13,
      fontFamily: "ui-monospace, 'SFMono-Regular', 'JetBrains Mono', Menlo, Consolas, 'Liberation Mono', monospace",
      theme: { background: '#0f1115', foreground: '#d8dee9' },
    });
    term.loadAddon(this.fit);
    term.open(this.screen().nativeElement);
    this.term = term;
    this.refit();
    this.resize.observe(this.screen().nativeElement);
    if (this.pending.length) {
      term.write(this.pending.join(''));
      this.pending = [];
    }
  }

  private refit(): void {
    try {
      this.fit.fit();
    } catch {
      // Not laid out yet (hidden tab, zero size); the next resize fits it.
    }
  }

  private clear(): void {
    this.pending = [];
    this.count = 0;
    this.term?.reset();
  }

  private write(lines: string[]): void {
    if (!lines.length) return;
    this.count += lines.length;
    this.screen().nativeElement.dataset['lines'] = String(this.count);
    const text = lines.map((l) => `${l}\r\n`).join('');
    if (this.term) this.term.write(text);
    else this.pending.push(text);
  }
}
